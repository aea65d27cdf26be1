"""Memorization and membership of a patient's WHOLE record across tables (issue 17, item 4): the table
memorization and membership audits with one row per patient.

Each side of a database release is joined at the subject table (``evaluation.joined``): one row per patient,
their own columns with their rows per table and those rows' aggregates (admissions, the commonest diagnosis,
mean length of stay, ...).  Four table audits then run on those rows, their measurement unchanged:

- ``memorization.patient_near_copies`` (``memorization.near_copies``): the excess share of synthetic patients
  sitting on a training patient beyond chance (exchangeability null, whole patients moved); it catches copied
  or lightly perturbed whole records;
- ``memorization.patient_exact_copies`` (``memorization.exact_copies``): synthetic patients equal to a training
  patient on every joined column (and to no held-out one), beyond the rate at which real patients match one
  (a one-sided Fisher test); it catches whole records copied as they are;
- ``memorization.patient_dcr_share`` (``memorization.dcr_share``): whether synthetic patients sit nearer to
  training patients than to held-out ones (0.5: no);
- ``attack.patient_membership_inference`` (``attack.membership_inference``): the attacks' best ROC AUC at
  telling training patients from held-out ones with the synthetic database (0.5: nothing learned).

The per-table audits compare single rows (one admission); a generator that reproduced a patient's
combination of rows across tables, each row ordinary on its own, shows here only.  All four are gated as their
table audits are (leak tests: evidence beyond chance blocks, too few patients is not judged); their error
rates at the shipped example's size are measured with ``evaluation.benchmarks.relational_gates`` and stored
as the ``relational`` entry of ``evaluation/gate_rates.json``, which a database release's report quotes.

Measured (``python -m evaluation.benchmarks.relational_gates --patients 1000 --draws 60 --trained-draws 8
--copier-draws 20``, and ``--patients 200 --trained-draws 20``; the invented hospital at the shipped size: 802
training, 198 holdout and 802 synthetic patients), draws blocked among fresh hospitals (leak nothing: 60) / 5% of
the patients replaced by whole training patients (20) / 20% (20): exact copies 0 / 20 / 20; near copies 0 / 6 /
20 (not judged in the 60 fresh draws: there it could only catch a share above about 0.05); DCR share 0 / 0 / 0;
membership 0 / 0 / 1. At 200 patients (159 / 40): exact copies 0 / 20 / 20, near copies 0 / 0 / 18, DCR share 0 /
0 / 0, membership 1 / 0 / 1 (the fresh block: the density-ratio attack's AUC 0.80 on 18 members and 18
non-members, about 3 sd). Fresh hospitals blocked: at most 4.9% (1,000) and 7.7% (200) of such releases,
one-sided 95%. The DP generator fitted on another hospital (it never saw the training patients; epsilon 3): at
1,000 none of the four blocked in 3 draws (nor near copies, DCR share and membership in 6 earlier ones); at 200
(40 draws, with the per-patient cardinality weighting) exact copies 0, near copies 0, DCR share 3 and membership
1 with the DCR share's earlier interval (its spread across draws was 1.5 times what that interval assumed);
with the relabelling interval the DCR share blocked 1 of 80 new draws (docs/benchmarks.md).  Membership
still blocks now and then at 200 patients: the best attack's AUC centred at 0.549 over 42 members and 42
non-members. The exact-copies gate was added after the other three caught only 6 of
20 draws with 5% whole-patient copies at 1,000 (0 of 20 at 200).

Why the DCR share and the membership attack miss even a 20% copier (what they measure, not a bug): the DCR
share looks for each synthetic patient's nearest training patient in a holdout-sized subsample of training
(198 of 802), so a copy shows only when its source was drawn: 20% copies move the share by about
0.2 x 198 / 802 / 2 = 0.025 (measured median 0.533 against 0.501 fresh), while the gate needs the lower end
of its interval above 0.55; since the interval carries the reference sets' part by relabelling
(``memorization.dcr``), it is about +-0.057 on fresh hospitals of 1,000 patients and wider (+-0.12 in a CLI
release of the example) on DP output, so at this size the share is reported and not judged.  The attack's ROC AUC over about 100
members and 100 non-members: a copied share c of the training patients gives the distance attack an AUC of
about 0.5 + c / 2, 0.6 at 20% (measured median 0.590), the gate itself, and the leak test needs the lower end
of a +-0.07 interval above it, about 35% copied.  The copier shows at a low false-positive rate (TPR 0.27
at 1% FPR in one 20% draw at 1,000) but the AUC averages it away.  Whole-record copies are the exact- and
near-copies gates' to catch: the near-copies value is about the copied share (median 0.201 at 20%, 0.054 at
5%).

Privacy caveat: distances are computed from private records outside the DP guarantee; only their aggregates
are reported.
"""

