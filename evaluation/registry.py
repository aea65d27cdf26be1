"""Every audit synthdata runs, by name.  Adding an audit is one module (in the folder of its name's prefix)
plus one line here; an audit declares the data views it reads (``Audit.views``), never modality names."""

from __future__ import annotations

from evaluation.attack.inference import InferenceAudit
from evaluation.attack.linkability import LinkabilityAudit
from evaluation.attack.membership import MembershipInferenceAudit
from evaluation.attack.singling_out import SinglingOutAudit
from evaluation.base import Audit
from evaluation.privacy.canary_audit import CanaryAudit
from evaluation.fidelity.cardinality import CardinalityAudit
from evaluation.fidelity.column_distance import ColumnDistanceAudit
from evaluation.fidelity.correlation import CorrelationAudit
from evaluation.fidelity.cross_table import CrossTableTrendsAudit
from evaluation.fidelity.detection import DetectionAudit
from evaluation.fidelity.quality import QualityAudit
from evaluation.fidelity.representation import RepresentationAudit
from evaluation.fidelity.structure import StructureAudit
from evaluation.attack.membership_features import FeatureMembershipAudit
from evaluation.fidelity.frechet import FrechetAudit
from evaluation.fidelity.intensity import IntensityHistogramAudit
from evaluation.fidelity.prdc import PRDCAudit
from evaluation.memorization.image_ssim import SSIMCopiesAudit
from evaluation.memorization.dcr import DCRShareAudit
from evaluation.memorization.exact_copies import ExactCopiesAudit
from evaluation.memorization.near_copies import NearCopiesAudit
from evaluation.memorization.patients import (
    PatientDCRAudit,
    PatientExactCopiesAudit,
    PatientMembershipAudit,
    PatientNearCopiesAudit,
)
from evaluation.fidelity.amplitude import AmplitudeAudit
from evaluation.fidelity.heart_rate import HeartRateAudit
from evaluation.fidelity.spectrum import SpectrumAudit
from evaluation.utility.subgroups import SubgroupUtilityAudit
from evaluation.utility.cross_table import CrossTableTSTRAudit
from evaluation.utility.tstr import TSTRAudit

AUDITS: dict[str, type[Audit]] = {
    CanaryAudit.name: CanaryAudit,
    QualityAudit.name: QualityAudit,
    RepresentationAudit.name: RepresentationAudit,
    ColumnDistanceAudit.name: ColumnDistanceAudit,
    CorrelationAudit.name: CorrelationAudit,
    DetectionAudit.name: DetectionAudit,
    StructureAudit.name: StructureAudit,
    CardinalityAudit.name: CardinalityAudit,
    CrossTableTrendsAudit.name: CrossTableTrendsAudit,
    SpectrumAudit.name: SpectrumAudit,
    AmplitudeAudit.name: AmplitudeAudit,
    HeartRateAudit.name: HeartRateAudit,
    FrechetAudit.name: FrechetAudit,
    PRDCAudit.name: PRDCAudit,
    IntensityHistogramAudit.name: IntensityHistogramAudit,
    TSTRAudit.name: TSTRAudit,
    SubgroupUtilityAudit.name: SubgroupUtilityAudit,
    CrossTableTSTRAudit.name: CrossTableTSTRAudit,
    DCRShareAudit.name: DCRShareAudit,
    PatientDCRAudit.name: PatientDCRAudit,
    PatientNearCopiesAudit.name: PatientNearCopiesAudit,
    ExactCopiesAudit.name: ExactCopiesAudit,
    PatientExactCopiesAudit.name: PatientExactCopiesAudit,
    NearCopiesAudit.name: NearCopiesAudit,
    SSIMCopiesAudit.name: SSIMCopiesAudit,
    MembershipInferenceAudit.name: MembershipInferenceAudit,
    PatientMembershipAudit.name: PatientMembershipAudit,
    FeatureMembershipAudit.name: FeatureMembershipAudit,
    SinglingOutAudit.name: SinglingOutAudit,
    LinkabilityAudit.name: LinkabilityAudit,
    InferenceAudit.name: InferenceAudit,
}


def register(audit: type[Audit]) -> None:
    """Add (or replace) an audit under its name; it runs on every release whose data view it reads."""
    AUDITS[audit.name] = audit
