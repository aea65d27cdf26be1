"""Singling out (anonymeter style, multivariate): does the synthetic data let an attacker isolate one person?

The attacker writes predicates from synthetic records, as anonymeter 1.1 does: three random columns of a
random synthetic record, each as ``column == value`` (categorical; missing is a value) or, for a numeric
column, ``column >= value`` when the value lies above the column's synthetic median and ``column <= value``
otherwise (a tail, which is where people stand out); missing numerics as ``column is missing``.  Exact
duplicate synthetic records are dropped first (an attacker would), and only distinct predicates that match
exactly one synthetic record are kept.  A predicate singles out a person when it matches exactly one record
of the target set.

- main attack: the predicates on a training subsample;
- control attack: the same predicates on equally many holdout records (equal sizes, so anonymeter's
  size-correction fit is not needed);
- baseline: anonymeter's random predicates, each column with a random value among the column's synthetic
  values and a random operator (``==``/``!=``, plus ``<``, ``>``, ``<=``, ``>=`` for numerics), unfiltered.

Rates are over the predicates actually found (anonymeter divides by the number requested, which
understates the risk when fewer are found).  Risk and interval: ``evaluation.attacks.risk``.

Privacy caveat: outside the DP guarantee; only counts and rates are reported, never a predicate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.attacks.risk import Outcome, RiskAudit
from evaluation.base import AuditContext
from evaluation.memorization.encoding import MISSING_LEVEL, as_float, as_strings, modelled_columns
from synthdata.modalities.table.schema import CategoricalColumn

Predicate = tuple[tuple[int, str, object], ...]  # ((column position, operator, value), ...), sorted

_CATEGORICAL_OPERATORS = ("==", "!=")
_NUMERIC_OPERATORS = ("==", "!=", "<", ">", "<=", ">=")


def _arrays(frame: pd.DataFrame, columns: list[str], context: AuditContext) -> list[np.ndarray]:
    out = []
    for name in columns:
        column = context.schema.columns[name]
        if isinstance(column, CategoricalColumn):
            out.append(as_strings(frame[name]).fillna(MISSING_LEVEL).to_numpy(dtype=object))
        else:
            out.append(as_float(frame[name], column))
    return out


def _mask(values: np.ndarray, op: str, value: object) -> np.ndarray:
    """Rows satisfying one condition; a missing entry satisfies only ``isna`` (and ``==`` the missing level)."""
    if op == "isna":
        return np.isnan(values)
    if op == "notna":
        return ~np.isnan(values)
    if op == "==":
        return values == value
    if op == "!=":
        present = values != MISSING_LEVEL if values.dtype == object else ~np.isnan(values)
        return (values != value) & present
    return {"<=": np.less_equal, ">=": np.greater_equal, "<": np.less, ">": np.greater}[op](values, value)


def _matches(arrays: list[np.ndarray], predicate: Predicate) -> int:
    mask = np.ones(len(arrays[0]), dtype=bool)
    for position, op, value in predicate:
        mask &= _mask(arrays[position], op, value)
        if not mask.any():
            return 0
    return int(mask.sum())


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

    def __init__(self, *, columns_per_predicate: int = 3, tries_per_attempt: int = 20) -> None:
        self.columns_per_predicate = columns_per_predicate
        self.tries_per_attempt = tries_per_attempt

    def _from_record(self, syn: list[np.ndarray], row: int, kinds: list[bool], medians: np.ndarray,
                     rng: np.random.Generator) -> Predicate:
        width = min(self.columns_per_predicate, len(syn))
        predicate = []
        for position in sorted(rng.choice(len(syn), size=width, replace=False).tolist()):
            value = syn[position][row]
            if kinds[position]:
                predicate.append((position, "==", value))
            elif np.isnan(value):
                predicate.append((position, "isna", None))
            else:
                predicate.append((position, ">=" if value > medians[position] else "<=", float(value)))
        return tuple(predicate)

    def _random(self, uniques: list[np.ndarray], kinds: list[bool], rng: np.random.Generator) -> Predicate:
        width = min(self.columns_per_predicate, len(uniques))
        predicate = []
        for position in sorted(rng.choice(len(uniques), size=width, replace=False).tolist()):
            value = uniques[position][rng.integers(len(uniques[position]))]
            op = str(rng.choice(_CATEGORICAL_OPERATORS if kinds[position] else _NUMERIC_OPERATORS))
            if not kinds[position] and np.isnan(value):
                predicate.append((position, "isna" if op == "==" else "notna", None))
            else:
                predicate.append((position, op, value if kinds[position] else float(value)))
        return tuple(predicate)

    def attempts(self, *, targets: pd.DataFrame, controls: pd.DataFrame, synthetic: pd.DataFrame,
                 context: AuditContext, rng: np.random.Generator) -> Outcome:
        columns = modelled_columns(context.schema, targets)
        kinds = [isinstance(context.schema.columns[c], CategoricalColumn) for c in columns]
        distinct = synthetic[columns].drop_duplicates()
        syn, tgt, ctl = (_arrays(f, columns, context) for f in (distinct, targets, controls))
        with np.errstate(all="ignore"):
            medians = np.array([np.nan if kind else np.nanmedian(a) if np.isfinite(a).any() else np.nan
                                for kind, a in zip(kinds, syn)])
        wanted = self.max_attempts
        kept: dict[Predicate, None] = {}  # insertion-ordered set of distinct predicates
        for _ in range(wanted * self.tries_per_attempt):
            predicate = self._from_record(syn, int(rng.integers(len(distinct))), kinds, medians, rng)
            if predicate not in kept and _matches(syn, predicate) == 1:
                kept[predicate] = None
                if len(kept) == wanted:
                    break
        facts = {"predicates": len(kept), "columns_per_predicate": self.columns_per_predicate,
                 "distinct_synthetic_records": len(distinct)}
        if not kept:
            return Outcome(0, 0, 0, 0, {**facts, "note": "no predicate singles out a synthetic record"})
        uniques = [pd.unique(a) for a in syn]
        baseline = [self._random(uniques, kinds, rng) for _ in kept]
        return Outcome(
            main=sum(_matches(tgt, p) == 1 for p in kept), control=sum(_matches(ctl, p) == 1 for p in kept),
            baseline=sum(_matches(tgt, p) == 1 for p in baseline), attempts=len(kept), facts=facts,
        )
