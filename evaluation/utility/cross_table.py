"""Utility on a task that needs the join (issue 17, item 4): train on synthetic, test on real, with the
target the relational schema names (``audit_target: TABLE.column``, e.g. ``ADMISSIONS.hospital_expire_flag``,
in-hospital death) predicted from its row, its parent rows' columns and its child rows' aggregates
(``evaluation.joined`` at the target's table: an admission with its patient's age and its diagnoses' and
prescriptions' summaries).

The measurement is ``utility.tstr``'s, unchanged (two model families, the lift above chance the synthetic-data
model keeps of the real-data model's, on the real holdout, paired bootstrap interval); only the rows differ.
Without ``audit_target`` it does not run.

Gated as ``utility.tstr`` (0.50, the lower end of the interval).  Measured with
``evaluation.benchmarks.relational_gates`` at the shipped example's size (1,000 patients, target
``ADMISSIONS.kind``; docs/benchmarks.md): another hospital of the same population as the "synthetic" side kept
0.998 [0.987, 1.011] of the lift (60 draws, lower ends from 0.962): none blocked (95% bound on the
false-block rate: 5%); the DP generator at epsilon 3 fitted on another hospital kept 0.91-0.97 (6 draws).

Privacy caveat: the models and scores are computed from private records outside the DP guarantee; only
scores are reported, and the models are discarded.
"""

from __future__ import annotations

from evaluation.base import AuditContext, Measurement
from evaluation.joined import joined_context, joins
from evaluation.utility.tstr import TSTRAudit, applies
from synthdata.views.relational import DatabaseAuditSet


def _target(context: AuditContext) -> str | None:
    return getattr(getattr(context.synthetic, "relational", None), "audit_target", None)


class CrossTableTSTRAudit(TSTRAudit):
    """``utility.tstr`` on rows joined at the schema's ``audit_target`` table."""

    name = "utility.cross_table_tstr"
    title = "Machine-learning utility across tables (train on synthetic, test on real, joined rows)"
    explanation = (
        "Predicts the target the schema names (for example in-hospital death of an admission) from its row, its "
        "parent rows and a summary of its child rows in other tables, once with a model trained on synthetic data "
        "and once on the same number of real rows, both tested on real rows neither saw. 1 means the synthetic "
        "database is as useful as the real one for this task, 0 no better than guessing.")
    requires_target = False  # the target comes from the relational schema, not the release's dataset.target
    views = (DatabaseAuditSet,)

    def applies_to(self, context: AuditContext) -> bool:
        target = _target(context)
        if not isinstance(context.synthetic, DatabaseAuditSet) or target is None:
            return False
        return joins(context, target.split(".")[0]) and applies(self._joined(context))

    def _joined(self, context: AuditContext) -> AuditContext:
        key = "utility.cross_table_tstr.context"
        if key not in context.cache:
            target = _target(context)
            assert target is not None
            context.cache[key] = joined_context(context, level=target.split(".")[0], target=target)
        return context.cache[key]

    def measure(self, context: AuditContext) -> Measurement:
        found = super().measure(self._joined(context))
        return Measurement(value=found.value, interval=found.interval, figures=found.figures,
                           not_informative=found.not_informative, details=found.details)
