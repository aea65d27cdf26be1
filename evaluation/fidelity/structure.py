"""Structure: do the synthetic tables join as a database should?

Reads the synthetic side only (``synthdata.views.relational.DatabaseAuditSet.problems``, found by
``synthdata.modalities.relational.structure.check_structure`` on the frames as they are released): every
key filled and unique, every foreign key found among the referenced table's keys (no orphan generated),
every row tied to one patient.  The value is the number of rows or keys with a problem; gated at 0, so a
single key that does not join blocks the release.  The details name each problem by table and column.

Privacy: computed from the synthetic data alone (post-processing of DP output).
"""

from __future__ import annotations

from evaluation.base import Audit, AuditContext, Measurement
from synthdata.views.relational import DatabaseAuditSet


class StructureAudit(Audit):
    """Rows and keys of the synthetic database whose keys do not hold or join."""

    name = "fidelity.structure"
    category = "fidelity"
    title = "Structure (every key joins, no orphan)"
    explanation = (
        "Checks the synthetic tables as a database: every key is filled and unique, every foreign key points at a "
        "row that exists (no orphan), and every row belongs to one patient. The figure is the number of rows or "
        "keys with a problem; any problem blocks the release.")
    direction = "at_most"
    default_threshold = 0.0
    views = (DatabaseAuditSet,)

    def measure(self, context: AuditContext) -> Measurement:
        problems = dict(context.synthetic.problems)
        return Measurement(value=float(sum(problems.values())), details=problems or {"problems": "none"})
