"""Attribute inference (anonymeter style): does the synthetic data reveal a secret attribute of a person?

The attacker knows every modelled column of a target except the secret (by default the utility target,
else the last categorical column) and guesses the secret as that of the nearest synthetic record.  A guess is
right when it equals the secret (categorical; missing equals missing) or lies within 5% of the column's
public range (numeric; anonymeter compares numerics exactly by default, or within 5% of the guessed value
when told the secret is continuous, which is ill-defined near 0).  Neighbours are Euclidean on
``RowEncoder``'s embedding (anonymeter: Gower-like L1).
Main attack on training records, control on holdout records, baseline with the secret of a random synthetic
record; see ``evaluation.attack.risk``.  The control matters: a synthetic data set that is useful predicts
secrets of everyone in the population; the risk is only what it predicts better for training patients.

Privacy caveat: outside the DP guarantee; only counts and rates are reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.attack.risk import Outcome, RiskAudit
from evaluation.base import AuditContext
from evaluation.memorization.encoding import (
    RowEncoder,
    as_float,
    as_strings,
    modelled_columns,
    nearest_neighbours,
    public_range,
)
from synthdata.modalities.table.schema import CategoricalColumn

TOLERANCE = 0.05


class InferenceAudit(RiskAudit):
    """Risk that the synthetic data reveals a training patient's secret attribute (beyond unseen patients)."""

    name = "attack.inference"
    title = "Attribute inference (can a hidden attribute of a patient be guessed?)"
    explanation = (
        "Plays an attacker who knows everything about a patient except one sensitive attribute and guesses it "
        "from the most similar synthetic record. Because good synthetic data lets anyone make educated guesses "
        "about people in general, the same attack on patients the generator never saw is the yardstick: the "
        "risk is how much better the guesses are for patients in the training data (0: no added risk)."
    )
    default_threshold = 0.25

    min_columns = 2  # a secret and at least one known column (with none, the "nearest" record is arbitrary)

    def __init__(self, *, secret: str | None = None) -> None:
        self.secret = secret

    def _secret(self, context: AuditContext, columns: list[str]) -> str:
        if self.secret:
            return self.secret
        if context.target in columns:
            return context.target
        categorical = [c for c in columns if isinstance(context.schema.columns[c], CategoricalColumn)]
        return (categorical or columns)[-1]

    def attempts(self, *, targets: pd.DataFrame, controls: pd.DataFrame, synthetic: pd.DataFrame,
                 context: AuditContext, rng: np.random.Generator) -> Outcome:
        columns = modelled_columns(context.schema, targets)
        secret = self._secret(context, columns)
        known = [c for c in columns if c != secret]
        encoder = RowEncoder(schema=context.schema, frames=[f[known] for f in (targets, controls, synthetic)])
        reference = encoder.encode(synthetic[known])
        guesses = {arm: nearest_neighbours(encoder.encode(frame[known]), reference)[1][:, 0]
                   for arm, frame in (("main", targets), ("control", controls))}
        guesses["baseline"] = rng.integers(0, len(synthetic), size=len(targets))
        truth = {"main": targets, "control": controls, "baseline": targets}
        column = context.schema.columns[secret]
        if isinstance(column, CategoricalColumn):
            values = as_strings(synthetic[secret]).fillna("\x00missing").to_numpy()

            def right(frame: pd.DataFrame, index: np.ndarray) -> int:
                return int((as_strings(frame[secret]).fillna("\x00missing").to_numpy() == values[index]).sum())
        else:
            values = as_float(synthetic[secret], column)
            bounds = public_range(column)
            if bounds is None:
                finite = values[np.isfinite(values)]
                bounds = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            tolerance = TOLERANCE * max(bounds[1] - bounds[0], 1e-12)

            def right(frame: pd.DataFrame, index: np.ndarray) -> int:
                return int((np.abs(as_float(frame[secret], column) - values[index]) <= tolerance).sum())

        counts = {arm: right(truth[arm], guesses[arm]) for arm in guesses}
        return Outcome(**counts, attempts=len(targets), facts={"secret_column": secret, "known_columns": len(known)})
