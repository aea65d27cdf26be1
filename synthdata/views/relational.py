"""The audit view of a database: several tables released together.

A ``DatabaseAuditSet`` is one side (real training, real holdout, synthetic) of a relational release.  Its
tables are parts: each is a pandas frame of its modelled columns, the table view (``part_view``), so every audit
written for tables runs on every table of a database without a line of its own (``AuditContext.parts``).  The
set itself is read by the audits across tables: the number of children of every parent row per relationship
(cardinality fidelity) and, on the synthetic side, the structural problems of its keys (every key joins).

Privacy caveat: on the real sides ``subjects`` are PRIVATE patient ids (for audits whose null moves whole
patients; never reported), ``children`` exact private counts and ``parents`` / ``owners`` private links;
audits report aggregates only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DatabaseAuditSet:
    """One side of a database audit (see the module docstring).

    ``tables``: table name -> its modelled columns (parents first); ``schemas``: table name -> the public table
    schema the audits read them with; ``subjects``: table name -> each row's patient id (real sides only);
    ``children``: relationship name -> children of each parent row; ``problems``: structural problems found in
    the keys (a sentence naming table and column -> rows concerned; the synthetic side); ``parents``: table ->
    each row's parent row (a position in the parent table's frame, -1 where none); ``owners``: table -> each
    row's patient (a position in the subject table's frame, -1 where none); ``relational``: the relational
    schema (public), for the audits across tables (``evaluation.joined``)."""

    tables: Mapping[str, pd.DataFrame]
    schemas: Mapping[str, Any]
    children: Mapping[str, np.ndarray] = field(default_factory=dict)
    subjects: Mapping[str, np.ndarray] = field(default_factory=dict)
    problems: Mapping[str, int] = field(default_factory=dict)
    parents: Mapping[str, np.ndarray] = field(default_factory=dict)
    owners: Mapping[str, np.ndarray] = field(default_factory=dict)
    relational: Any = None

    #: The view of each part: a table's audits read its frame.
    part_view: ClassVar[type] = pd.DataFrame

    def __len__(self) -> int:
        """The number of patients (the rows of the first table, the subject table)."""
        return len(next(iter(self.tables.values()))) if self.tables else 0
