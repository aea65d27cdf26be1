"""Amplitude and cross-channel fidelity: are the synthetic values and channel couplings like the real ones?

- Per channel, the two-sample Kolmogorov-Smirnov statistic between the sample values of the real training
  windows and of the synthetic windows (each side pooled over up to ``settings.max_rows`` windows and
  thinned to at most ``MAX_VALUES`` values).  The value is the mean over channels, in [0, 1].
- Cross-channel coupling (details): the Pearson correlation matrix of the channels, averaged over windows,
  real vs synthetic; the mean absolute difference of the off-diagonal entries.
- The same figures between real training and real holdout windows are given as a yardstick.

Informative (no default gate); a steward may set one (``fidelity.amplitude``).  The plot is a histogram of
one channel's values on the DECLARED amplitude range; a real bin whose values come from fewer than
``MIN_CELL`` distinct windows is hidden (small-cell rule), so no single recording's shape can be read off.

Privacy caveat: computed from private windows outside the DP guarantee; reports carry distances, averaged
correlation matrices and suppressed histograms only.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.stats import ks_2samp

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from synthdata.views.signals import SignalSet

MAX_VALUES = 200_000
MIN_CELL = 10
MIN_WINDOWS = 10


def _values(data: np.ndarray, channel: int, rng: np.random.Generator) -> np.ndarray:
    values = data[:, channel, :].ravel()
    return values if len(values) <= MAX_VALUES else rng.choice(values, size=MAX_VALUES, replace=False)


def amplitude_distances(real: np.ndarray, synthetic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """KS statistic per channel between pooled values of two window sets ``(n, C, L)``."""
    return np.array([ks_2samp(_values(real, c, rng), _values(synthetic, c, rng)).statistic
                     for c in range(real.shape[1])])


def mean_correlation(data: np.ndarray) -> np.ndarray:
    """Channel correlation matrix averaged over windows (a flat channel counts as uncorrelated)."""
    centred = data - data.mean(axis=-1, keepdims=True)
    norms = np.sqrt((centred ** 2).sum(axis=-1))
    norms[norms == 0] = np.inf
    unit = centred / norms[..., None]
    return np.einsum("ncl,ndl->cd", unit, unit) / len(data)


def correlation_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the off-diagonal entries of two mean correlation matrices."""
    c = a.shape[1]
    if c < 2:
        return 0.0
    off = ~np.eye(c, dtype=bool)
    return float(np.abs(mean_correlation(a)[off] - mean_correlation(b)[off]).mean())


class AmplitudeAudit(Audit):
    """Mean per-channel KS distance of sample values; cross-channel correlation gap in the details."""

    name = "fidelity.amplitude"
    category = "fidelity"
    title = "Amplitudes and channel coupling (are the values and their co-movement realistic?)"
    explanation = (
        "Compares how often each voltage level occurs in real and synthetic signals, channel by channel "
        "(0: the same distribution, 1: no overlap), and whether channels that rise and fall together in the "
        "real recordings also do so in the synthetic ones."
    )
    direction = "at_most"
    default_threshold = None
    views = (SignalSet,)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and min(len(context.train), len(context.synthetic)) >= MIN_WINDOWS

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        sides: dict[str, SignalSet] = context.subsampled(rng)
        real, synthetic = sides["train"].data, sides["synthetic"].data
        per_channel = amplitude_distances(real, synthetic, rng)
        details = {
            "per_channel_ks": {c: round(float(v), 4) for c, v in zip(context.schema.channels, per_channel)},
            "correlation_gap": round(correlation_gap(real, synthetic), 4),
            "windows": {k: len(v) for k, v in sides.items()},
        }
        if len(sides["holdout"]) >= MIN_WINDOWS:
            details["real_vs_real"] = {
                "mean_ks": round(float(amplitude_distances(real, sides["holdout"].data, rng).mean()), 4),
                "correlation_gap": round(correlation_gap(real, sides["holdout"].data), 4),
            }
        details["seconds"] = round(time.perf_counter() - started, 2)
        figures = {f"Values of channel {context.schema.channels[0]}, real vs synthetic":
                   _histogram(real, synthetic, context.schema.amplitude, context.schema.units[0])}
        return Measurement(value=float(per_channel.mean()), details=details, figures=figures)


def suppressed_histogram(real: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of channel-0 values per bin, NaN where fewer than MIN_CELL distinct windows contribute."""
    values = np.clip(real[:, 0, :], edges[0], edges[-1])
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    counts = np.stack([np.bincount(row, minlength=len(edges) - 1) for row in bins])  # (windows, bins)
    totals = counts.sum(axis=0).astype(float)
    totals[(counts > 0).sum(axis=0) < MIN_CELL] = np.nan
    return totals


def _histogram(real: np.ndarray, synthetic: np.ndarray, amplitude: tuple[float, float], unit: str) -> str:
    edges = np.linspace(amplitude[0], amplitude[1], 41)
    real_counts = suppressed_histogram(real, edges)
    synthetic_counts = np.histogram(np.clip(synthetic[:, 0, :], edges[0], edges[-1]), bins=edges)[0].astype(float)
    fig, ax = new_figure(width=4.2, height=2.4)
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    ax.bar(centres, real_counts / np.nansum(real_counts), width=width, color=REAL_COLOR, alpha=0.6,
           label="real (training; bins from < 10 windows hidden)")
    ax.bar(centres, synthetic_counts / synthetic_counts.sum(), width=width, color=SYNTHETIC_COLOR, alpha=0.6,
           label="synthetic")
    ax.set_xlabel(f"value ({unit}), declared range", fontsize=7)
    ax.set_ylabel("share of samples", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=5, frameon=False)
    return figure_to_base64(fig)
