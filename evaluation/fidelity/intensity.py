"""Intensity histograms: do the synthetic images use the grey levels (or colours) the real images use?

Per channel, the pixel values of all images of a side are pooled into a histogram on ``BINS`` fixed, public
bins over [-1, 1] (the declared intensity window; values outside are counted in the edge bins).  The distance
between two sides is the total-variation distance of their normalised histograms, ``0.5 * sum |p - q|``: the
share of pixel mass that would have to move to another grey level (0 identical, 1 disjoint).  The value is
the mean over channels of the distance between the real TRAINING images and the synthetic images (each side
at most ``settings.max_rows`` images).  Yardstick: training vs holdout images (``details["real_vs_real"]``).
Both figures carry an upward bias from sampling noise (two samples of one distribution are never at 0), larger
for small sets: compare them at similar sizes.  No interval: a bootstrap of a distance near 0 sits above the
estimate (on BreastMNIST-sized sets the 95% percentile interval did not contain the value), so only the
bootstrap standard error over whole-image resamples of both sides is given (``details["bootstrap_se"]``;
whole images, since the pixels of one image are not independent).

Informative (no default gate): how far the grey levels may drift depends on the modality and the window; a
steward may set a threshold (``fidelity.intensity``).

Figure: the two histograms overlaid per channel.  A real bin fed by fewer than ``MIN_CELL_COUNT`` distinct
images is hidden, so no single image's grey levels can be read off.

Privacy caveat: computed from private images outside the DP guarantee; reports carry pooled histograms with
small cells suppressed and distances only.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import MIN_CELL_COUNT, Audit, AuditContext, Measurement
from evaluation.images.network import one_thread
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from synthdata.views.images import ImageAuditSet

BINS = 64
MIN_IMAGES = 10


def image_histograms(pixels: np.ndarray, *, bins: int = BINS) -> np.ndarray:
    """Counts ``(n, C, bins)`` of each image's pixels per channel on ``bins`` equal bins over [-1, 1]."""
    n, c = pixels.shape[:2]
    index = np.clip(np.floor((np.asarray(pixels, dtype=np.float64) + 1.0) / 2.0 * bins), 0, bins - 1).astype(np.int64)
    flat = index.reshape(n * c, -1) + (np.arange(n * c) * bins)[:, None]
    return np.bincount(flat.ravel(), minlength=n * c * bins).reshape(n, c, bins)


def total_variation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Total-variation distance per channel between pooled counts ``(..., C, bins)``."""
    p = a / a.sum(axis=-1, keepdims=True)
    q = b / b.sum(axis=-1, keepdims=True)
    return 0.5 * np.abs(p - q).sum(axis=-1)


def _bootstrap(real: np.ndarray, synthetic: np.ndarray, *, rng: np.random.Generator, replicates: int) -> np.ndarray:
    """Mean-over-channels TV for ``replicates`` resamples of whole images on both sides."""
    def pooled(histograms: np.ndarray) -> np.ndarray:
        weights = np.stack([np.bincount(rng.integers(0, len(histograms), len(histograms)),
                                        minlength=len(histograms)) for _ in range(replicates)])
        return np.einsum("rn,ncb->rcb", weights.astype(np.float64), histograms)

    return total_variation(pooled(real), pooled(synthetic)).mean(axis=-1)


class IntensityHistogramAudit(Audit):
    """Mean per-channel total-variation distance of pooled pixel-intensity histograms, train vs synthetic."""

    name = "fidelity.intensity"
    category = "fidelity"
    title = "Grey levels (do the synthetic images use the intensities of the real ones?)"
    explanation = (
        "Counts how often each brightness level occurs over all real training images and over all synthetic "
        "images, channel by channel, and measures the share of pixels that would have to change brightness "
        "for the two to match (0: the same, 1: no overlap). The details give the same figure between two sets "
        "of real images."
    )
    direction = "at_most"
    default_threshold = None
    views = (ImageAuditSet,)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and min(len(context.train), len(context.synthetic)) >= MIN_IMAGES

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        histograms = {name: image_histograms(getattr(context, name).subsample(context.settings.max_rows, rng).pixels)
                      for name in ("train", "holdout", "synthetic")}
        real, synthetic = histograms["train"], histograms["synthetic"]
        per_channel = total_variation(real.sum(axis=0), synthetic.sum(axis=0))
        with one_thread():
            boot = _bootstrap(real, synthetic, rng=rng, replicates=context.settings.bootstrap)
        details = {
            "per_channel_tv": [round(float(v), 4) for v in per_channel],
            "bins": BINS,
            "images": {name: len(h) for name, h in histograms.items()},
            "bootstrap_se": round(float(np.std(boot)), 4),
            "bootstrap": context.settings.bootstrap,
        }
        if len(histograms["holdout"]) >= MIN_IMAGES:
            details["real_vs_real"] = round(float(total_variation(real.sum(axis=0),
                                                                  histograms["holdout"].sum(axis=0)).mean()), 4)
        details["seconds"] = round(time.perf_counter() - started, 2)
        return Measurement(value=float(per_channel.mean()), details=details,
                           figures={"Pixel intensities, real vs synthetic": _figure(real, synthetic)})


def suppressed(histograms: np.ndarray) -> np.ndarray:
    """Pooled counts ``(C, bins)`` of real images, NaN where fewer than MIN_CELL_COUNT images contribute."""
    pooled = histograms.sum(axis=0).astype(np.float64)
    pooled[(histograms > 0).sum(axis=0) < MIN_CELL_COUNT] = np.nan
    return pooled


def _figure(real: np.ndarray, synthetic: np.ndarray) -> str:
    """Overlaid shares per bin; several channels are stacked top to bottom, each scaled to its peak."""
    channels = real.shape[1]
    height = 1.0 + 1.4 * channels
    fig, ax = new_figure(width=4.2, height=height, bottom=0.45 / height)
    edges = np.linspace(-1.0, 1.0, real.shape[-1] + 1)
    real_counts, synthetic_counts = suppressed(real), synthetic.sum(axis=0).astype(np.float64)
    for c in range(channels):
        real_share = real_counts[c] / np.nansum(real_counts[c])
        synthetic_share = synthetic_counts[c] / synthetic_counts[c].sum()
        scale = 1.0 if channels == 1 else 0.9 / max(np.nanmax(real_share), synthetic_share.max(), 1e-12)
        ax.stairs(real_share * scale - c, edges, baseline=-c, fill=True, alpha=0.5, color=REAL_COLOR,
                  label=f"real (training; bins from < {MIN_CELL_COUNT} images hidden)" if c == 0 else None)
        ax.stairs(synthetic_share * scale - c, edges, baseline=-c, color=SYNTHETIC_COLOR, linewidth=1.2,
                  label="synthetic" if c == 0 else None)
    if channels > 1:
        ax.set_yticks([])
    ax.set_xlabel("intensity on the declared window, scaled to [-1, 1]", fontsize=7)
    ax.set_ylabel("share of pixels" + (" (channels top to bottom, scaled)" if channels > 1 else ""), fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=5.5, frameon=False, loc="upper left")
    return figure_to_base64(fig)
