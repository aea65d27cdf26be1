"""Singling out (anonymeter style, multivariate): does the synthetic data let an attacker isolate one person?

The attacker writes predicates from synthetic records, as anonymeter 1.1 does: three random columns of a
random synthetic record, each as ``column == value`` (categorical) or, for a numeric column,
``column >= value`` when the value lies above the column's synthetic median and ``column <= value``
otherwise (a tail, which is where people stand out); a missing value as ``column is missing``.  Exact
duplicate synthetic records are dropped first (an attacker would), and only distinct predicates that match
exactly one synthetic record are kept, up to ``max_attempts`` (500, anonymeter's default) within
``tries_per_attempt`` times as many tries.  A predicate singles out a person when it matches exactly one
record of the target set.

- main attack: the predicates on the training records (``min(train, holdout, settings.max_rows)`` of them);
- control attack: the same predicates on equally many holdout records (equal sizes, so anonymeter's
  size-correction fit is not needed);
- baseline: anonymeter's random predicates, each column with a random value among the column's synthetic
  values (missing included) and a random operator (``==``/``!=``, plus ``<``, ``>``, ``<=``, ``>=`` for
  numerics), unfiltered, on the training records.

Rates are over the predicates actually found (anonymeter divides by the number requested, which
understates the risk when fewer are found).  Risk and interval: ``evaluation.attack.risk``.  Predicates are
evaluated in batches as matrices (columns as float codes, missing as NaN), a few thousand per second.

Privacy caveat: outside the DP guarantee; only counts and rates are reported, never a predicate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.attack.risk import Outcome, RiskAudit
from evaluation.base import AuditContext
from evaluation.memorization.encoding import as_float, as_strings, modelled_columns
from synthdata.modalities.table.schema import CategoricalColumn

EQ, NE, LT, GT, LE, GE, ISNA, NOTNA = range(8)
_CATEGORICAL_OPERATORS = np.array([EQ, NE])
_NUMERIC_OPERATORS = np.array([EQ, NE, LT, GT, LE, GE])
_BATCH = 512


def _matrices(frames: list[pd.DataFrame], columns: list[str], context: AuditContext) -> list[np.ndarray]:
    """Each frame as a float matrix: numerics as values, categoricals as shared codes, missing as NaN."""
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    for name in columns:
        column = context.schema.columns[name]
        if isinstance(column, CategoricalColumn):
            codes, _ = pd.factorize(pd.concat([as_strings(f[name]) for f in frames], ignore_index=True))
            codes = np.where(codes < 0, np.nan, codes.astype(np.float64))
            parts = np.split(codes, np.cumsum([len(f) for f in frames])[:-1])
        else:
            parts = [as_float(f[name], column) for f in frames]
        for block, part in zip(blocks, parts):
            block.append(part)
    return [np.column_stack(block) if block else np.zeros((len(f), 0)) for block, f in zip(blocks, frames)]


def _condition(x: np.ndarray, op: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (batch x rows) meeting each predicate's condition; NaN meets only ``is missing``."""
    out = np.zeros(x.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for code in np.unique(op):
            rows = op == code
            xs, vs = x[rows], value[rows, None]
            if code == ISNA:
                out[rows] = np.isnan(xs)
            elif code == NOTNA:
                out[rows] = ~np.isnan(xs)
            elif code == NE:
                out[rows] = (xs != vs) & ~np.isnan(xs)
            else:
                out[rows] = {EQ: np.equal, LT: np.less, GT: np.greater, LE: np.less_equal,
                             GE: np.greater_equal}[int(code)](xs, vs)
    return out


def _random_columns(n: int, n_columns: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sets of ``width`` distinct column positions (sorted), one per row."""
    return np.sort(rng.random((n, n_columns)).argsort(axis=1)[:, :width], axis=1)


def _counts(matrix: np.ndarray, columns: np.ndarray, ops: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many rows of ``matrix`` each predicate (rows of ``columns``/``ops``/``values``) matches."""
    counts = np.zeros(len(columns), dtype=np.int64)
    for start in range(0, len(columns), _BATCH):
        part = slice(start, start + _BATCH)
        mask = np.ones((len(columns[part]), len(matrix)), dtype=bool)
        for k in range(columns.shape[1]):
            mask &= _condition(matrix[:, columns[part, k]].T, ops[part, k], values[part, k])
        counts[part] = mask.sum(axis=1)
    return counts


class SinglingOutAudit(RiskAudit):
    """Risk that predicates learned from the synthetic data isolate one training patient (beyond unseen ones)."""

    name = "attack.singling_out"
    title = "Singling out (can one patient be isolated?)"
    explanation = (
        "Plays an attacker who writes descriptions such as 'a woman aged 70-80 with more than 40 lab tests' "
        "from synthetic records, keeping those that fit exactly one synthetic record, and checks how often such "
        "a description fits exactly one real patient. The risk is how much more often this isolates a patient "
        "of the training data than a patient the generator never saw (0: no added risk)."
    )
    default_threshold = 0.15
    max_attempts = 500  # predicates (anonymeter's n_attacks); the target populations stay whole

    def __init__(self, *, columns_per_predicate: int = 3, tries_per_attempt: int = 100) -> None:
        self.columns_per_predicate = columns_per_predicate
        self.tries_per_attempt = tries_per_attempt

    def attempts(self, *, targets: pd.DataFrame, controls: pd.DataFrame, synthetic: pd.DataFrame,
                 context: AuditContext, rng: np.random.Generator) -> Outcome:
        columns = modelled_columns(context.schema, targets)
        numeric = np.array([not isinstance(context.schema.columns[c], CategoricalColumn) for c in columns])
        distinct = synthetic[columns].drop_duplicates()
        syn, tgt, ctl = _matrices([distinct, targets, controls], columns, context)
        width = min(self.columns_per_predicate, len(columns))
        with np.errstate(all="ignore"):
            medians = np.array([np.nanmedian(syn[:, j]) if numeric[j] and np.isfinite(syn[:, j]).any() else np.nan
                                for j in range(len(columns))])
        kept: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # distinct predicates, in order
        tries = 0
        while len(kept) < self.max_attempts and tries < self.max_attempts * self.tries_per_attempt:
            rows = rng.integers(0, len(syn), size=_BATCH)
            cols = _random_columns(_BATCH, len(columns), width, rng)
            values = syn[rows[:, None], cols]
            ops = np.where(np.isnan(values), ISNA, np.where(numeric[cols] & (values > medians[cols]), GE,
                                                            np.where(numeric[cols], LE, EQ)))
            tries += _BATCH
            for i in np.flatnonzero(_counts(syn, cols, ops, values) == 1):
                key = cols[i].tobytes() + ops[i].tobytes() + np.nan_to_num(values[i], nan=-1.5).tobytes()
                kept.setdefault(key, (cols[i], ops[i], values[i]))
                if len(kept) == self.max_attempts:
                    break
        facts = {"predicates": len(kept), "predicate_tries": tries, "columns_per_predicate": width,
                 "distinct_synthetic_records": len(distinct)}
        if not kept:
            return Outcome(0, 0, 0, 0, {**facts, "note": "no predicate singles out a synthetic record"})
        cols, ops, values = (np.stack(parts) for parts in zip(*kept.values()))
        # Baseline: random columns, random synthetic values per column (missing included), random operators.
        n = len(kept)
        base_cols = _random_columns(n, len(columns), width, rng)
        uniques = [pd.unique(syn[:, j]) for j in range(len(columns))]
        base_values = np.array([[uniques[j][rng.integers(len(uniques[j]))] for j in row] for row in base_cols])
        base_ops = np.where(numeric[base_cols], rng.choice(_NUMERIC_OPERATORS, size=base_cols.shape),
                            rng.choice(_CATEGORICAL_OPERATORS, size=base_cols.shape))
        base_ops = np.where(np.isnan(base_values), np.where(base_ops == EQ, ISNA, NOTNA), base_ops)
        return Outcome(
            main=int((_counts(tgt, cols, ops, values) == 1).sum()),
            control=int((_counts(ctl, cols, ops, values) == 1).sum()),
            baseline=int((_counts(tgt, base_cols, base_ops, base_values) == 1).sum()), attempts=n, facts=facts,
        )
