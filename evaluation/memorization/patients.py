"""Memorization and membership of a patient's WHOLE record across tables (issue 17, item 4): the table
memorization and membership audits with one row per patient.

Each side of a database release is joined at the subject table (``evaluation.joined``): one row per patient,
their own columns with their rows per table and those rows' aggregates (admissions, the commonest diagnosis,
mean length of stay, ...).  Three table audits then run on those rows, their measurement unchanged:

- ``memorization.patient_near_copies`` (``memorization.near_copies``): the excess share of synthetic patients
  sitting on a training patient beyond chance (exchangeability null, whole patients moved); it catches copied
  or lightly perturbed whole records;
- ``memorization.patient_dcr_share`` (``memorization.dcr_share``): whether synthetic patients sit nearer to
  training patients than to held-out ones (0.5: no);
- ``attack.patient_membership_inference`` (``attack.membership_inference``): the attacks' best ROC AUC at
  telling training patients from held-out ones with the synthetic database (0.5: nothing learned).

The per-table audits compare single rows (one admission); a generator that reproduced a patient's
combination of rows across tables, each row ordinary on its own, shows here only.  All three are gated as their
table audits are (leak tests: evidence beyond chance blocks, too few patients is not judged); their error
rates on the shipped example's size were measured with ``evaluation.benchmarks.relational_gates``
(docs/benchmarks.md).

Privacy caveat: distances are computed from private records outside the DP guarantee; only their aggregates
are reported.
"""

from __future__ import annotations

from typing import ClassVar

from evaluation.attack.membership import MembershipInferenceAudit
from evaluation.base import Audit, AuditContext, Measurement
from evaluation.joined import joined_context, joins
from evaluation.memorization.dcr import DCRShareAudit
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
