"""Caps that truncate: at most ``cap`` rows per group (a parent row, a patient), chosen at random per group.

Which of a group's rows are kept depends only on the public seed, the group's name (its parent's key, or
its patient's key) and the group's own rows in file order: a key per row from SHA-256 of seed, salt, group
and the row's position within the group, and the ``cap`` smallest keys are kept.  Adding or removing one
patient therefore changes no other patient's rows, which the DP guarantee per patient needs (as
``grouping.cap_per_subject`` does for one table; unlike it, a single group is capped too).
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl


def keep_at_most(*, groups: pl.Series, cap: int, seed: int, salt: str) -> np.ndarray:
    """A mask keeping at most ``cap`` rows of each group (``groups``: one name per row, never null)."""
    if groups.len() == 0:
        return np.zeros(0, dtype=bool)
    frame = pl.DataFrame({"group": groups.cast(pl.String)}).with_columns(
        position=pl.int_range(pl.len()).over("group"))
    keys = [int.from_bytes(hashlib.sha256(f"{seed}|{salt}|{group}|{position}".encode()).digest()[:8], "big")
            for group, position in frame.iter_rows()]
    ranked = frame.with_columns(key=pl.Series(keys, dtype=pl.UInt64)).with_columns(
        rank=pl.col("key").rank("ordinal").over("group"))
    return (ranked["rank"] <= cap).to_numpy()
