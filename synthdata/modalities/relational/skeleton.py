"""The structure of a synthetic database: how many rows each table has, which parent row each row hangs off,
and fresh keys that join (issue 17, item 3).

``sample_skeleton`` takes a number of synthetic patients and a ``CardinalityModel`` (DP, ``cardinality.py``)
and goes through the tables parents first: every parent row draws its number of children from its
relationship's distribution (each in ``0 .. cap``), every patient its number of loose rows (rows with an
empty parent key, where the schema allows them); a child table with ``max_rows_per_subject`` then keeps at
most that many of each patient's rows (chosen at random), so the skeleton keeps every declared cap (where
that cap binds, the drawn counts sit a little below the model's, which was measured after the same cap).
Rows come in the order of their parent rows (loose rows last).

**Keys are fresh**: every key column gets new identifiers, never a real one and nothing derived from one.
``key_style="uuid"`` (the default): random version-4 UUIDs drawn from the sampling ``rng`` (distinct from any
real key with overwhelming probability, whatever the real keys look like); ``"sequential"``: whole numbers
1, 2, ... per table (readable, but a number may coincide with a real key by accident; no real key is read to
make it).  Every foreign key is then filled from the structure: the parent reference with the parent row's
key, a reference to the subject table with the row's patient's key, a reference to another table on the
parent chain with that ancestor's key (empty for a loose row, which has no parent row).  A reference to a
table off the parent chain (a prescription's ICU stay) is left EMPTY: which row it should point at is for the
conditional generator to decide.  So every non-empty foreign key joins and no orphan is generated.

Privacy: the skeleton reads only the DP ``CardinalityModel``, the public schema and the public number of
patients: it is post-processing and costs no epsilon.  ``rng`` is the release's public sampling randomness.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from synthdata.modalities.relational.cardinality import (
    CardinalityModel,
    count_children,
    relationships,
    table_order,
)
from synthdata.modalities.relational.graph import parent_chain
from synthdata.modalities.relational.schema import RelationalSchema

KeyStyle = Literal["uuid", "sequential"]


@dataclass(frozen=True)
class SkeletonTable:
    """One synthetic table's structure: ``height`` rows; ``parent_row`` (position in the parent table, -1 for
    a loose row; None for the subject table); ``subject`` (each row's patient, a position in the subject
    table); ``keys`` (key column -> fresh identifiers); ``references`` (foreign key column -> the referenced
    row's key, None where empty) and ``links`` (the same as positions, -1 where empty)."""

    name: str
    height: int
    parent: str | None
    parent_column: str | None
    parent_row: np.ndarray | None
    subject: np.ndarray
    keys: Mapping[str, np.ndarray]
    references: Mapping[str, np.ndarray]
    links: Mapping[str, np.ndarray]

    def frame(self) -> pl.DataFrame:
        """The key and foreign key columns as a frame (identifiers as strings, empty as null; a table with
        neither, which the schema checks exclude, would give an empty frame)."""
        columns = {**self.keys, **self.references}
        return pl.DataFrame([pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
                             for name, values in columns.items()])


@dataclass(frozen=True)
class Skeleton:
    """Every synthetic table's structure, parents first."""

    schema: RelationalSchema
    tables: Mapping[str, SkeletonTable]

    @property
    def n_subjects(self) -> int:
        return self.tables[self.schema.subject].height

    def children_per_parent(self) -> dict[str, np.ndarray]:
        """Per relationship, the number of children of every parent row (what the cardinality audit compares
        with the real database's ``cardinality.children_per_parent``)."""
        counts = {}
        for relationship in relationships(self.schema):
            child = self.tables[relationship.child]
            assert child.parent_row is not None
            counts[relationship.name] = count_children(relationship=relationship, parent_row=child.parent_row,
                                                       subject=child.subject,
                                                       n_parents=self.tables[relationship.parent].height)
        return counts


def fresh_keys(*, size: int, style: KeyStyle, rng: np.random.Generator) -> np.ndarray:
    """``size`` distinct new identifiers (strings): random UUIDs, or "1", "2", ... (see the module docstring)."""
    if style == "sequential":
        return np.array([str(i) for i in range(1, size + 1)], dtype=object)
    if style != "uuid":
        raise ValueError(f"unknown key style {style!r}: uuid or sequential")
    raw = rng.bytes(16 * size)
    keys = np.array([str(uuid.UUID(bytes=raw[16 * i:16 * (i + 1)], version=4)) for i in range(size)], dtype=object)
    if len(set(keys)) != size:  # 2^-122 per pair: never in practice, but a key must be unique
        return fresh_keys(size=size, style=style, rng=rng)
    return keys


def _at_most_per_subject(subject: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """A mask keeping at most ``cap`` rows of each patient, chosen at random."""
    order = rng.permutation(len(subject))
    ranked = np.empty(len(subject), dtype=np.int64)
    shuffled = subject[order]
    by_subject = np.argsort(shuffled, kind="stable")
    sorted_subjects = shuffled[by_subject]
    starts = np.searchsorted(sorted_subjects, sorted_subjects, side="left")
    ranked[order[by_subject]] = np.arange(len(subject)) - starts
    return ranked < cap


def sample_skeleton(*, schema: RelationalSchema, model: CardinalityModel, n_subjects: int,
                    rng: np.random.Generator, key_style: KeyStyle = "uuid") -> Skeleton:
    """A synthetic database's structure for ``n_subjects`` patients (see the module docstring).

    ``model`` must be measured for this schema (the same relationships).  ``rng`` is public sampling
    randomness.  Raises ValueError on a model that does not match the schema or a negative ``n_subjects``."""
    if n_subjects < 0:
        raise ValueError("n_subjects must be >= 0")
    expected = [r.name for r in relationships(schema)]
    if model.names() != expected:
        raise ValueError(f"the cardinality model measures {model.names()}, the schema needs {expected}")
    parent_rows: dict[str, np.ndarray | None] = {schema.subject: None}
    subjects: dict[str, np.ndarray] = {schema.subject: np.arange(n_subjects, dtype=np.int64)}
    loose_of = {r.child: model[r.name] for r in model.relationships if r.loose}
    attached_of = {r.child: model[r.name] for r in model.relationships if not r.loose}
    order = table_order(schema)
    for table in order:
        if table == schema.subject:
            continue
        attached = attached_of[table]
        n_parents = len(subjects[attached.parent])
        counts = attached.sample(size=n_parents, rng=rng)
        parent_row = np.repeat(np.arange(n_parents, dtype=np.int64), counts)
        subject = subjects[attached.parent][parent_row]
        if table in loose_of:
            loose = loose_of[table].sample(size=n_subjects, rng=rng)
            parent_row = np.concatenate([parent_row, np.full(int(loose.sum()), -1, dtype=np.int64)])
            subject = np.concatenate([subject, np.repeat(np.arange(n_subjects, dtype=np.int64), loose)])
        cap = schema.tables[table].max_rows_per_subject
        if cap is not None and len(subject):
            keep = _at_most_per_subject(subject, cap, rng)
            parent_row, subject = parent_row[keep], subject[keep]
        parent_rows[table], subjects[table] = parent_row, subject
    keys = {table: {column: fresh_keys(size=len(subjects[table]), style=key_style, rng=rng)
                    for column in schema.tables[table].keys} for table in order}
    tables = {}
    parents = {name: spec.parent_table for name, spec in schema.tables.items()}
    for table in order:
        spec = schema.tables[table]
        links: dict[str, np.ndarray] = {}
        references: dict[str, np.ndarray] = {}
        for column, reference in spec.references.items():
            positions = _ancestor_rows(table, reference.table, schema=schema, parents=parents,
                                       parent_rows=parent_rows, subjects=subjects)
            target = keys[reference.table][reference.column]
            links[column] = positions
            references[column] = np.array([target[p] if p >= 0 else None for p in positions], dtype=object)
        tables[table] = SkeletonTable(
            name=table, height=len(subjects[table]), parent=spec.parent_table, parent_column=spec.parent_column,
            parent_row=parent_rows[table], subject=subjects[table], keys=keys[table], references=references,
            links=links)
    return Skeleton(schema=schema, tables=tables)


def _ancestor_rows(table: str, target: str, *, schema: RelationalSchema, parents: Mapping[str, str | None],
                   parent_rows: Mapping[str, np.ndarray | None], subjects: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each row's row in ``target`` when ``target`` is the subject table or on ``table``'s parent chain (-1
    where the chain is broken by an empty parent key), else -1 everywhere (left for the generator)."""
    n = len(subjects[table])
    if target == schema.subject:
        return subjects[table].copy()
    if target not in parent_chain(parents, table):
        return np.full(n, -1, dtype=np.int64)
    rows = np.arange(n, dtype=np.int64)
    current = table
    while current != target:
        step = parent_rows[current]
        assert step is not None
        rows = np.where(rows >= 0, _gather(step, rows), -1)
        current = str(parents[current])
    return rows


def _gather(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``values[positions]`` where a position is >= 0, -1 elsewhere (also when ``values`` is empty)."""
    out = np.full(positions.shape, -1, dtype=np.int64)
    present = positions >= 0
    out[present] = values[positions[present]]
    return out
