"""The structure of a database given as frames (a synthetic one, as released): do its keys hold, does every
foreign key join, and how many children does each parent row have.

``check_structure`` reads the frames by the schema's keys only (never the row positions a generator kept), so
it checks what a user of the released files would find:

- every key column present and filled, every key (one column or several) unique;
- every filled foreign key found among the referenced table's keys (a dangling one is an orphan);
- every row tied to a patient: its parent key filled unless the schema lets that row hang off its patient
  directly (a nullable parent column and another reference), and its links agreeing on the patient;
- per relationship (``cardinality.relationships``), the number of children of every parent row.

Privacy: on a synthetic database everything here is post-processing of DP output.  On a real one the counts
are private (the structure audit runs it on the synthetic side only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synthdata.modalities.relational.cardinality import count_children, relationships, table_order
from synthdata.modalities.relational.schema import RelationalSchema


@dataclass(frozen=True)
class Structure:
    """What ``check_structure`` found: ``problems`` (a sentence naming table and column -> the number of rows
    or keys concerned; empty when every key holds and joins) and ``children`` (relationship name -> the number
    of children of each parent row); ``parent_rows`` (table -> each row's parent row, -1 where none) and
    ``owners`` (table -> each row's patient, a row of the subject table, -1 where none), as the keys join."""

    problems: Mapping[str, int] = field(default_factory=dict)
    children: Mapping[str, np.ndarray] = field(default_factory=dict)
    parent_rows: Mapping[str, np.ndarray] = field(default_factory=dict)
    owners: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(sum(self.problems.values()))


def check_structure(*, schema: RelationalSchema, frames: Mapping[str, pl.DataFrame]) -> Structure:
    """The keys, links and cardinalities of ``frames`` (table name -> frame) under ``schema``."""
    problems: dict[str, int] = {}
    missing = [name for name in schema.tables if name not in frames]
    for name in missing:
        problems[f"table {name} is missing"] = 1
    order = [name for name in table_order(schema) if name not in missing]
    for name in order:
        _check_keys(name, schema, frames[name], problems)
    parent_row: dict[str, np.ndarray] = {}
    subject: dict[str, np.ndarray] = {}
    for name in order:
        frame, spec = frames[name], schema.tables[name]
        if name == schema.subject:
            subject[name] = np.arange(frame.height)
            continue
        owner = np.full(frame.height, -1, dtype=np.int64)
        disagree = np.zeros(frame.height, dtype=bool)
        for column, reference in spec.references.items():
            target = reference.table
            if column not in frame.columns or target not in subject or reference.column not in frames[target].columns:
                problems[f"table {name}: foreign key column '{column}' cannot be joined"] = frame.height
                continue
            keys = frames[target][reference.column].cast(pl.String)
            values = frame[column].cast(pl.String)
            found = values.replace_strict(keys, np.arange(keys.len()), default=None, return_dtype=pl.Int64)
            dangling = (values.is_not_null() & found.is_null()).to_numpy()
            if dangling.any():
                problems[f"table {name}: '{column}' matches no {reference.to} (orphans)"] = int(dangling.sum())
            positions = found.fill_null(-1).to_numpy().astype(np.int64)
            theirs = np.full(positions.size, -1, dtype=np.int64)  # -1: no row found (an empty target too)
            theirs[positions >= 0] = subject[target][positions[positions >= 0]]
            disagree |= (owner >= 0) & (theirs >= 0) & (owner != theirs)
            owner = np.where(owner < 0, theirs, owner)
            if column == spec.parent_column:
                parent_row[name] = positions
        if disagree.any():
            problems[f"table {name}: foreign keys that lead to different patients"] = int(disagree.sum())
        if (owner < 0).any():
            problems[f"table {name}: rows tied to no patient"] = int((owner < 0).sum())
        column = spec.parent_column
        if name in parent_row and column is not None and not spec.columns[column].nullable:
            empty = frame[column].is_null().to_numpy()
            if empty.any():
                problems[f"table {name}: parent key '{column}' empty"] = int(empty.sum())
        subject[name] = owner
    children = {}
    for relationship in relationships(schema):
        if relationship.child in parent_row and relationship.parent in frames:
            children[relationship.name] = count_children(
                relationship=relationship, parent_row=parent_row[relationship.child],
                subject=subject[relationship.child], n_parents=frames[relationship.parent].height)
    return Structure(problems=problems, children=children, parent_rows=parent_row, owners=subject)


def _check_keys(name: str, schema: RelationalSchema, frame: pl.DataFrame, problems: dict[str, int]) -> None:
    keys = schema.tables[name].keys
    absent = [key for key in keys if key not in frame.columns]
    for key in absent:
        problems[f"table {name}: key column '{key}' is missing"] = frame.height or 1
    if absent or not keys:
        return
    for key in keys:
        if frame[key].null_count():
            problems[f"table {name}: key column '{key}' empty"] = int(frame[key].null_count())
    repeated = int(frame.select(keys).is_duplicated().sum())
    if repeated:
        problems[f"table {name}: key ({', '.join(keys)}) not unique"] = repeated
