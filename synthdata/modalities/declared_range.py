"""A DECLARED value range mapped onto ``[-1, 1]`` and back: signal amplitudes, image intensity windows.

Privacy: the range is declared by the data steward (public), never measured on the private data; a
min/max or percentile read off private values is itself a release that no budget pays for.  Values outside
the range are clipped, and only their count is returned (a statistic of private data: log it locally in
the run's work area, never publish it).
"""

from __future__ import annotations

import math

import numpy as np

from synthdata.errors import BadInputError


def _check(window: tuple[float, float]) -> tuple[float, float]:
    low, high = float(window[0]), float(window[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise BadInputError(f"declared range must be (low, high) with finite low < high, got {tuple(window)!r}")
    return low, high


def to_unit_range(values: np.ndarray, *, window: tuple[float, float]) -> tuple[np.ndarray, int]:
    """Map ``window`` linearly onto ``[-1, 1]``; return ``(scaled float32, clipped_count)``."""
    low, high = _check(window)
    values = np.asarray(values, dtype=np.float64)
    clipped = int(np.count_nonzero((values < low) | (values > high)))
    return ((np.clip(values, low, high) - low) / (high - low) * 2.0 - 1.0).astype(np.float32), clipped


def from_unit_range(scaled: np.ndarray, *, window: tuple[float, float]) -> np.ndarray:
    """Inverse of :func:`to_unit_range` (float32; values are clipped to ``[-1, 1]`` first)."""
    low, high = _check(window)
    unit = np.clip(np.asarray(scaled, dtype=np.float64), -1.0, 1.0)
    return ((unit + 1.0) / 2.0 * (high - low) + low).astype(np.float32)
