"""Pixel-space similarity of images, for the memorization and membership audits: shift-tolerant L2 and SSIM.

Distance (:class:`ImageSpace`).  Two images ``q`` and ``r`` on the [-1, 1] scale are compared by the root
mean square difference of their pixels (Euclidean distance divided by the square root of the number of
values compared, so the figure reads "typical per-pixel difference" whatever the image size: 0 for a copy,
2 for black against white) tolerating a translation of up to ``MAX_SHIFT`` pixel in each direction: the
central crop of ``r`` (``MAX_SHIFT`` pixels off every border) is compared with the window of ``q`` at each
of the ``(2 MAX_SHIFT + 1)^2`` offsets, and the smallest difference counts.  Why shift tolerance: a generator
that returns a training image moved by one pixel is still copying it, and plain L2 over a textured image
(ultrasound speckle) would call such a copy far.  Images whose long side exceeds ``MAX_SIDE`` are first
area-resampled to it (public choice, as in ``evaluation.images.network``).  The search runs in float32 by
matrix products; the ``k`` nearest are then recomputed exactly in float64 among the ``k + _SPARE`` best
float32 candidates, so a copy is at distance 0 (the audits' tie and zero-distance rules rely on it).

SSIM (:func:`ssim`).  The structural similarity of Wang et al. (2004) with their settings: an 11-tap
Gaussian window of sd 1.5 (truncated at 3.5 sd), K1 = 0.01, K2 = 0.03, dynamic range L = 2 (the [-1, 1]
scale), population (not sample) covariances; the SSIM map is averaged over the pixels whose window lies
inside the image (5 pixels off each border) and over channels.  This equals
``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=2)``; scikit-image is not a dependency here, so it is written with ``scipy.ndimage``.
:func:`aligned_ssim` takes the largest SSIM over the same offsets as the distance.

Privacy caveat: distances and similarities are computed between private images outside the DP guarantee;
the audits report only their aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from evaluation.images.network import MAX_SIDE, as_input, one_thread
from synthdata.views.images import ImageAuditSet

MAX_SHIFT = 1
_SPARE = 8
_SIGMA, _TRUNCATE, _K1, _K2, _RANGE = 1.5, 3.5, 0.01, 0.03, 2.0


def _shift(shape: tuple[int, ...]) -> int:
    """The shift tolerance used for images of ``shape`` (none for images too small to crop)."""
    return MAX_SHIFT if min(shape[-2:]) > 4 * MAX_SHIFT else 0


def offsets(shift: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]


def window(images: np.ndarray | torch.Tensor, offset: tuple[int, int], shift: int):
    """The ``(H - 2 shift) x (W - 2 shift)`` window of each image moved by ``offset`` from the centre crop."""
    h, w = images.shape[-2:]
    dy, dx = offset
    return images[..., shift + dy:h - shift + dy, shift + dx:w - shift + dx]


class ImageSpace:
    """Encodes ImageAuditSets to pixel arrays; distance: shift-tolerant RMS pixel difference (see module)."""

    def __init__(self) -> None:
        self.notes = [(f"pixel RMS difference on the [-1, 1] scale, shifts up to {MAX_SHIFT} pixel, images "
                       f"larger than {MAX_SIDE} pixels area-resampled to {MAX_SIDE}")]

    def encode(self, side: ImageAuditSet) -> np.ndarray:
        return as_input(side.pixels).numpy()

    def stack(self, encoded: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(list(encoded), axis=0)

    def take(self, encoded: np.ndarray, index: np.ndarray) -> np.ndarray:
        return encoded[index]

    def neighbours(self, query: np.ndarray, reference: np.ndarray, *, k: int = 1,
                   chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        with one_thread():
            return self._neighbours(query, reference, k=k, chunk=chunk)

    def _neighbours(self, query: np.ndarray, reference: np.ndarray, *, k: int,
                    chunk: int) -> tuple[np.ndarray, np.ndarray]:
        if len(reference) < k:
            raise ValueError(f"need at least {k} reference images, got {len(reference)}")
        shift = _shift(query.shape)
        crop = window(torch.from_numpy(reference), (0, 0), shift).reshape(len(reference), -1)
        crop_t, crop_sq, crop64 = crop.T.contiguous(), crop.square().sum(dim=1), crop.double().numpy()
        candidates = min(k + _SPARE, len(reference))
        distances = np.empty((len(query), k))
        indices = np.empty((len(query), k), dtype=np.int64)
        for start in range(0, len(query), chunk):
            q = torch.from_numpy(query[start:start + chunk])
            best = torch.full((len(q), len(reference)), np.inf)
            for offset in offsets(shift):
                moved = window(q, offset, shift).reshape(len(q), -1)
                squared = moved.square().sum(dim=1, keepdim=True) + crop_sq - 2.0 * moved @ crop_t
                torch.minimum(best, squared, out=best)
            top = torch.topk(best, candidates, dim=1, largest=False).indices.numpy()
            exact = _exact(query[start:start + chunk], crop64, top, shift)
            order = np.argsort(exact, axis=1, kind="stable")[:, :k]
            distances[start:start + len(q)] = np.take_along_axis(exact, order, axis=1)
            indices[start:start + len(q)] = np.take_along_axis(top, order, axis=1)
        return distances, indices


def _exact(query: np.ndarray, crop: np.ndarray, top: np.ndarray, shift: int) -> np.ndarray:
    """Float64 shift-tolerant RMS difference of each query image to its candidates ``top`` (rows of the
    flattened reference centre crops ``crop``)."""
    candidates = crop[top]
    result = np.full(top.shape, np.inf)
    for offset in offsets(shift):
        moved = window(query, offset, shift).reshape(len(query), 1, -1).astype(np.float64)
        np.minimum(result, np.sqrt(((moved - candidates) ** 2).mean(axis=-1)), out=result)
    return result


def _blur(x: np.ndarray) -> np.ndarray:
    return gaussian_filter(x, sigma=(0, 0, _SIGMA, _SIGMA), truncate=_TRUNCATE, mode="reflect")


def _ssim(a: np.ndarray, b: np.ndarray, b_moments: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """SSIM per pair given ``b``'s local mean and local mean of squares (shared across calls)."""
    mu_b, sq_b = b_moments
    mu_a = _blur(a)
    var_a, var_b = _blur(a * a) - mu_a ** 2, sq_b - mu_b ** 2
    cov = _blur(a * b) - mu_a * mu_b
    c1, c2 = (_K1 * _RANGE) ** 2, (_K2 * _RANGE) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    pad = int(_TRUNCATE * _SIGMA + 0.5)
    h, w = index.shape[-2:]
    if min(h, w) <= 2 * pad:
        raise ValueError(f"SSIM needs images larger than {2 * pad + 1} pixels, got {h}x{w}")
    return index[..., pad:h - pad, pad:w - pad].mean(axis=(-1, -2)).mean(axis=1)


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM of each pair ``a[i]``, ``b[i]`` (images ``(n, C, H, W)`` on the [-1, 1] scale), shape ``(n,)``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return _ssim(a, b, (_blur(b), _blur(b * b)))


def aligned_ssim(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Largest SSIM of ``query[i]``'s windows at the distance's offsets against ``reference[i]``'s centre crop."""
    shift = _shift(query.shape)
    query = np.asarray(query, dtype=np.float64)
    crop = np.ascontiguousarray(window(np.asarray(reference, dtype=np.float64), (0, 0), shift))
    moments = (_blur(crop), _blur(crop * crop))
    return np.max([_ssim(np.ascontiguousarray(window(query, offset, shift)), crop, moments)
                   for offset in offsets(shift)], axis=0)
