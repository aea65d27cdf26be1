"""Distance to closest record (DCR): are synthetic rows closer to training records than to unseen ones?

For each synthetic row we find its nearest training record and its nearest holdout record (rows encoded by
``evaluation.memorization.encoding``: numeric columns scaled by public bounds, a differing categorical
column costs 1).  A generator that learned the population and not the individuals puts a synthetic row
nearer to the training set about as often as nearer to the holdout set, *provided both reference sets have
the same size*: the training set is therefore subsampled to the holdout's size, and both to at most
``settings.max_rows``.  The value is the share of synthetic rows strictly closer to training than to holdout
(ties count one half); 0.5 is ideal, higher means the generator memorised training records.

Caveat on sensitivity: only the training subsample is searched, so a synthetic copy of a training record
outside the subsample looks like an ordinary row.  With a 20% holdout the subsample holds a quarter of the
training set, and a generator that copies records outright scores about 0.5 + 0.5 * (subsample share);
``memorization.exact_copies`` covers outright copies over the full data.

Details also give the nearest-neighbour distance ratio (NNDR: nearest / second-nearest distance) of the
synthetic rows to training and to holdout: a ratio near 0 means a synthetic row sits on one real record and
far from all others (an outlier reproduced), so a lower 5th percentile towards training than towards holdout
is a warning sign even when the share is fine.  The distances are left in ``context.cache[CACHE_KEY]``.

Privacy caveat: the distances are computed from private records outside the DP guarantee; only their
aggregates (shares, medians, a histogram of synthetic rows' distances) are reported.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.memorization.space import distance_space, nearest_distances
from evaluation.report.plots import (
    REAL_COLOR,
    SYNTHETIC_COLOR,
    figure_to_base64,
    new_figure,
)
from evaluation.sampling import bootstrap_mean_interval, subsample

# context.cache entry: the synthetic rows' two nearest distances (n_synthetic, 2) to the (subsampled)
# training and holdout sets and the sizes, for audits or report helpers that need them (kept in memory only).
CACHE_KEY = "memorization.dcr"

# Distances this close (relative 1e-5, absolute 1e-6) count as ties: float32 cannot separate them.
_RTOL = 1e-5
_ATOL = 1e-6


def _ratio(distances: np.ndarray) -> np.ndarray:
    """Nearest / second-nearest distance; 1 when both are zero (a duplicated reference record)."""
    first, second = distances[:, 0], distances[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(second > 0, first / np.where(second > 0, second, 1.0), 1.0)


class DCRShareAudit(Audit):
    """Share of synthetic rows closer to a training record than to any holdout record."""

    name = "memorization.dcr_share"
    category = "memorization"
    title = "Distance to closest record (training vs. holdout)"
    explanation = (
        "For every synthetic row, finds the most similar real patient record in the training data and in "
        "an equally large set of real records that were never used for training (the holdout). If the "
        "generator copied or closely imitated individual training records, synthetic rows would be closer "
        "to the training data much more often than to the holdout. 50% is what a generator that learned "
        "only general patterns gives."
    )
    direction = "at_most"
    default_threshold = 0.55
    modalities = ("table", "ecg", "eeg", "image")

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and len(context.holdout) >= 2

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        max_rows = context.settings.max_rows
        n_reference = min(len(context.holdout), len(context.train), max_rows)
        if n_reference < 2 or len(context.synthetic) == 0:
            return Measurement(value=0.5, not_informative="fewer than 2 holdout rows or no synthetic rows")
        train = subsample(context.train, n_reference, rng)
        holdout = subsample(context.holdout, n_reference, rng)
        synthetic = subsample(context.synthetic, min(len(context.synthetic), max_rows), rng)

        space = distance_space(context, sides=[train, holdout, synthetic])
        query = space.encode(synthetic)
        to_train = nearest_distances(space, query, space.encode(train), k=2)
        to_holdout = nearest_distances(space, query, space.encode(holdout), k=2)
        d_train, d_holdout = to_train[:, 0], to_holdout[:, 0]
        tie = np.isclose(d_train, d_holdout, rtol=_RTOL, atol=_ATOL)
        closer = np.where(tie, 0.5, (d_train < d_holdout).astype(np.float64))
        value = float(closer.mean())

        interval = bootstrap_mean_interval(closer, rng=rng, replicates=context.settings.bootstrap)
        context.cache[CACHE_KEY] = {"synthetic_to_train": to_train, "synthetic_to_holdout": to_holdout,
                                    "sizes": {"synthetic": len(synthetic), "train": len(train),
                                              "holdout": len(holdout)}}

        ratio_train, ratio_holdout = _ratio(to_train), _ratio(to_holdout)
        details = {
            "sizes": {"synthetic": len(synthetic), "train": len(train), "holdout": len(holdout),
                      "train_available": len(context.train), "holdout_available": len(context.holdout)},
            "share_closer_to_train": round(float((closer == 1.0).mean()), 4),
            "share_ties": round(float(tie.mean()), 4),
            "share_at_distance_zero_from_train": round(float((d_train <= _ATOL).mean()), 4),
            "median_dcr_train": round(float(np.median(d_train)), 4),
            "median_dcr_holdout": round(float(np.median(d_holdout)), 4),
            "dcr_train_5th_percentile": round(float(np.quantile(d_train, 0.05)), 4),
            "dcr_holdout_5th_percentile": round(float(np.quantile(d_holdout, 0.05)), 4),
            "nndr_train_median": round(float(np.median(ratio_train)), 4),
            "nndr_holdout_median": round(float(np.median(ratio_holdout)), 4),
            "nndr_train_5th_percentile": round(float(np.quantile(ratio_train, 0.05)), 4),
            "nndr_holdout_5th_percentile": round(float(np.quantile(ratio_holdout, 0.05)), 4),
            "bootstrap": context.settings.bootstrap,
            "encoding_notes": space.notes,
            "seconds": round(time.perf_counter() - started, 1),
        }
        return Measurement(value=value, interval=interval, details=details,
                           figures={"Distance to closest record": _histogram(d_train, d_holdout)})


def _histogram(d_train: np.ndarray, d_holdout: np.ndarray) -> str:
    """Histogram of the synthetic rows' DCR to training vs. to holdout (counts of synthetic rows)."""
    fig, ax = new_figure(width=4.2, height=2.6)
    top = float(np.quantile(np.concatenate([d_train, d_holdout]), 0.99)) or 1.0
    edges = np.linspace(0.0, top, 31)
    ax.hist(np.clip(d_train, 0, top), bins=edges, color=REAL_COLOR, alpha=0.6, label="to training")
    ax.hist(np.clip(d_holdout, 0, top), bins=edges, histtype="step", color=SYNTHETIC_COLOR, linewidth=1.5,
            label="to holdout")
    ax.set_xlabel("distance to closest real record", fontsize=7)
    ax.set_ylabel("synthetic rows", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False)
    return figure_to_base64(fig)
