"""Exact copies: synthetic rows identical to a training record on every modelled column, beyond chance.

A synthetic row equal to some training record and to no holdout record is counted as a copy.  A row that
also occurs in the holdout is a common profile of the population (many patients share it), not evidence
that an individual was copied, so it is not counted.

Chance: on a table of few columns, a generator that never saw a record still lands on it now and then, as
real patients do (on 11 columns of the demo table, enough to make one synthetic copy in five clean releases).
So the copies are compared with the rate at which real records match a training record of another patient:
holdout records against the training set, and training records against the training records of other units
(``context.groups``), both estimates of how often a record of the population equals one of a training-sized
set.  A one-sided Fisher exact test of (copies among the synthetic rows) against (matching real records among
all of them), at 2.5%; the value is the number of copies beyond what that rate explains when the test finds
an excess, else 0, and the gate tolerates 0.  Where real rows never match (the 48-column demo table) about
five copies among 5,000 synthetic rows already show.

Signal windows and images are continuous: when none of the real ones repeats (no holdout record equals a
training record, no two training records of different units are equal), every copy counts, with no test (at
the shipped examples' sizes, 22 to 156 holdout records, a test against an unknown chance rate could not show
a handful of copies).  When some do repeat (flat-line windows, blank images, a public set that holds the same
image twice) the Fisher test decides.

Rows are compared by a 64-bit hash of their normalised values (numbers as float64 with -0.0 = 0.0,
categories as strings, missing as its own value) over the full training, holdout and synthetic sets; the
chance that two different rows share a hash is about n^2 / 2^64, negligible for any table we handle.

Signal windows and images are compared the same way, every value rounded (to 1/10,000 of the declared
amplitude range; to 8-bit grey levels).

Privacy caveat: the counts are computed from private records outside the DP guarantee and reported as
counts only; no matching row is ever written out.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from evaluation.base import Audit, AuditContext, Measurement, unit_codes
from evaluation.memorization.encoding import (
    MISSING_LEVEL,
    as_float,
    as_strings,
    modelled_columns,
)
from synthdata.modalities.table.schema import CategoricalColumn, TableSchema
from synthdata.views.images import ImageAuditSet
from synthdata.views.signals import SignalSet


def row_hashes(frame: pd.DataFrame, *, schema: TableSchema, columns: list[str]) -> np.ndarray:
    """uint64 hash per row of the normalised values of ``columns``."""
    normalised: dict[str, object] = {}
    for name in columns:
        column = schema.columns[name]
        if isinstance(column, CategoricalColumn):
            normalised[name] = as_strings(frame[name]).fillna(MISSING_LEVEL).to_numpy(dtype=object)
        else:
            values = as_float(frame[name], column)
            missing = ~np.isfinite(values)
            normalised[name] = np.where(missing, 0.0, values) + 0.0  # + 0.0 turns -0.0 into 0.0
            normalised[f"{name}\x00missing"] = missing
    table = pd.DataFrame(normalised, index=range(len(frame)))
    return pd.util.hash_pandas_object(table, index=False).to_numpy(dtype=np.uint64)


_LEVEL = 0.025


def _matches_within(hashes: np.ndarray, *, units: np.ndarray | None) -> int:
    """Records equal to a record of another unit of the same set (each record its own unit without ``units``)."""
    frame = pd.DataFrame({"hash": hashes, "unit": unit_codes(units, size=len(hashes))})
    return int((frame.groupby("hash")["unit"].transform("nunique") > 1).sum())
#: Signals are compared after rounding to this share of the declared amplitude range (1/10,000, finer than
#: the shipped formats' ADC steps); images at their 8-bit grey levels.  A copy re-quantised by another format
#: or gain may round differently: that is a near copy (``memorization.near_copies``), not an exact one.
SIGNAL_RESOLUTION = 1e-4


def record_hashes(side: object, *, schema: object, columns: list[str] | None = None) -> np.ndarray:
    """uint64 hash per record: table rows by their normalised values, signal windows and images by their
    values rounded to ``SIGNAL_RESOLUTION`` of the amplitude range or to 8-bit grey levels."""
    if isinstance(side, pd.DataFrame):
        return row_hashes(side, schema=schema, columns=columns or [])
    if isinstance(side, ImageAuditSet):
        levels = np.rint((np.asarray(side.pixels, dtype=np.float64) + 1.0) * 127.5).astype(np.int64)
    else:
        low, high = schema.amplitude
        levels = np.rint(np.asarray(side.data, dtype=np.float64) / ((high - low) * SIGNAL_RESOLUTION)).astype(np.int64)
    flat = levels.reshape(len(levels), -1)
    return np.array([int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little") for row in flat],
                    dtype=np.uint64)


class ExactCopiesAudit(Audit):
    """Number of synthetic rows that reproduce a training record (and no holdout record) exactly, beyond the
    rate at which real holdout records match one."""

    name = "memorization.exact_copies"
    category = "memorization"
    title = "Exact copies of training records"
    explanation = (
        "Counts synthetic rows that are identical, in every column, to a real patient record used for "
        "training, beyond the rate at which real patients outside the training set match one by chance. Rows "
        "that are just as identical to a record never used for training are common profiles shared by many "
        "patients and are not counted. Copies beyond chance are a privacy failure."
    )
    direction = "at_most"
    default_threshold = 0.0
    views = (pd.DataFrame, SignalSet, ImageAuditSet)

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        table = isinstance(context.train, pd.DataFrame)
        columns = modelled_columns(context.schema, context.train) if table else None
        synthetic = record_hashes(context.synthetic, schema=context.schema, columns=columns)
        train_rows = record_hashes(context.train, schema=context.schema, columns=columns)
        train = np.unique(train_rows)
        holdout_rows = record_hashes(context.holdout, schema=context.schema, columns=columns)
        holdout = np.unique(holdout_rows)
        in_train = np.isin(synthetic, train, assume_unique=False)
        in_holdout = np.isin(synthetic, holdout, assume_unique=False)
        copies = in_train & ~in_holdout
        real_matches = int(np.isin(holdout_rows, train).sum())
        train_matches = _matches_within(train_rows, units=context.groups.get("train"))
        n_synthetic, n_copies = len(synthetic), int(copies.sum())
        matches, n_reference = real_matches + train_matches, len(holdout_rows) + len(train_rows)
        p_value = float(fisher_exact([[n_copies, n_synthetic - n_copies], [matches, n_reference - matches]],
                                     alternative="greater").pvalue) if n_copies else 1.0
        expected = n_synthetic * matches / max(n_reference, 1)
        if not table and matches == 0:  # windows or images, none repeated among the real ones: any copy shows
            beyond = n_copies
        else:
            beyond = max(n_copies - round(expected), 1) if p_value < _LEVEL else 0
        details = {
            "synthetic_rows_matching_train": int(in_train.sum()),
            "synthetic_rows_matching_holdout": int(in_holdout.sum()),
            "synthetic_rows_matching_both": int((in_train & in_holdout).sum()),
            "copies": n_copies,
            "holdout_rows_matching_train": real_matches,
            "training_rows_matching_another_unit": train_matches,
            "copies_expected_by_chance": round(expected, 2),
            "p_value_excess": round(p_value, 6),
            "distinct_training_profiles_copied": int(np.unique(synthetic[copies]).size),
            "share_of_synthetic_rows_copied": round(float(copies.mean()) if len(copies) else 0.0, 6),
            "sizes": {"synthetic": n_synthetic, "train": len(context.train), "holdout": len(context.holdout)},
            "compared": (f"{len(columns)} modelled columns" if table else
                         "every value, at 1/10,000 of the amplitude range" if isinstance(context.train, SignalSet)
                         else "every pixel, at 8-bit grey levels"),
            "seconds": round(time.perf_counter() - started, 2),
        }
        return Measurement(value=float(beyond), details=details)
