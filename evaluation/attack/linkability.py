"""Linkability (anonymeter style): can the synthetic data join two halves of a person's record?

The attacker knows two sets of a target's attributes from two sources (by default: the first and the second
half of the modelled columns, in schema order) and looks up each half's three nearest synthetic records
(anonymeter's default is one; with half the columns, many synthetic records tie at distance 0 on a common
half-profile, and one neighbour then misses most outright copies: on the demo slice a copy generator's risk
was 0.08 with one neighbour, 0.14 with three).  The attack succeeds when the two halves share a synthetic
record, i.e. the synthetic data links the two sources.  Neighbours are Euclidean on ``RowEncoder``'s embedding
(anonymeter uses a Gower-like L1 distance; on the demo slice both give the same risks within 0.01, see
``evaluation.benchmarks.anonymeter_compare``).  Gate: the upper end of the risk interval at most
0.10.  Main attack on training records, control on holdout records, baseline with random synthetic
records; see ``evaluation.attack.risk``.

Privacy caveat: outside the DP guarantee; only counts and rates are reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.attack.risk import Outcome, RiskAudit
from evaluation.base import AuditContext
from evaluation.memorization.encoding import (
    RowEncoder,
    modelled_columns,
    nearest_neighbours,
)


class LinkabilityAudit(RiskAudit):
    """Risk that the synthetic data links two halves of a training record (beyond unseen records)."""

    name = "attack.linkability"
    title = "Linkability (can records from two sources be joined through the synthetic data?)"
    explanation = (
        "Plays an attacker who knows some facts about a patient from one source and other facts from another "
        "source, and uses the synthetic data to decide whether both belong to the same person: for each half "
        "of the columns, find the most similar synthetic record; if both halves point at the same synthetic "
        "record, the two sources are linked. The risk is how much more often this works for patients in the "
        "training data than for patients the generator never saw (0: no added risk, 1: always linked)."
    )
    default_threshold = 0.10
    min_columns = 2  # two halves, neither empty (a one-column table has nothing to link: not run)

    def __init__(self, *, columns_a: list[str] | None = None, columns_b: list[str] | None = None,
                 neighbours: int = 3) -> None:
        self.columns_a, self.columns_b, self.neighbours = columns_a, columns_b, neighbours

    def attempts(self, *, targets: pd.DataFrame, controls: pd.DataFrame, synthetic: pd.DataFrame,
                 context: AuditContext, rng: np.random.Generator) -> Outcome:
        columns = modelled_columns(context.schema, targets)
        half = len(columns) // 2
        halves = (self.columns_a or columns[:half], self.columns_b or columns[half:])
        k = min(self.neighbours, len(synthetic))
        found: dict[str, list[np.ndarray]] = {"main": [], "control": []}
        for part in halves:
            frames = [f[part] for f in (targets, controls, synthetic)]
            encoder = RowEncoder(schema=context.schema, frames=frames)
            reference = encoder.encode(frames[2])
            found["main"].append(nearest_neighbours(encoder.encode(frames[0]), reference, k=k)[1])
            found["control"].append(nearest_neighbours(encoder.encode(frames[1]), reference, k=k)[1])
        random_links = [np.stack([rng.choice(len(synthetic), size=k, replace=False) for _ in range(len(targets))])
                        for _ in halves]  # as anonymeter: k distinct random synthetic records per half

        def linked(a: np.ndarray, b: np.ndarray) -> int:
            return int(sum(bool(np.intersect1d(x, y).size) for x, y in zip(a, b)))

        return Outcome(main=linked(*found["main"]), control=linked(*found["control"]),
                       baseline=linked(*random_links), attempts=len(targets),
                       facts={"columns_a": len(halves[0]), "columns_b": len(halves[1]), "neighbours": k})
