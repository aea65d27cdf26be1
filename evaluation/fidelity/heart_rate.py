"""Heart rhythm fidelity (ECG): do synthetic windows beat at realistic rates with realistic RR intervals?

R peaks are found in the first lead of every window with wfdb's XQRS detector
(``wfdb.processing.xqrs_detect``); the intervals between consecutive peaks (RR, seconds) are pooled per
side.  The value is the two-sample Kolmogorov-Smirnov statistic between the real training and the
synthetic RR distributions (0: the same).  The details give median heart rates (60 / median RR), the
share of windows where fewer than two beats were found, and the same distance between real training and
real holdout windows as a yardstick.

Applies to ECG windows of at least ``MIN_SECONDS`` (beat-centred segments hold one beat: no RR interval).
At most ``MAX_WINDOWS`` windows per side are searched (about 10 ms each).  Informative (no default gate).

Privacy caveat: computed from private windows outside the DP guarantee; only pooled-interval distances,
medians and shares are reported.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.stats import ks_2samp

from evaluation.base import Audit, AuditContext, Measurement
from synthdata.views.signals import SignalSet

MIN_SECONDS = 3.0
MAX_WINDOWS = 500
MIN_INTERVALS = 20


def rr_intervals(side: SignalSet, *, fs: float) -> tuple[np.ndarray, float]:
    """Pooled RR intervals (s) of the first lead, and the share of windows with fewer than two beats."""
    from wfdb import processing

    intervals, sparse = [], 0
    for window in side.data:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                peaks = processing.xqrs_detect(sig=np.asarray(window[0], dtype=np.float64), fs=fs, verbose=False)
            except (ValueError, IndexError):  # a flat or degenerate window: no beats
                peaks = np.array([], dtype=int)
        if len(peaks) < 2:
            sparse += 1
            continue
        intervals.append(np.diff(peaks) / fs)
    pooled = np.concatenate(intervals) if intervals else np.array([])
    return pooled, sparse / max(len(side), 1)


class HeartRateAudit(Audit):
    """KS distance between real and synthetic RR-interval distributions (XQRS R peaks, first lead)."""

    name = "fidelity.heart_rate"
    category = "fidelity"
    title = "Heart rhythm (do synthetic ECGs beat like real ones?)"
    explanation = (
        "Finds the heartbeats in every real and synthetic ECG with a standard beat detector and compares the "
        "time between beats. 0 means the same distribution of beat-to-beat intervals (the same heart rates "
        "and the same irregularity); 1 means no overlap."
    )
    direction = "at_most"
    default_threshold = None
    views = (SignalSet,)

    def applies_to(self, context: AuditContext) -> bool:
        return (super().applies_to(context) and context.schema.kind == "ecg"
                and context.train.data.shape[-1] / context.schema.fs >= MIN_SECONDS
                and min(len(context.train), len(context.synthetic)) >= 10)

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        fs = context.schema.fs
        found = {name: rr_intervals(getattr(context, name).subsample(MAX_WINDOWS, rng), fs=fs)
                 for name in ("train", "holdout", "synthetic")}
        real, synthetic = found["train"][0], found["synthetic"][0]
        details = {
            "median_heart_rate_bpm": {name: round(60.0 / float(np.median(rr)), 1) if len(rr) else None
                                      for name, (rr, _) in found.items()},
            "share_windows_without_two_beats": {name: round(share, 3) for name, (_, share) in found.items()},
            "intervals": {name: len(rr) for name, (rr, _) in found.items()},
            "detector": "wfdb.processing.xqrs_detect on the first lead",
        }
        if min(len(real), len(synthetic)) < MIN_INTERVALS:
            return Measurement(value=1.0, details=details, not_informative=(
                f"fewer than {MIN_INTERVALS} beat-to-beat intervals found (real {len(real)}, synthetic "
                f"{len(synthetic)}): the synthetic or real windows hold too few detectable beats"))
        if len(found["holdout"][0]) >= MIN_INTERVALS:
            details["real_vs_real_ks"] = round(float(ks_2samp(real, found["holdout"][0]).statistic), 4)
        details["seconds"] = round(time.perf_counter() - started, 2)
        return Measurement(value=float(ks_2samp(real, synthetic).statistic), details=details)
