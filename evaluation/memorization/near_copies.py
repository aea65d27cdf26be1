"""Near copies: synthetic rows that sit on a training record, beyond what chance puts there.

What it measures, in plain words: the share of synthetic rows that are near copies of a training patient, over
and above the rows that land that close to *some* real patient by chance.

The test rests on exchangeability, not on equal set sizes.  Pool the training records T (all of them, up to
``settings.max_rows``) with the holdout records H.  If the synthetic rows do not depend on which records were
in T, then for any synthetic row the nearest record of the pool is a training record with probability exactly
``p0 = |T| / (|T| + |H|)``, whatever the row looks like and however dense the data are (ties share the credit:
a row equally near to t training and h holdout records counts t / (t + h)).  A generator that returns training
records, or perturbs them slightly, puts those rows on their source record: their nearest pooled record is in
T with probability 1.

Only rows *close* to a real record carry a copy signal, so each synthetic row is scored only when its nearest
pooled record lies within the near-copy radius: the ``QUANTILE`` of the distance from each real record to its
nearest other real record (a function of the pool, blind to which records trained).  A close row scores
``(share of its nearest records in T - p0) / (1 - p0)``: 1 for a copy, 0 in expectation for a row that is
close by chance; a row that is not close scores 0.  The value is the mean score over all synthetic rows: the
**excess near-copy share**, 0 when nothing leaks and about c for a generator copying a share c of its rows.
Its 95% interval is the bootstrap interval over synthetic rows; the null itself is exact, so the references
add no bias, and the training set is not subsampled to the holdout's size (which diluted copies about 8x).

Gate: the release is blocked when the lower end of the interval is above 0.02 (two synthetic rows in a hundred
near copies beyond chance); with the interval's half-width the note states the smallest share it would have
caught.  Measured error rates are in ``python -m evaluation.benchmarks.gate_calibration``.

Rows are encoded as in ``evaluation.memorization.encoding`` (numbers scaled by public bounds, a differing
category costs 1); signals and images use their own distance space (``evaluation.memorization.space``).

Privacy caveat: computed from private records outside the DP guarantee; only shares, the radius (a distance
quantile) and counts are reported, never a record.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.memorization.space import SPACES, distance_space, nearest_distances
from evaluation.sampling import bootstrap_mean_interval


QUANTILE = 0.02  # the near-copy radius: 2% of real records have another real record this close
NEIGHBOURS = 16  # nearest pooled records kept per synthetic row (ties at the nearest distance share credit)
_RTOL, _ATOL = 1e-5, 1e-6


class NearCopiesAudit(Audit):
    """Excess share of synthetic rows whose nearest real record is a training record, among close rows."""

    name = "memorization.near_copies"
    category = "memorization"
    title = "Near copies of training records"
    explanation = (
        "Looks at the synthetic rows that are almost identical to some real patient record (as close as only "
        "the closest 2% of real patients are to one another) and asks whether that record is a training patient "
        "more often than chance. By chance it is a training record in proportion to how many of the real "
        "records trained the model. About 0 means no more near copies of training patients than of anyone "
        "else; 0.05 means five synthetic rows in a hundred reproduce a training record, with small changes or "
        "none, beyond chance."
    )
    direction = "at_most"
    default_threshold = 0.02
    no_leak_value = 0.0
    views = tuple(SPACES)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and len(context.holdout) >= 20 and len(context.synthetic) > 0

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        sides = context.subsampled(rng)
        train, holdout, synthetic = sides["train"], sides["holdout"], sides["synthetic"]
        n_train, n_holdout = len(train), len(holdout)
        p0 = n_train / (n_train + n_holdout)
        space = distance_space(context, sides=[train, holdout, synthetic])
        pool = space.stack([space.encode(train), space.encode(holdout)])
        in_train = np.r_[np.ones(n_train, dtype=bool), np.zeros(n_holdout, dtype=bool)]
        # Each real record's distance to its nearest other real record (the first neighbour is itself).
        radius = float(np.quantile(nearest_distances(space, pool, pool, k=2)[:, 1], QUANTILE))
        distances, index = space.neighbours(space.encode(synthetic), pool, k=min(NEIGHBOURS, len(in_train)))
        nearest = distances[:, :1]
        tied = np.isclose(distances, nearest, rtol=_RTOL, atol=_ATOL)
        share_train = (tied & in_train[index]).sum(axis=1) / tied.sum(axis=1)
        close = nearest[:, 0] <= radius + _ATOL
        score = np.where(close, (share_train - p0) / (1.0 - p0), 0.0)
        value = float(score.mean())
        interval = bootstrap_mean_interval(score, rng=rng, replicates=context.settings.bootstrap)
        details = {
            "radius": round(radius, 4),
            "radius_rule": f"{QUANTILE:.0%} quantile of the distance from a real record to its nearest other real "
                           "record (training and holdout pooled)",
            "share_close": round(float(close.mean()), 4),
            "close_rows_nearest_in_training": round(float(share_train[close].mean()), 4) if close.any() else None,
            "chance_share_in_training": round(p0, 4),
            "synthetic_rows_near_copies_beyond_chance": round(float(score.sum())),
            "sizes": {"synthetic": len(synthetic), "train": n_train, "holdout": n_holdout,
                      "synthetic_available": len(context.synthetic), "train_available": len(context.train)},
            "bootstrap": context.settings.bootstrap,
            "encoding_notes": space.notes,
            "seconds": round(time.perf_counter() - started, 1),
        }
        return Measurement(value=value, interval=interval, details=details)
