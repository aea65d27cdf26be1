"""Structural near-copies: synthetic images that look like a training image, beyond what chance explains.

For each synthetic image we take its nearest training image and its nearest holdout image by the pixel
distance of the memorization audits (shift-tolerant RMS difference, ``evaluation.images.similarity``) and
compute the structural similarity (SSIM, Wang et al. 2004, aligned over the same one-pixel shifts) of each
pair.  A pair at SSIM >= ``SSIM_THRESHOLD`` (0.9) looks the same to a reader: same structures at the same
places, differing by noise.  The value is the **excess structural near-copy rate**

    share of synthetic images with SSIM >= 0.9 to their nearest training image
    - share of synthetic images with SSIM >= 0.9 to their nearest holdout image,

with the training set subsampled to the holdout's size (both at most ``settings.max_rows``) so that both
reference sets are equally dense, as in ``memorization.dcr_share``.  The subtraction matters on real data:
in BreastMNIST, 5% of the val/test images have a training image at SSIM above 0.99 (the data set holds near
duplicates), so a fixed "how many are above 0.9" would flag even fresh real images.

Why SSIM beside the L2 audits: L2 is dominated by brightness and contrast, SSIM by structure; a copy whose
grey levels were rescaled is far in L2 and close in SSIM.  The pairs are found by L2 (an SSIM search over all
pairs would be hundreds of times slower), so SSIM judges the closest candidates, not every image.

Figures measured on generated 28x28 populations and BreastMNIST: fresh images reach a nearest-image SSIM of
0.49 (median; blobs at most 0.73); training copies with Gaussian noise of sd 0.02 score 0.99, sd 0.05 0.94
(5th percentile 0.89), sd 0.1 0.81 (left to ``memorization.near_copies``, whose L2 radius catches them);
copies moved by one pixel score 1.0.

Gate: the upper end of the bootstrap 95% interval (over synthetic images; the references are held fixed) at
most 0.1, twice the ``memorization.near_copies`` threshold, for a measured reason: on BreastMNIST split at
random into 390 training, 195 holdout and 195 "synthetic" real images, the excess of these fresh real
images ranged from -0.02 to 0.06 over eight splits (upper interval ends 0.04..0.12, above 0.05 in five):
the data set's near duplicates fall into train or holdout by chance, a variation the interval does not
carry (at 0.1, one of the eight splits still fails, with only 195 synthetic images to bootstrap over; with
thousands of synthetic images the interval narrows to the value).  At 0.1 a generator copying all its
images still fails whenever the searched training subsample holds more than about a tenth of the training
set, and the finer L2 gate of near copies stays in place.
Sensitivity caveat as there: a copy of a training image outside the searched subsample is not seen.

Privacy caveat: computed from private images outside the DP guarantee; only shares, SSIM quantiles and a
histogram of the synthetic images' similarities are reported, never an image or which image was matched.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.images.similarity import ImageSpace, aligned_ssim
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from evaluation.sampling import bootstrap_mean_interval
from synthdata.views import subsample
from synthdata.views.images import ImageAuditSet

SSIM_THRESHOLD = 0.9
MIN_SIDE = 16  # the SSIM window (11 pixels) and the shift margin must fit


class SSIMCopiesAudit(Audit):
    """Excess share of synthetic images at SSIM >= 0.9 to their nearest training vs nearest holdout image."""

    name = "memorization.image_ssim"
    category = "memorization"
    title = "Images that look like a training image (structural similarity)"
    explanation = (
        "For every synthetic image, finds the most similar real training image and the most similar real image "
        "never used for training, and asks whether the two look the same (structural similarity of at least "
        "0.9 of 1: the same shapes in the same places). The value is how many more synthetic images look like "
        "a training image than look like an unseen one: about 0 means the generator did not reproduce "
        "training images; a clearly positive share means it did."
    )
    direction = "at_most"
    default_threshold = 0.1
    no_leak_value = 0.0
    views = (ImageAuditSet,)

    def applies_to(self, context: AuditContext) -> bool:
        return (super().applies_to(context) and len(context.holdout) >= 20 and len(context.synthetic) > 0
                and min(context.synthetic.pixels.shape[-2:]) >= MIN_SIDE)

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        n = min(len(context.holdout), len(context.train), context.settings.max_rows)
        references = {"train": subsample(context.train, n, rng), "holdout": subsample(context.holdout, n, rng)}
        synthetic = subsample(context.synthetic, min(len(context.synthetic), context.settings.max_rows), rng)
        space = ImageSpace()
        query = space.encode(synthetic)
        similarity = {}
        for name, side in references.items():
            encoded = space.encode(side)
            nearest = space.neighbours(query, encoded, k=1)[1][:, 0]
            similarity[name] = aligned_ssim(query, encoded[nearest])
        above = {name: (s >= SSIM_THRESHOLD).astype(np.float64) for name, s in similarity.items()}
        excess = above["train"] - above["holdout"]
        details = {
            "share_above_threshold_train": round(float(above["train"].mean()), 4),
            "share_above_threshold_holdout": round(float(above["holdout"].mean()), 4),
            "ssim_threshold": SSIM_THRESHOLD,
            "ssim_to_nearest": {name: {"median": round(float(np.median(s)), 4),
                                       "95th_percentile": round(float(np.quantile(s, 0.95)), 4)}
                                for name, s in similarity.items()},
            "pairs_found_by": space.notes[0],
            "sizes": {"synthetic": len(synthetic), "train": n, "holdout": n,
                      "train_available": len(context.train), "synthetic_available": len(context.synthetic)},
            "bootstrap": context.settings.bootstrap,
            "seconds": round(time.perf_counter() - started, 2),
        }
        return Measurement(value=float(excess.mean()), details=details,
                           interval=bootstrap_mean_interval(excess, rng=rng, replicates=context.settings.bootstrap),
                           figures={"SSIM of synthetic images to their nearest real image": _figure(similarity)})


def _figure(similarity: dict[str, np.ndarray]) -> str:
    """Histogram of the synthetic images' SSIM to their nearest training vs nearest holdout image."""
    fig, ax = new_figure(width=4.2, height=2.4)
    edges = np.linspace(min(0.0, *(float(s.min()) for s in similarity.values())), 1.0, 41)
    ax.hist(similarity["train"], bins=edges, color=REAL_COLOR, alpha=0.6, label="to nearest training image")
    ax.hist(similarity["holdout"], bins=edges, histtype="step", color=SYNTHETIC_COLOR, linewidth=1.5,
            label="to nearest holdout image")
    ax.axvline(SSIM_THRESHOLD, color="#999999", linestyle="--", linewidth=0.8)
    ax.set_xlabel("structural similarity (SSIM)", fontsize=7)
    ax.set_ylabel("synthetic images", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False, loc="upper left")
    return figure_to_base64(fig)
