"""Bootstrap intervals shared by the audits (public randomness from ``AuditContext.rng``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def percentile_interval(samples: np.ndarray, *, level: float = 0.95) -> tuple[float, float] | None:
    """The central ``level`` percentile interval of bootstrap replicates (finite ones); None if none."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return None
    tail = (1.0 - level) / 2.0
    return float(np.quantile(samples, tail)), float(np.quantile(samples, 1.0 - tail))


def bootstrap_mean_interval(
    values: np.ndarray, *, rng: np.random.Generator, replicates: int, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of per-row ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return None
    draws = rng.integers(0, values.size, size=(replicates, values.size))
    return percentile_interval(values[draws].mean(axis=1), level=level)


def bootstrap_statistic_interval(
    statistic: Callable[[np.ndarray], float], n: int, *, rng: np.random.Generator, replicates: int,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic(index)`` over ``replicates`` resamples of ``range(n)``."""
    if n == 0:
        return None
    values = [statistic(rng.integers(0, n, size=n)) for _ in range(replicates)]
    return percentile_interval(np.array(values, dtype=np.float64), level=level)
