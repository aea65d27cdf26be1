"""Tiny generated image populations for the image audit tests: 28x28 grey blobs and bars with noise.

Every image holds one bright shape at a random place, size, orientation and brightness over a dark
background with Gaussian pixel noise; the class decides the shape: "blob" (round, 70% of the images) or
"bar" (three times longer than wide, 30%).  Class counts are exact (as in a stratified split), so sets of
one population differ only by sampling, not by class mix.  Generators of synthetic data derived from them
(copies, blurred, noisy, relabelled) are here too.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from evaluation.base import AuditContext, AuditSettings
from synthdata.views.images import ImageAuditSet, ImageSchema

SIZE = 28
SCHEMA = ImageSchema(size=(SIZE, SIZE), channels=1, window=(0.0, 255.0), classes=("blob", "bar"))


def population(n: int, seed: int) -> ImageAuditSet:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.where(np.arange(n) < round(0.3 * n), "bar", "blob"))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    cy, cx = rng.uniform(8, SIZE - 8, size=(2, n, 1, 1))
    radius = rng.uniform(3.0, 6.0, size=(n, 1, 1))
    angle = rng.uniform(0, np.pi, size=(n, 1, 1))
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    bar = (labels == "bar")[:, None, None]
    squared = (u / (radius * np.where(bar, 3.0, 1.0))) ** 2 + (v / (radius / np.where(bar, 1.5, 1.0))) ** 2
    brightness = rng.uniform(0.8, 1.6, size=(n, 1, 1))
    images = brightness * np.exp(-squared) - 0.8 + rng.normal(0, 0.1, size=(n, SIZE, SIZE))
    return ImageAuditSet(pixels=np.clip(images, -1, 1)[:, None].astype(np.float32), labels=labels)


def with_pixels(images: ImageAuditSet, pixels: np.ndarray) -> ImageAuditSet:
    return ImageAuditSet(pixels=np.clip(pixels, -1, 1).astype(np.float32), labels=images.labels)


def noisy_copies(images: ImageAuditSet, *, sd: float, seed: int = 0) -> ImageAuditSet:
    """The images themselves with Gaussian noise of ``sd`` added (a copying generator)."""
    return with_pixels(images, images.pixels + np.random.default_rng(seed).normal(0, sd, images.pixels.shape))


def shifted(images: ImageAuditSet, *, pixels: int = 1) -> ImageAuditSet:
    """The images moved down by ``pixels`` (the row that leaves the image enters at the top)."""
    return with_pixels(images, np.roll(images.pixels, pixels, axis=-2))


def blurred(images: ImageAuditSet, *, sigma: float) -> ImageAuditSet:
    return with_pixels(images, gaussian_filter(images.pixels, sigma=(0, 0, sigma, sigma)))


def context(*, train: ImageAuditSet, holdout: ImageAuditSet, synthetic: ImageAuditSet, max_rows: int,
            bootstrap: int = 200) -> AuditContext:
    return AuditContext(modality="image", train=train, holdout=holdout, synthetic=synthetic, schema=SCHEMA,
                        target="label", settings=AuditSettings(max_rows=max_rows, seed=0, bootstrap=bootstrap))
