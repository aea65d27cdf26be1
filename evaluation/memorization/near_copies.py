"""Near copies: synthetic rows unusually close to a training record, with "close" calibrated on real data.

What it measures, in plain words: how many more synthetic rows sit (almost) on top of a training patient than
sit that close to real patients the generator never saw.

The near-copy radius is the 5th percentile (``QUANTILE``) of the distance from an unseen real record to its
closest training record: a new patient is that close to some training patient only 5% of the time.  For each
synthetic row we ask whether it lies within the radius of a training record, and whether it lies within the
radius of an unseen real record (the *reference*).  The value is the **excess near-copy rate**

    share of synthetic rows within the radius of a training record
    - share of synthetic rows within the radius of an unseen real record,

with the training set subsampled to the reference's size, so both sets are equally dense.  A generator that
learned the population scores about 0; one that returns or slightly perturbs training records scores up to
the share of rows it copied times the share of the training set searched.  On the demo slice (train 1,600,
holdout 800 rows, so each training subsample holds a quarter of training), over three seeds: unseen real
records scored as synthetic -0.007..0.000 (interval about +-0.01), independently sampled columns -0.002..0.001,
a generator returning training rows 0.24..0.26 (lower end >= 0.21).  Unlike ``memorization.exact_copies`` it
catches copies with a few values changed.

Sensitivity caveat: a copy of a training record outside the searched subsample looks like a fresh row, so the
excess of a generator copying a share c of its rows is about c * (subsample / training size); with a 20%
holdout and training above ``2 * max_rows`` rows the subsample is small.  The comparison with unseen real
records is what keeps the audit from flagging a good generator whose rows concentrate on common profiles
(they are close to training and holdout records alike), which a fixed "5% expected" baseline would flag.

Cross-fitting.  The holdout is split into two disjoint halves A and B.  A calibrates the radius against a
training subsample T1 and B is the reference for T1; then the roles swap (B calibrates against T2, A is the
reference).  The radius is never calibrated on the records it is compared with (the calibration records'
distances to training would otherwise enter both sides), every holdout record is a reference once, and each
synthetic row's excess is the average of its two indicators.  The interval is the bootstrap 95% interval of
that average over synthetic rows; it holds the references fixed (their variation is reduced by the two
cross-fitted draws; ``details["fold_excess"]`` shows it).

Default gate: the release is blocked when the lower end of the interval is above 0.05 (a privacy gate blocks
on evidence, ``evaluation.gate``).  Why 0.05: with the radius at the 5% quantile, a generator whose rows were
all fresh population records puts about 5% of its rows within the radius of the training set *and* about 5%
within that of the reference, excess 0.  An excess of 0.05 means five in a hundred synthetic rows are
near-copies beyond what chance explains, i.e. the near-copy rate is twice the chance rate.  Its power against
copiers is diluted by the training subsample (see the caveat above): the copying shares it catches are
measured by ``python -m evaluation.benchmarks.gate_calibration``.  (A test on the whole training set with an
exchangeability null was tried and withdrawn: on collapsed DP releases, whose rows sit on common profiles
tied with hundreds of real records, it swung between -0.04 and +0.06 with the training subsample drawn, and
blocked one of two clean demo releases.)

Rows are encoded as in ``evaluation.memorization.encoding`` (numbers scaled by public bounds, a differing
category costs 1); synthetic rows and each half of the holdout are capped at ``settings.max_rows``.

Privacy caveat: computed from private records outside the DP guarantee; only shares, the radius (a distance
quantile) and counts are reported, never a record.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.memorization.space import SPACES, distance_space, nearest_distances
from evaluation.sampling import bootstrap_mean_interval
from synthdata.views import subsample, take

QUANTILE = 0.05


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
    no_leak_value = 0.0
    views = tuple(SPACES)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and len(context.holdout) >= 20 and len(context.synthetic) > 0

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        max_rows = context.settings.max_rows
        synthetic = subsample(context.synthetic, min(len(context.synthetic), max_rows), rng)
        n = min(len(context.holdout) // 2, len(context.train), max_rows)
        order = rng.permutation(len(context.holdout))
        halves = [take(context.holdout, np.sort(order[:n])), take(context.holdout, np.sort(order[n:2 * n]))]
        trains = [subsample(context.train, n, rng) for _ in halves]
        space = distance_space(context, sides=[*trains, *halves, synthetic])
        query = space.encode(synthetic)
        encoded_halves = [space.encode(half) for half in halves]
        excess = np.zeros(len(synthetic))
        folds = []
        for fold, (calibration, reference) in enumerate(((0, 1), (1, 0))):
            train = space.encode(trains[fold])
            radius = float(np.quantile(nearest_distances(space, encoded_halves[calibration], train)[:, 0], QUANTILE))
            near_train = nearest_distances(space, query, train)[:, 0] <= radius
            near_reference = nearest_distances(space, query, encoded_halves[reference])[:, 0] <= radius
            excess += (near_train.astype(np.float64) - near_reference.astype(np.float64)) / 2.0
            folds.append({"radius": radius, "near_train": float(near_train.mean()),
                          "near_reference": float(near_reference.mean())})
        details = {
            "radius_median": round(float(np.median([f["radius"] for f in folds])), 4),
            "radius_rule": f"{QUANTILE:.0%} quantile of unseen real records' distance to the closest training record",
            "share_near_train": round(float(np.mean([f["near_train"] for f in folds])), 4),
            "share_near_unseen_real": round(float(np.mean([f["near_reference"] for f in folds])), 4),
            "synthetic_rows_near_train_in_excess": round(float(excess.sum())),
            "fold_excess": [round(f["near_train"] - f["near_reference"], 4) for f in folds],
            "sizes": {"synthetic": len(synthetic), "train_per_fold": n, "unseen_reference": n, "calibration": n,
                      "synthetic_available": len(context.synthetic)},
            "bootstrap": context.settings.bootstrap,
            "encoding_notes": space.notes,
            "seconds": round(time.perf_counter() - started, 1),
        }
        return Measurement(value=float(excess.mean()), details=details,
                           interval=bootstrap_mean_interval(excess, rng=rng, replicates=context.settings.bootstrap))
