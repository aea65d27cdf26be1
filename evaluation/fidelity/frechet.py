"""Fréchet distance and KID between synthetic and real images, in the features of an in-audit encoder.

Features come from ``evaluation.images.encoder`` (fitted on the real training images of the run, standardised;
no downloaded Inception weights).  Both figures compare the SYNTHETIC images with the real HOLDOUT images,
which neither the generator nor the encoder saw:

- Fréchet distance (Heusel et al. 2017): ``|mu_s - mu_h|^2 + tr(S_s) + tr(S_h) - 2 tr((S_s S_h)^(1/2))`` of the
  two sets' feature means and covariances.  The trace of the matrix square root is computed as the sum of the
  square roots of the eigenvalues of ``S_h^(1/2) S_s S_h^(1/2)`` (symmetric, so ``eigh`` and no complex parts,
  where ``scipy.linalg.sqrtm`` of the non-symmetric product needs clean-up).
- KID (Binkowski et al. 2018): the unbiased estimate of the squared MMD with the cubic polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3``.  Unlike the Fréchet distance it has no bias that depends on the sample
  size, so it reads the same for a small holdout.  Its interval is the 2.5-97.5 percentile range of KID over
  ``SUBSETS`` random subsets of half the images of each side, at most ``SUBSET_CAP`` (the paper's subset
  estimate uses 1,000), so it is the spread at half size: about 1.4 times wider than at full size, i.e.
  conservative.

Yardstick: the same figures for a subsample of the real TRAINING images as large as the synthetic set, against
the same holdout (``details["real_vs_real"]``): what a generator as good as fresh real data would score, up to
the encoder having seen those training images (which makes the yardstick a little pessimistic).  Sizes are
equal so that the Fréchet distance's small-sample bias is the same on both sides.

Why no library: torchmetrics, torch-fidelity and piq are not installed and fix the features to downloaded
networks; with our own features the formulas are a few lines of numpy.

Informative (no default gate): the scale of both figures depends on the encoder, which is fitted anew for each
data set, so no fixed threshold means the same everywhere; read them against the yardstick.  A steward may set
a threshold (``fidelity.frechet``) for a data set they know.

Privacy caveat: computed from private images outside the DP guarantee; only distances of feature means and
covariances over many images are reported, never an image or its features.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import AuditContext, Measurement
from evaluation.images.encoder import FeatureAudit, audit_embeddings, sample_rows
from evaluation.images.network import one_thread
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from evaluation.sampling import percentile_interval

SUBSETS = 100
SUBSET_CAP = 1000


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` (rows are images)."""
    mean = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_b = _psd_sqrt(cov_b)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_b @ cov_a @ root_b), 0.0, None)).sum()
    return float(max(mean @ mean + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross, 0.0))


def _mean_kernel(x: np.ndarray, y: np.ndarray, *, same: bool, block: int = 1024) -> float:
    """Mean of ``(x.y / d + 1)^3`` over the pairs of rows of ``x`` and ``y`` (distinct pairs when ``same``),
    in blocks of rows so that memory stays bounded."""
    d = x.shape[1]
    total = sum(float(((x[i:i + block] @ y.T / d + 1.0) ** 3).sum()) for i in range(0, len(x), block))
    if not same:
        return total / (len(x) * len(y))
    total -= float((((x * x).sum(axis=1) / d + 1.0) ** 3).sum())
    return total / (len(x) * (len(x) - 1))


