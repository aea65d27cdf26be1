"""Singling out (anonymeter style, multivariate): does the synthetic data let an attacker isolate one person?

The attacker writes predicates from synthetic records: three random columns of a synthetic record, each as
``column == value`` (categorical, missing is a value) or ``column <= value`` / ``column >= value`` (numeric,
direction at random), and keeps those that match exactly one synthetic record.  A predicate singles out a
person when it matches exactly one record of the target set.  Main attack on a training subsample, control on
equally many holdout records, baseline with predicates of random values (each column's value taken from an
independent random synthetic record, kept without filtering); see ``evaluation.attacks.risk``.

Privacy caveat: outside the DP guarantee; only counts and rates are reported, never a predicate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.attacks.risk import Outcome, RiskAudit
from evaluation.base import AuditContext
from evaluation.memorization.encoding import MISSING_LEVEL, as_float, as_strings, modelled_columns
from synthdata.modalities.table.schema import CategoricalColumn

Predicate = list[tuple[int, str, object]]  # (column position, operator, value)


def _arrays(frame: pd.DataFrame, columns: list[str], context: AuditContext) -> list[np.ndarray]:
    out = []
    for name in columns:
        column = context.schema.columns[name]
        if isinstance(column, CategoricalColumn):
            out.append(as_strings(frame[name]).fillna(MISSING_LEVEL).to_numpy(dtype=object))
        else:
            out.append(as_float(frame[name], column))
    return out


def _matches(arrays: list[np.ndarray], predicate: Predicate) -> int:
    mask = np.ones(len(arrays[0]), dtype=bool)
    for position, op, value in predicate:
        values = arrays[position]
        if op == "==":
            mask &= values == value
        elif op == "isna":
            mask &= np.isnan(values)
        elif op == "<=":
            mask &= values <= value
        else:
            mask &= values >= value
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
    max_attempts = 500

    def __init__(self, *, columns_per_predicate: int = 3, tries_per_attempt: int = 20) -> None:
        self.columns_per_predicate = columns_per_predicate
        self.tries_per_attempt = tries_per_attempt

    def _predicate(self, arrays: list[np.ndarray], rows: np.ndarray, kinds: list[bool],
                   rng: np.random.Generator) -> Predicate:
        width = min(self.columns_per_predicate, len(arrays))
        predicate: Predicate = []
        for position, row in zip(rng.choice(len(arrays), size=width, replace=False), rows):
            value = arrays[position][row]
            if kinds[position]:
                predicate.append((int(position), "==", value))
            elif np.isnan(value):
                predicate.append((int(position), "isna", None))
            else:
                predicate.append((int(position), "<=" if rng.random() < 0.5 else ">=", float(value)))
        return predicate

    def attempts(self, *, targets: pd.DataFrame, controls: pd.DataFrame, synthetic: pd.DataFrame,
                 context: AuditContext, rng: np.random.Generator) -> Outcome:
        columns = modelled_columns(context.schema, targets)
        kinds = [isinstance(context.schema.columns[c], CategoricalColumn) for c in columns]
        syn, tgt, ctl = (_arrays(f, columns, context) for f in (synthetic, targets, controls))
        wanted = min(len(targets), self.max_attempts)
        kept: list[Predicate] = []
        for _ in range(wanted * self.tries_per_attempt):
            row = int(rng.integers(len(synthetic)))
            predicate = self._predicate(syn, np.full(len(columns), row), kinds, rng)
            if _matches(syn, predicate) == 1:
                kept.append(predicate)
                if len(kept) == wanted:
                    break
        if not kept:
            return Outcome(0, 0, 0, 0, {"predicates": 0, "note": "no predicate singles out a synthetic record"})
        baseline = [self._predicate(syn, rng.integers(0, len(synthetic), size=len(columns)), kinds, rng)
                    for _ in kept]
        return Outcome(
            main=sum(_matches(tgt, p) == 1 for p in kept), control=sum(_matches(ctl, p) == 1 for p in kept),
            baseline=sum(_matches(tgt, p) == 1 for p in baseline), attempts=len(kept),
            facts={"predicates": len(kept), "columns_per_predicate": self.columns_per_predicate},
        )
