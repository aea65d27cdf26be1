"""Every audit synthdata runs, by name.  Adding an audit is one module plus one line here."""

from __future__ import annotations

from evaluation.attacks.inference import InferenceAudit
from evaluation.attacks.linkability import LinkabilityAudit
from evaluation.attacks.membership import MembershipInferenceAudit
from evaluation.attacks.singling_out import SinglingOutAudit
from evaluation.base import Audit
from evaluation.canary_check import CanaryCheckAudit
from evaluation.fidelity.column_distance import ColumnDistanceAudit
from evaluation.fidelity.correlation import CorrelationAudit
from evaluation.fidelity.detection import DetectionAudit
from evaluation.fidelity.quality import QualityAudit
from evaluation.images.features_attack import FeatureMembershipAudit
from evaluation.images.frechet import FrechetAudit
from evaluation.images.intensity import IntensityHistogramAudit
from evaluation.images.prdc import PRDCAudit
from evaluation.images.ssim_copies import SSIMCopiesAudit
from evaluation.memorization.dcr import DCRShareAudit
from evaluation.memorization.exact_copies import ExactCopiesAudit
from evaluation.memorization.near_copies import NearCopiesAudit
from evaluation.signals.amplitude import AmplitudeAudit
from evaluation.signals.heart_rate import HeartRateAudit
from evaluation.signals.spectrum import SpectrumAudit
from evaluation.utility.subgroups import SubgroupUtilityAudit
from evaluation.utility.tstr import TSTRAudit

AUDITS: dict[str, type[Audit]] = {
    CanaryCheckAudit.name: CanaryCheckAudit,
    QualityAudit.name: QualityAudit,
    ColumnDistanceAudit.name: ColumnDistanceAudit,
    CorrelationAudit.name: CorrelationAudit,
    DetectionAudit.name: DetectionAudit,
    SpectrumAudit.name: SpectrumAudit,
    AmplitudeAudit.name: AmplitudeAudit,
    HeartRateAudit.name: HeartRateAudit,
    FrechetAudit.name: FrechetAudit,
    PRDCAudit.name: PRDCAudit,
    IntensityHistogramAudit.name: IntensityHistogramAudit,
    TSTRAudit.name: TSTRAudit,
    SubgroupUtilityAudit.name: SubgroupUtilityAudit,
    DCRShareAudit.name: DCRShareAudit,
    ExactCopiesAudit.name: ExactCopiesAudit,
    NearCopiesAudit.name: NearCopiesAudit,
    SSIMCopiesAudit.name: SSIMCopiesAudit,
    MembershipInferenceAudit.name: MembershipInferenceAudit,
    FeatureMembershipAudit.name: FeatureMembershipAudit,
    SinglingOutAudit.name: SinglingOutAudit,
    LinkabilityAudit.name: LinkabilityAudit,
    InferenceAudit.name: InferenceAudit,
}
