"""A database joined into one table per row of a chosen table, so the table audits can judge what only a
join shows (issue 17, item 4): pair trends across tables, a utility task that needs the join, memorization of
a patient's whole record.

``joined_frame(view, level=T)`` turns one side of a database release (``DatabaseAuditSet``: real training,
real holdout or synthetic) into one row per row of table ``T``:

- ``T``'s own modelled columns and those of every table on its parent chain (``ADMISSIONS.kind``,
  ``PATIENTS.age``: an admission with its patient's columns);
- for every table below ``T`` (whose parent chain passes through ``T``), aggregates of its rows under that row:
  ``DIAGNOSES: rows`` (how many), ``DIAGNOSES.code: most frequent`` (a categorical column's commonest
  category, ties to the first declared), ``LABEVENTS.valuenum: mean`` (a numeric column's mean).

Datetime columns are left out everywhere: extracts like MIMIC shift every patient's dates by their own offset,
so absolute dates pair with nothing; the relative times the schema derives (length of stay, age at admission,
days since admission) are numeric columns and are kept.

At ``level`` = the subject table each row is one patient's whole record (``PATIENTS: rows`` of nothing,
``ADMISSIONS: rows``, ``DIAGNOSES: rows`` ...).  ``joined_schema`` gives the public ``TableSchema`` of the
frame: copied domains for own and parent columns, the child column's domain for a mean or a commonest
category, and ``0 .. bound`` for a number of rows (the product of the declared ``max_rows_per_parent`` along
the chain, or the table's bound on rows per patient at the patient level): every domain public, from the
schema alone.  ``joined_context`` builds the table ``AuditContext`` of the three sides (the split's units are
the patients of the rows), which any table audit reads unchanged.

Rows of a child table that hang off no row of ``T`` (a lab event outside any admission) are not aggregated
at the admission level; they are at the patient level.

Privacy caveat: on the real sides the frames are PRIVATE (rows, links and patients); audits that read them
report aggregates only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from evaluation.base import AuditContext, split_groups
from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    TableSchema,
)
from synthdata.views.relational import DatabaseAuditSet

ROWS = ": rows"
MEAN = ": mean"
MOST_FREQUENT = ": most frequent"


def table_of(column: str) -> str:
    """The table a joined column comes from (``DIAGNOSES.code: most frequent`` -> ``DIAGNOSES``)."""
    return column.split(":")[0].split(".")[0]


def _chain(view: DatabaseAuditSet, table: str) -> list[str]:
    """``table`` and its parent tables up to the subject table (public: the schema)."""
    chain = [table]
    while (parent := view.relational.tables[chain[-1]].parent_table) is not None:
        chain.append(parent)
    return chain


def _rows_in(view: DatabaseAuditSet, table: str, level: str) -> np.ndarray:
    """Each row of ``table``'s row of ``level`` on its parent chain (-1 where the chain breaks); ``level`` must
    be on the chain."""
    if level == view.relational.subject:
        return np.asarray(view.owners[table], dtype=np.int64)
    rows = np.arange(len(view.tables[table]), dtype=np.int64)
    for current in _chain(view, table)[: _chain(view, table).index(level)]:
        parents = np.asarray(view.parents[current], dtype=np.int64)
        rows = np.where(rows >= 0, parents[np.clip(rows, 0, None)], -1) if parents.size else np.full(rows.shape, -1)
    return rows


def _below(view: DatabaseAuditSet, level: str) -> Iterator[str]:
    for name in view.tables:
        if name != level and (level == view.relational.subject or level in _chain(view, name)):
            yield name


def _bound(view: DatabaseAuditSet, table: str, level: str) -> int | None:
    """At most how many rows of ``table`` one row of ``level`` holds, from the declared caps (public)."""
    schema = view.relational
    if level == schema.subject:
        return schema.rows_per_subject_bound(table)
    caps = [schema.tables[name].max_rows_per_parent for name in _chain(view, table)[: _chain(view, table).index(level)]]
    return math.prod(caps) if all(c is not None for c in caps) else schema.rows_per_subject_bound(table)


def default_level(view: DatabaseAuditSet) -> str | None:
    """The table whose rows the audits across tables join at: the audit target's table when the schema names
    one, else the first child of the subject table that has children of its own, else its first child (None:
    one table, nothing to join)."""
    schema = view.relational
    if schema is None:
        return None
    if schema.audit_target:
        return schema.audit_target.split(".")[0]
    children = [name for name in view.tables if schema.tables[name].parent_table == schema.subject]
    grand = [name for name in children if any(schema.tables[t].parent_table == name for t in view.tables)]
    return (grand or children or [None])[0]


def joined_schema(view: DatabaseAuditSet, level: str) -> TableSchema:
    """The public schema of ``joined_frame(view, level)`` (see the module docstring)."""
    columns: dict = {}
    for table in _chain(view, level):
        for name, column in view.schemas[table].columns.items():
            if name in view.tables[table].columns and not isinstance(column, DatetimeColumn):
                columns[f"{table}.{name}"] = column.model_copy(update={"nullable": True})
    for table in _below(view, level):
        columns[f"{table}{ROWS}"] = NumericColumn(min=0, max=_bound(view, table, level), integer=True)
        for name, column in view.schemas[table].columns.items():
            if name not in view.tables[table].columns or isinstance(column, DatetimeColumn):
                continue
            if isinstance(column, NumericColumn):
                columns[f"{table}.{name}{MEAN}"] = NumericColumn(min=column.min, max=column.max, nullable=True)
            elif isinstance(column, CategoricalColumn):
                columns[f"{table}.{name}{MOST_FREQUENT}"] = CategoricalColumn(categories=list(column.categories),
                                                                              nullable=True)
    return TableSchema(columns=columns)


def _most_frequent(values: pd.Series, owner: np.ndarray, size: int, order: list[str]) -> pd.Series:
    """Per owner row, the commonest value of its rows (ties: the first in ``order``); None without rows."""
    frame = pd.DataFrame({"owner": owner, "value": values.to_numpy(dtype=object)})
    frame = frame[(frame["owner"] >= 0) & frame["value"].notna()]
    out = pd.Series([None] * size, dtype=object)
    if frame.empty:
        return out
    rank = {str(v): i for i, v in enumerate(order)}
    frame = frame.assign(value=frame["value"].astype(str))
    counts = frame.groupby(["owner", "value"]).size().reset_index(name="n")
    counts["rank"] = counts["value"].map(rank).fillna(len(rank))
    best = counts.sort_values(["owner", "n", "rank"], ascending=[True, False, True]).drop_duplicates("owner")
    out.iloc[best["owner"].to_numpy()] = best["value"].to_numpy()
    return out


def joined_frame(view: DatabaseAuditSet, level: str) -> pd.DataFrame:
    """One row per row of ``level``: its columns, its parent rows' columns and its child rows' aggregates
    (see the module docstring).  PRIVATE on a real side."""
    schema = joined_schema(view, level)
    size = len(view.tables[level])
    out: dict[str, object] = {}
    for table in _chain(view, level):
        at = _rows_in(view, level, table)
        frame = view.tables[table].reset_index(drop=True)
        for name in frame.columns:
            if f"{table}.{name}" in schema.columns:
                values = frame[name].to_numpy(dtype=object)
                out[f"{table}.{name}"] = np.where(at >= 0, values[np.clip(at, 0, None)] if len(values) else None, None)
    for table in _below(view, level):
        owner = _rows_in(view, table, level)
        out[f"{table}{ROWS}"] = np.bincount(owner[owner >= 0], minlength=size)[:size].astype(np.float64)
        frame = view.tables[table].reset_index(drop=True)
        for column, spec in schema.columns.items():
            if table_of(column) != table or column.endswith(ROWS):
                continue
            name = column[len(table) + 1:].rsplit(":", 1)[0]
            if column.endswith(MEAN):
                values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
                kept = (owner >= 0) & ~np.isnan(values)
                sums = np.bincount(owner[kept], weights=values[kept], minlength=size)[:size]
                counts = np.bincount(owner[kept], minlength=size)[:size]
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[column] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            else:
                out[column] = _most_frequent(frame[name], owner, size, list(spec.categories)).to_numpy(dtype=object)
    return pd.DataFrame(out, index=range(size))


def joined_context(context: AuditContext, *, level: str, target: str | None = None) -> AuditContext:
    """The table ``AuditContext`` of the three sides joined at ``level`` (units: the patients of the rows;
    ``target``: a joined column name, for the utility audits)."""
    views = {side: getattr(context, side) for side in ("train", "holdout", "synthetic")}
    frames = {side: joined_frame(view, level) for side, view in views.items()}

    def patients(side: str) -> np.ndarray | None:
        ids = views[side].subjects.get(level)
        return None if ids is None else np.asarray(ids)

    return AuditContext(modality=context.modality, train=frames["train"], holdout=frames["holdout"],
                        synthetic=frames["synthetic"], schema=joined_schema(views["synthetic"], level),
                        target=target, settings=context.settings,
                        groups=split_groups(train=patients("train"), holdout=patients("holdout")))


def joins(context: AuditContext, level: str | None) -> bool:
    """Whether the three sides of ``context`` can be joined at ``level`` (a database with its links)."""
    if level is None:
        return False
    for side in (context.train, context.holdout, context.synthetic):
        if not isinstance(side, DatabaseAuditSet) or side.relational is None or level not in side.tables:
            return False
        if any(name not in side.owners for name in side.tables):
            return False
    return True