def kernel_inception_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased squared MMD between ``a`` and ``b`` with the kernel ``(x.y / d + 1)^3``."""
    return _mean_kernel(a, a, same=True) + _mean_kernel(b, b, same=True) - 2.0 * _mean_kernel(a, b, same=False)


def kid_subsets(a: np.ndarray, b: np.ndarray, *, rng: np.random.Generator, subsets: int = SUBSETS) -> np.ndarray:
    """KID over ``subsets`` random pairs of subsets of half of each side (at most ``SUBSET_CAP`` images),
    drawn without replacement."""
    m, n = (int(np.clip(len(side) // 2, 2, SUBSET_CAP)) for side in (a, b))
    return np.array([kernel_inception_distance(a[rng.choice(len(a), m, replace=False)],
                                               b[rng.choice(len(b), n, replace=False)]) for _ in range(subsets)])


def _scores(side: np.ndarray, holdout: np.ndarray, rng: np.random.Generator) -> dict:
    kid = kernel_inception_distance(side, holdout)
    return {"frechet": frechet_distance(side, holdout), "kid": kid,
            "kid_interval": percentile_interval(kid_subsets(side, holdout, rng=rng))}


class FrechetAudit(FeatureAudit):
    """Fréchet distance (value) and KID, synthetic vs real holdout, in in-audit encoder features."""

    name = "fidelity.frechet"
    category = "fidelity"
    title = "Image realism in learned features (Fréchet distance and KID)"
    explanation = (
        "A small network trained on the real training images describes every image by a list of features "
        "(shapes, textures, intensities). The Fréchet distance compares the average and the spread of these "
        "features between the synthetic images and real images the generator never saw; KID compares them in "
        "another way that does not depend on how many images there are. 0 means indistinguishable. For "
        "comparison, the details give the same figures between two sets of real images."
    )
    direction = "at_most"

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        embeddings = audit_embeddings(context)
        rng = context.rng(self.name)
        n = min(len(embeddings.synthetic), len(embeddings.train))
        synthetic, train = (sample_rows(side, n, rng) for side in (embeddings.synthetic, embeddings.train))
        with one_thread():
            scores = {"synthetic": _scores(synthetic, embeddings.holdout, rng),
                      "real_vs_real": _scores(train, embeddings.holdout, rng)}
        yardstick = scores["real_vs_real"]
        details = {
            "kid": round(scores["synthetic"]["kid"], 5),
            "kid_interval": _rounded(scores["synthetic"]["kid_interval"]),
            "real_vs_real": {"frechet": round(yardstick["frechet"], 4), "kid": round(yardstick["kid"], 5),
                             "kid_interval": _rounded(yardstick["kid_interval"]),
                             "compared": "real training subsample vs real holdout"},
            "frechet_over_real_vs_real": round(scores["synthetic"]["frechet"] / max(yardstick["frechet"], 1e-12), 3),
            "images": {"synthetic": n, "training_subsample": n, "holdout": len(embeddings.holdout)},
            "kid_interval_rule": (f"2.5-97.5 percentiles over {SUBSETS} pairs of half-size subsets "
                                  f"(at most {SUBSET_CAP} images each)"),
            "encoder": embeddings.notes,
            "seconds": round(time.perf_counter() - started, 2),
        }
        return Measurement(value=scores["synthetic"]["frechet"], details=details,
                           figures={"Fréchet distance and KID, synthetic vs real-vs-real": _figure(scores)})


def _rounded(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(v, 5) for v in interval]


def _figure(scores: dict[str, dict]) -> str:
    fig, axes = new_figure(width=4.4, height=2.3, bottom=0.2)
    axes.set_position([0.1, 0.2, 0.36, 0.66])
    kid_axes = fig.add_axes([0.6, 0.2, 0.36, 0.66])
    names, colours = ["real_vs_real", "synthetic"], [REAL_COLOR, SYNTHETIC_COLOR]
    labels = ["real vs real", "synthetic vs real"]
    axes.bar(labels, [scores[n]["frechet"] for n in names], color=colours)
    kid = np.array([scores[n]["kid"] for n in names])
    low_high = np.array([scores[n]["kid_interval"] or (scores[n]["kid"],) * 2 for n in names])
    error = np.clip(np.vstack([kid - low_high[:, 0], low_high[:, 1] - kid]), 0.0, None)
    kid_axes.bar(labels, kid, yerr=error, color=colours, capsize=3)
    for ax, title in ((axes, "Fréchet distance"), (kid_axes, "KID (subset interval)")):
        ax.set_title(title, fontsize=7)
        ax.tick_params(labelsize=6)
    return figure_to_base64(fig)
