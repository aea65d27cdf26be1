"""Shift-tolerant similarity of signal windows, for the memorization and membership audits.

Two windows are compared channel by channel after each channel is centred and scaled to unit norm, at
every time shift up to ``MAX_SHIFT`` (10 %) of the window in either direction: the normalised
cross-correlation (NCC) at a shift is the mean over channels of the dot product of the aligned channels,
and the similarity is its maximum over shifts (1: the same shape, possibly shifted and rescaled).  The
distance is ``1 - similarity`` (0 for a copy, about 1 for unrelated windows).  Shifts are circular (the
end wraps to the start), a simplification that keeps every comparison one matrix product per shift.

Windows are first resampled (``scipy.signal.resample_poly``) to at most ``MAX_POINTS`` points per channel so
that the search over thousands of windows stays a few seconds; a shift is then a whole number of those
points.  Why shift tolerance: a generator that reproduces a training beat or EEG burst a few samples
later is still copying it, and plain Euclidean distance would miss that.

Privacy caveat: similarities are computed between private windows outside the DP guarantee; audits report
only their aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import torch
from scipy.signal import resample_poly

from synthdata.views.signals import SignalSet

MAX_POINTS = 128
MAX_SHIFT = 0.10


def normalised(data: np.ndarray) -> np.ndarray:
    """Windows ``(n, C, L)`` resampled to at most MAX_POINTS, each channel centred and of unit norm."""
    length = data.shape[-1]
    if length > MAX_POINTS:
        ratio = Fraction(MAX_POINTS, length).limit_denominator(64)
        data = resample_poly(data, ratio.numerator, ratio.denominator, axis=-1)
    centred = data - data.mean(axis=-1, keepdims=True)
    norms = np.linalg.norm(centred, axis=-1, keepdims=True)
    return np.where(norms > 0, centred / np.where(norms > 0, norms, 1.0), 0.0).astype(np.float32)


class SignalSpace:
    """Encodes SignalSets to normalised windows; distance ``1 - max over shifts of the mean-channel NCC``."""

    def __init__(self, *, fs: float) -> None:
        self.fs = fs
        self.notes = [(f"windows resampled to at most {MAX_POINTS} points per channel; shifts up to "
                       f"{MAX_SHIFT:.0%} of a window, circular")]

    def encode(self, side: SignalSet) -> np.ndarray:
        return normalised(np.asarray(side.data, dtype=np.float64))

    def stack(self, encoded: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(list(encoded), axis=0)

    def take(self, encoded: np.ndarray, index: np.ndarray) -> np.ndarray:
        return encoded[index]

    def neighbours(self, query: np.ndarray, reference: np.ndarray, *, k: int = 1,
                   chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
        if len(reference) < k:
            raise ValueError(f"need at least {k} reference windows, got {len(reference)}")
        channels, length = query.shape[1], query.shape[2]
        shifts = range(-int(MAX_SHIFT * length), int(MAX_SHIFT * length) + 1)
        ref = torch.from_numpy(reference.reshape(len(reference), -1)).T.contiguous()
        distances = np.empty((len(query), k))
        indices = np.empty((len(query), k), dtype=np.int64)
        for start in range(0, len(query), chunk):
            q = torch.from_numpy(query[start:start + chunk])
            best = torch.full((len(q), len(reference)), -np.inf)
            for shift in shifts:
                rolled = torch.roll(q, shifts=shift, dims=-1).reshape(len(q), -1)
                torch.maximum(best, rolled @ ref / channels, out=best)
            top = torch.topk(best, k, dim=1, largest=True, sorted=True)
            distances[start:start + len(q)] = (1.0 - top.values.double()).clamp_min(0.0).numpy()
            indices[start:start + len(q)] = top.indices.numpy()
        return distances, indices
