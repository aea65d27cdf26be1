"""Relative times: the declared derived columns of a table (``end - start`` in a unit).

MIMIC shifts every patient's dates by a random offset into 2100-2200, so absolute dates say little and
their differences say what a model should learn: days since admission, length of stay, age at admission.
``start`` and ``end`` name datetime columns of the table or of a table on its parent chain; the values
follow each row's parent links (a row without a parent row gets null), then are checked against the
declared public bounds by the table reader's rules (``type_frame``: out of bounds refused unless ``clip``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from synthdata.modalities.relational.schema import (
    INTERVAL_UNITS,
    DerivedColumn,
    split_place,
)
from synthdata.modalities.table.reader import type_frame
from synthdata.modalities.table.schema import TableSchema


def derive_columns(*, table: str, derived: Mapping[str, DerivedColumn], frames: Mapping[str, pl.DataFrame],
                   parents: Mapping[str, tuple[str, np.ndarray] | None]) -> pl.DataFrame:
    """The derived columns of ``table``'s kept rows, typed and checked.

    ``frames``: every table's kept rows; ``parents``: per table, its parent table and each row's parent row
    (position in the parent's frame, -1 for none), or None for the subject table."""
    if not derived:
        return pl.DataFrame()
    values = {}
    for name, spec in derived.items():
        start = _values(table, spec.start, frames=frames, parents=parents)
        end = _values(table, spec.end, frames=frames, parents=parents)
        seconds = (end - start).dt.total_microseconds().cast(pl.Float64) / 1e6
        amount = seconds / INTERVAL_UNITS[spec.unit]
        values[name] = amount.floor() if spec.integer else amount
    schema = TableSchema(columns={name: spec.as_column() for name, spec in derived.items()})
    return type_frame(frame=pl.DataFrame(values), schema=schema,
                      source=f"table {table} (derived columns; rows counted among its kept rows)")


def _values(table: str, place: str, *, frames: Mapping[str, pl.DataFrame],
            parents: Mapping[str, tuple[str, np.ndarray] | None]) -> pl.Series:
    """``place`` (``column`` or ``TABLE.column`` up the parent chain) for every row of ``table``."""
    source, column = split_place(place)
    current, rows = table, np.arange(frames[table].height)
    while source is not None and current != source:
        link = parents[current]
        assert link is not None, f"{source} is not on {table}'s parent chain"  # checked with the schema
        current, parent_rows = link
        rows = np.where(rows >= 0, parent_rows[np.clip(rows, 0, None)], -1)
    picked = frames[current][column].gather(np.clip(rows, 0, None)) if frames[current].height else \
        pl.Series(column, [None] * len(rows), dtype=pl.Datetime("us"))
    return picked.set(pl.Series(rows < 0), None) if len(rows) else picked
