"""Precision, recall, density and coverage of synthetic images (Naeem et al., ICML 2020), in encoder features.

Each real image's feature vector gets a ball reaching to its ``K``-th nearest real neighbour (K = 5, the
paper's choice); likewise each synthetic image among the synthetic ones.  With real = the HOLDOUT images
(seen by neither the generator nor the encoder, ``evaluation.images.encoder``) and the same number of synthetic
images:

- precision: share of synthetic images inside some real ball (realistic images);
- recall: share of real images inside some synthetic ball (the real variety is produced);
- density: mean number of real balls holding a synthetic image, over K (about 1 when the synthetic images are
  spread like the real ones, above 1 when they crowd into dense real regions);
- coverage: share of real images whose ball holds at least one synthetic image.  For two samples of one
  distribution its expectation is about ``1 - 2^-K`` (0.97 at K = 5, the paper's Lemma 2 with equal sizes).

The value is coverage (direction: higher is better): the paper's recommended figure, bounded, robust to
outlying synthetic images and it drops both when synthetic images are unrealistic and when they collapse onto
a few modes.  A ball includes its boundary (``<=``), which changes nothing for continuous features and keeps
duplicated points inside each other's balls.  Yardstick: the same four figures for as many real training
images (``details["real_vs_real"]``).  The three sets are subsampled to one size (at most
``settings.max_rows``) because recall and coverage depend on the sizes.

Why not the ``prdc`` package: it prints on every call, computes distances with eight joblib workers and uses
strict inequalities; the definitions are a few lines over a distance matrix computed here anyway.

Informative (no default gate): useful thresholds depend on the data set and on the encoder.

Privacy caveat: computed from private images outside the DP guarantee; only the four shares are reported.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from evaluation.base import AuditContext, Measurement
from evaluation.images.encoder import FeatureAudit, audit_embeddings, sample_rows
from evaluation.images.network import one_thread
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure

K = 5
METRICS = ("precision", "recall", "density", "coverage")


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with one_thread():
        return torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def _radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its ``k``-th nearest other point."""
    return np.partition(_distances(points, points), k, axis=1)[:, k]  # column 0 is the point itself


def prdc(*, real: np.ndarray, synthetic: np.ndarray, k: int = K) -> dict[str, float]:
    """Precision, recall, density and coverage of ``synthetic`` against ``real`` feature sets (rows)."""
    real_radii, synthetic_radii = _radii(real, k), _radii(synthetic, k)
    between = _distances(real, synthetic)  # (real, synthetic)
    inside_real = between <= real_radii[:, None]
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float((between <= synthetic_radii[None, :]).any(axis=1).mean()),
        "density": float(inside_real.sum(axis=0).mean() / k),
        "coverage": float(inside_real.any(axis=1).mean()),
    }


def expected_coverage(*, n_real: int, n_synthetic: int, k: int = K) -> float:
    """Coverage expected when both samples come from one distribution (Naeem et al. 2020, Lemma 2)."""
    ratio = np.prod([(n_real - i) / (n_real + n_synthetic - i) for i in range(1, k + 1)])
    return float(1.0 - ratio)


class PRDCAudit(FeatureAudit):
    """Coverage (value) with precision, recall and density, synthetic vs real holdout, k = 5 feature balls."""

    name = "fidelity.prdc"
    category = "fidelity"
    title = "Realism and variety of the images (precision, recall, density, coverage)"
    explanation = (
        "Describes every image by features a small network learned from the real training images, and draws a "
        "small neighbourhood around each real image. Precision: how many synthetic images fall near real ones "
        "(are realistic). Recall: how many real images have synthetic ones nearby (is the real variety "
        "produced). Density: how crowded the synthetic images are near real ones (1 is as crowded as real "
        "images). Coverage, the value: how many real neighbourhoods contain a synthetic image; about 0.97 for "
        "a perfect generator, low when synthetic images are unrealistic or all alike."
    )
    direction = "at_least"

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        embeddings = audit_embeddings(context)
        rng = context.rng(self.name)
        sides = {"holdout": embeddings.holdout, "synthetic": embeddings.synthetic, "train": embeddings.train}
        n = min(len(v) for v in sides.values())
        sides = {name: sample_rows(v, n, rng) for name, v in sides.items()}
        scores = {"synthetic": prdc(real=sides["holdout"], synthetic=sides["synthetic"]),
                  "real_vs_real": prdc(real=sides["holdout"], synthetic=sides["train"])}
        details = {
            **{metric: round(scores["synthetic"][metric], 4) for metric in METRICS},
            "real_vs_real": {metric: round(scores["real_vs_real"][metric], 4) for metric in METRICS},
            "expected_coverage_same_distribution": round(expected_coverage(n_real=n, n_synthetic=n), 4),
            "neighbours_k": K,
            "images_per_side": n,
            "reference": "real holdout images; yardstick: as many real training images in place of synthetic",
            "encoder": embeddings.notes,
            "seconds": round(time.perf_counter() - started, 2),
        }
        return Measurement(value=scores["synthetic"]["coverage"], details=details,
                           figures={"Precision, recall, density, coverage": _figure(scores)})


def _figure(scores: dict[str, dict[str, float]]) -> str:
    fig, ax = new_figure(width=4.0, height=2.3)
    x = np.arange(len(METRICS))
    ax.bar(x - 0.2, [scores["real_vs_real"][m] for m in METRICS], width=0.4, color=REAL_COLOR,
           label="real training vs real holdout")
    ax.bar(x + 0.2, [scores["synthetic"][m] for m in METRICS], width=0.4, color=SYNTHETIC_COLOR,
           label="synthetic vs real holdout")
    ax.set_xticks(x, list(METRICS), fontsize=6)
    ax.axhline(1.0, color="#999999", linewidth=0.6, linestyle="--")
    ax.tick_params(axis="y", labelsize=6)
    ax.set_ylim(0, max(1.35, 1.15 * max(scores[side]["density"] for side in scores)))
    ax.legend(fontsize=6, frameon=False, loc="upper center", ncol=2)
    return figure_to_base64(fig)
