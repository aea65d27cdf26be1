"""Declared image format, the in-memory image set, and the declared-window intensity mapping.

Privacy: everything about the encoding (size, channels, intensity window) is *declared* by the data
steward and passed in.  Nothing is measured on the private images, because a min/max or percentile
window taken from private pixels is itself a release of private statistics that no privacy budget pays
for.  Values outside the declared window are clipped and only their *count* is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synthdata.errors import BadInputError


@dataclass(frozen=True)
class ImageFormat:
    """The public, declared encoding of an image set.

    ``size`` is ``(height, width)`` in pixels; ``channels`` is 1 (grey) or 3 (RGB); ``window`` is the
    ``(low, high)`` intensity range in the file's units (after DICOM rescale / NIfTI scaling) mapped onto
    ``[-1, 1]``.  With ``resize=False`` an image of another size is an error; with ``resize=True`` it is
    resampled bilinearly to ``size`` (aspect ratio is not preserved).
    """

    size: tuple[int, int]
    channels: int
    window: tuple[float, float]
    resize: bool = False

    def __post_init__(self) -> None:
        size = tuple(self.size)
        if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
            raise BadInputError(f"image size must be two positive integers (height, width), got {self.size!r}")
        if self.channels not in (1, 3):
            raise BadInputError(f"image channels must be 1 or 3, got {self.channels!r}")
        window = tuple(self.window)
        if len(window) != 2 or not all(math.isfinite(float(v)) for v in window) or window[0] >= window[1]:
            raise BadInputError(f"image window must be (low, high) with finite low < high, got {self.window!r}")
        object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        object.__setattr__(self, "window", (float(window[0]), float(window[1])))


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images scaled to ``[-1, 1]`` with their labels, subjects and sources.

    ``pixels`` is ``(n, C, H, W)`` float32; ``labels`` is ``(n,)`` str or ``None``; ``subjects`` is ``(n,)``
    str, the key that keeps one person's images on one side of a train/holdout split; ``sources`` is
    ``(n,)`` str naming the file (and frame/slice) each image came from.

    Privacy: ``subjects`` and ``sources`` may be identifiers (a DICOM PatientID, a file name holding a
    medical record number).  They are for splitting and error messages only and no writer copies them.
    """

    pixels: np.ndarray
    labels: np.ndarray | None
    subjects: np.ndarray
    sources: np.ndarray

    def __post_init__(self) -> None:
        pixels = np.asarray(self.pixels, dtype=np.float32)
        if pixels.ndim != 4 or pixels.shape[1] not in (1, 3):
            raise ValueError(f"pixels must be (n, C, H, W) with C in (1, 3), got shape {pixels.shape}")
        n = pixels.shape[0]
        subjects = np.asarray(self.subjects, dtype=str).reshape(-1)
        sources = np.asarray(self.sources, dtype=str).reshape(-1)
        labels = None if self.labels is None else np.asarray(self.labels, dtype=str).reshape(-1)
        for name, arr in (("subjects", subjects), ("sources", sources), ("labels", labels)):
            if arr is not None and arr.shape != (n,):
                raise ValueError(f"{name} must have one entry per image ({n}), got {arr.shape[0]}")
        object.__setattr__(self, "pixels", pixels)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "subjects", subjects)
        object.__setattr__(self, "sources", sources)

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def take(self, indices: np.ndarray | list[int]) -> ImageSet:
        """Return the images at ``indices`` (in that order) as a new set."""
        idx = np.asarray(indices, dtype=np.int64)
        return ImageSet(pixels=self.pixels[idx], labels=None if self.labels is None else self.labels[idx],
                        subjects=self.subjects[idx], sources=self.sources[idx])


def from_unit_range(pixels: np.ndarray, *, bits: int = 8) -> np.ndarray:
    """Quantise ``[-1, 1]`` pixels to unsigned integers of ``bits`` bits (8 -> uint8, 16 -> uint16).

    Values outside ``[-1, 1]`` (a sampler overshooting) are clipped; NaN is refused.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    values = np.asarray(pixels, dtype=np.float64)
    if not np.isfinite(values).all():
        raise BadInputError("pixels contain NaN or infinite values")
    top = 2**bits - 1
    out = np.rint((np.clip(values, -1.0, 1.0) + 1.0) / 2.0 * top)
    return out.astype(np.uint8 if bits == 8 else np.uint16)