from __future__ import annotations

from typing import ClassVar

from evaluation.attack.membership import MembershipInferenceAudit
from evaluation.base import Audit, AuditContext, Measurement
from evaluation.joined import joined_context, joins
from evaluation.memorization.dcr import DCRShareAudit
from evaluation.memorization.exact_copies import ExactCopiesAudit
from evaluation.memorization.near_copies import NearCopiesAudit
from synthdata.views.relational import DatabaseAuditSet


class _PerPatient(Audit):
    """A table audit (``table_audit``, the next class in the MRO) run on one row per patient (the subject
    table joined with every table below it)."""

    views = (DatabaseAuditSet,)
    table_audit: ClassVar[type[Audit]]

    def applies_to(self, context: AuditContext) -> bool:
        if not self.reads(type(context.synthetic)) or context.synthetic.relational is None:
            return False
        return (joins(context, context.synthetic.relational.subject)
                and self.table_audit().applies_to(self._joined(context)))

    def _joined(self, context: AuditContext) -> AuditContext:
        key = "memorization.patients.context"
        if key not in context.cache:
            context.cache[key] = joined_context(context, level=context.synthetic.relational.subject)
        return context.cache[key]

    def measure(self, context: AuditContext) -> Measurement:
        joined = self._joined(context)
        found = super().measure(joined)
        details = {**found.details, "rows": "one per patient", "joined_columns": list(joined.schema.columns)}
        return Measurement(value=found.value, interval=found.interval, details=details, figures=found.figures,
                           not_informative=found.not_informative)


class PatientNearCopiesAudit(_PerPatient, NearCopiesAudit):
    """``memorization.near_copies`` on one row per patient: their record across every table."""

    name = "memorization.patient_near_copies"
    title = "Near copies of whole patients (across tables)"
    explanation = ("Summarises each patient's whole record across the tables in one row, then counts synthetic "
                   "patients that sit on a real training patient more often than chance puts them there. 0 is "
                   "ideal; a share above the threshold means whole records were copied.")
    views = (DatabaseAuditSet,)
    table_audit = NearCopiesAudit


class PatientExactCopiesAudit(_PerPatient, ExactCopiesAudit):
    """``memorization.exact_copies`` on one row per patient: their record across every table."""

    name = "memorization.patient_exact_copies"
    title = "Exact copies of whole patients (across tables)"
    explanation = ("Summarises each patient's whole record across the tables in one row, then counts synthetic "
                   "patients identical to a real training patient (and to no patient the model never saw), beyond "
                   "the rate at which real patients match one by chance. Copies beyond chance are a privacy failure.")
    views = (DatabaseAuditSet,)
    table_audit = ExactCopiesAudit


class PatientDCRAudit(_PerPatient, DCRShareAudit):
    """``memorization.dcr_share`` on one row per patient: their record across every table."""

    name = "memorization.patient_dcr_share"
    title = "Whole patients closer to training than to holdout (DCR across tables)"
    explanation = ("Summarises each patient's whole record across the tables in one row, then checks whether "
                   "synthetic patients sit closer to the real patients the model trained on than to real "
                   "patients it never saw. 0.5 is ideal; higher means whole records were memorised.")
    views = (DatabaseAuditSet,)
    table_audit = DCRShareAudit


class PatientMembershipAudit(_PerPatient, MembershipInferenceAudit):
    """``attack.membership_inference`` on one row per patient: is a whole record's presence in training visible?"""

    name = "attack.patient_membership_inference"
    title = "Membership inference on whole patients (across tables)"
    explanation = ("Summarises each patient's whole record across the tables in one row, then attacks: can someone "
                   "holding the synthetic database tell the patients it was trained on from patients it never saw "
                   "(the best ROC AUC of several attacks)? 0.5 means the attacker learns nothing.")
    views = (DatabaseAuditSet,)
    table_audit = MembershipInferenceAudit
