"""Near copies: synthetic rows unusually close to a training record, with "close" calibrated on real data.

The near-copy radius is the 5th percentile of the distance from an unseen real record (one half of the
holdout) to its closest training record: a new patient is that close to some training patient only 5% of
the time.  The value is the *excess* near-copy rate: the share of synthetic rows within the radius of a
training record minus the share within the radius of a real unseen record (the other half of the holdout),
the training set subsampled to the same size so both references are equally dense.  A generator that learned
the population scores about 0; one that copies or perturbs training records slightly scores up to the share
of rows it copied.  Gate: the upper end of the bootstrap 95% interval at most 0.05 (five in a hundred
synthetic rows closer to training records than real data explains).  The radius and the size-matched
references depend on which records are drawn (on the demo release one draw gave -0.05, another +0.02), so
the audit averages each synthetic row's excess over ``REPLICATES`` (5) fresh draws before bootstrapping rows.

Rows are encoded as in ``evaluation.memorization.encoding`` (numbers scaled by public bounds, a differing
category costs 1).

Privacy caveat: computed from private records outside the DP guarantee; only shares, the radius and
counts are reported.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.memorization.encoding import RowEncoder, nearest_distances
from evaluation.sampling import bootstrap_mean_interval, subsample

QUANTILE = 0.05
REPLICATES = 5


class NearCopiesAudit(Audit):
    """Excess share of synthetic rows within a real-data-calibrated radius of a training record."""

    name = "memorization.near_copies"
    category = "memorization"
    title = "Near copies of training records"
    explanation = (
        "Counts synthetic rows that are almost identical to a real training record — closer than a new, "
        "unseen patient usually is to any training patient (closer than 95% of them) — and subtracts how "
        "often synthetic rows are that close to real records that were never used for training. About 0 means "
        "the synthetic rows are no closer to the training patients than to anyone else; a clearly positive "
        "share means the generator reproduces individual training records with small changes."
    )
    direction = "at_most"
    default_threshold = 0.05

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and len(context.holdout) >= 20 and len(context.synthetic) > 0

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        synthetic = subsample(context.synthetic, min(len(context.synthetic), context.settings.max_rows), rng)
        half = len(context.holdout) // 2
        n = min(half, len(context.train), context.settings.max_rows)
        excess = np.zeros(len(synthetic))
        radii, near_train, near_reference = [], [], []
        for _ in range(REPLICATES):  # fresh splits: the radius and the references vary between draws
            order = rng.permutation(len(context.holdout))
            calibration = context.holdout.iloc[np.sort(order[:n])]
            reference = context.holdout.iloc[np.sort(order[half:half + n])]
            train = subsample(context.train, n, rng)
            encoder = RowEncoder(schema=context.schema, frames=[train, calibration, reference, synthetic])
            encoded_train = encoder.encode(train)
            radius = float(np.quantile(nearest_distances(encoder.encode(calibration), encoded_train)[:, 0], QUANTILE))
            query = encoder.encode(synthetic)
            to_train = nearest_distances(query, encoded_train)[:, 0] <= radius
            to_reference = nearest_distances(query, encoder.encode(reference))[:, 0] <= radius
            excess += (to_train.astype(float) - to_reference.astype(float)) / REPLICATES
            radii.append(radius)
            near_train.append(float(to_train.mean()))
            near_reference.append(float(to_reference.mean()))
        details = {
            "radius_median": round(float(np.median(radii)), 4),
            "radius_rule": f"{QUANTILE:.0%} quantile of unseen real records' distance to the closest training record",
            "share_near_train": round(float(np.mean(near_train)), 4),
            "share_near_unseen_real": round(float(np.mean(near_reference)), 4),
            "replicate_excess": [round(a - b, 4) for a, b in zip(near_train, near_reference)],
            "replicates": REPLICATES,
            "sizes": {"synthetic": len(synthetic), "train": n, "unseen_reference": n, "calibration": n},
            "seconds": round(time.perf_counter() - started, 1),
        }
        return Measurement(value=float(excess.mean()), details=details,
                           interval=bootstrap_mean_interval(excess, rng=rng, replicates=context.settings.bootstrap))
