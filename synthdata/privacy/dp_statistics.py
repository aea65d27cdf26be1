"""Differentially private statistics used to learn column domains that the schema leaves open.

Neighbouring datasets differ by adding or removing ONE PRIVACY UNIT (a patient, or a row when no subject is
declared), the relation Opacus' Poisson-sampled DP-SGD accounts for.  ``sensitivity`` is the most rows one
unit may contribute.  It must be a public bound that the caller ENFORCES before calling (e.g. by keeping at
most that many rows per subject): read off the data, it would itself leak.

Randomness comes only from the ``rng`` passed in.  A release must pass a generator seeded from unrecorded OS
entropy (``np.random.default_rng()``); a recorded seed makes the noise replayable and voids the guarantee.
Tests pass fixed seeds.

Floating-point caveat: the Laplace noise is drawn in floating point (numpy), which is known to leak through
the low-order bits of released noisy values (Mironov, CCS 2012).  Neither function releases a noisy value:
``dp_numeric_bounds`` releases two edges of a fixed public grid and ``dp_categories`` a set of labels, so
those bits are never exposed directly; the guarantee is stated for the idealised real-valued mechanism.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

#: Per side: a linear band [0, 1) in steps of 1/32, then 16 log-spaced bins per decade from 1 to 1e9.
_LINEAR_STEPS = 32
_BINS_PER_DECADE = 16
_DECADES = 9
#: Block sizes (in bins) at which noisy counts are tested against the noise floor.
_SCALES = (1, 2, 4, 8)
#: Probability that pure noise lifts any empty block, at any scale, over its floor.
_FLOOR_FAILURE = 0.05


class NoSignalError(ValueError):
    """No part of the noisy histogram rose above the noise: too little data for this epsilon.

    Raising it reveals only a function of the noisy histogram (post-processing), so it is safe to report.
    """


def _public_grid() -> np.ndarray:
    linear = np.arange(_LINEAR_STEPS) / _LINEAR_STEPS
    logs = 10.0 ** (np.arange(_DECADES * _BINS_PER_DECADE + 1) / _BINS_PER_DECADE)
    positive = np.concatenate([linear, logs])
    return np.concatenate([-positive[:0:-1], positive])


#: The fixed, public bin edges of ``dp_numeric_bounds``: symmetric about 0, from -1e9 to 1e9, with bins
#: 1/32 wide in [-1, 1] and 16 per decade beyond (each about 15% wider than the last).  0 and every power
#: of ten are edges.  Values beyond +-1e9 are counted in the outermost bins.
GRID_EDGES: np.ndarray = _public_grid()


def dp_numeric_bounds(
    *,
    values: np.ndarray,
    epsilon: float,
    sensitivity: int,
    rng: np.random.Generator,
    lower_quantile: float = 0.01,
    upper_quantile: float = 0.99,
    edges: np.ndarray | None = None,
) -> tuple[float, float]:
    """epsilon-DP bounds of ``values``: grid edges around its ``lower_quantile`` and ``upper_quantile``.

    Mechanism (pure epsilon-DP): a histogram of ``values`` over a fixed PUBLIC grid (``GRID_EDGES``, or
    ``edges`` if given; never a data-dependent range), with Laplace noise of scale ``sensitivity / epsilon``
    added to every bin count.  Adding or removing one unit changes the counts by at most ``sensitivity`` in
    L1 norm, so the noisy histogram is epsilon-DP.  Everything after is post-processing of it:

    1. Support: blocks of 1, 2, 4 and 8 neighbouring bins whose noisy sum clears a noise floor (set by a
       Chernoff bound so that pure noise clears it anywhere with probability <= 5%) are kept; noisy counts
       outside every kept block are read as zero.  Without this step the noise summed over hundreds of
       empty bins would swamp the tails of the CDF; the block sums let thinly spread tails count.
    2. The noisy CDF of the kept counts (made monotone) gives the bin holding each quantile; the LOWER edge
       of the lower quantile's bin and the UPPER edge of the upper quantile's bin are returned, so
       ``lo < hi`` always (a constant column gets the edges of its bin).

    Accuracy: at a large epsilon the result is exact to the bin; with little data or a small epsilon the
    bounds may come out a bin or a block inside or outside the quantiles (clipping handles the rest).
    Raises ``NoSignalError`` when nothing clears the floor (too little data for this epsilon: declare the
    bounds instead).  NaN values are ignored (they are missing values).  Returns ``(lo, hi)`` as floats.
    """
    _check_budget(epsilon=epsilon, sensitivity=sensitivity)
    if not 0.0 <= lower_quantile < upper_quantile <= 1.0:
        raise ValueError("need 0 <= lower_quantile < upper_quantile <= 1")
    grid = GRID_EDGES if edges is None else np.asarray(edges, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or not np.all(np.diff(grid) > 0):
        raise ValueError("edges must be a strictly increasing 1-D array of at least two public values")
    counts = _grid_counts(values, grid)
    scale = sensitivity / epsilon
    noisy = counts + rng.laplace(0.0, scale, size=counts.size)

    supported = _supported_bins(noisy, scale)
    kept = np.where(supported, noisy, 0.0)
    if not supported.any() or kept.sum() <= 0:
        raise NoSignalError("no bin of the noisy histogram rose above the noise")
    cdf = np.maximum.accumulate(np.cumsum(kept)) / kept.sum()
    inside = np.flatnonzero(supported)
    lo_bin = max(int(np.searchsorted(cdf, lower_quantile, side="left")), int(inside[0]))
    hi_bin = min(int(np.searchsorted(cdf, upper_quantile, side="left")), int(inside[-1]))
    hi_bin = max(hi_bin, lo_bin)
    return float(grid[lo_bin]), float(grid[hi_bin + 1])


def bounds_margin(*, values: np.ndarray, epsilon: float, sensitivity: int, edges: np.ndarray | None = None) -> float:
    """How far the best block of ``dp_numeric_bounds``' histogram clears its noise floor WITHOUT noise, in
    standard deviations of that block's noise: below 0, ``dp_numeric_bounds`` fails (``NoSignalError``) more
    often than not.  Reads the data and adds no noise: for a local, charge-free check before a release
    reserves its budget (``synthdata release --dry-run``); never publish it."""
    _check_budget(epsilon=epsilon, sensitivity=sensitivity)
    counts = _grid_counts(values, GRID_EDGES if edges is None else np.asarray(edges, dtype=np.float64))
    scale = sensitivity / epsilon
    return max(float((sums.max() - floor) / (scale * math.sqrt(2 * width)))
               for width, sums, floor in _block_sums(counts, scale))


def _grid_counts(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Counts of ``values`` (NaN ignored) in the bins of ``grid``; values beyond it go to the end bins."""
    n_bins = grid.size - 1
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[~np.isnan(data)]
    bins = np.clip(np.searchsorted(grid, data, side="right") - 1, 0, n_bins - 1)
    return np.bincount(bins, minlength=n_bins).astype(np.float64)


def _block_sums(counts: np.ndarray, scale: float):
    """For each block width in ``_SCALES``: the sums of aligned blocks of ``counts`` and their noise floor."""
    n_bins = counts.size
    for width in _SCALES:
        blocks = -(-n_bins // width)
        padded = np.zeros(blocks * width)
        padded[:n_bins] = counts
        floor = _noise_floor(width=width, scale=scale, failure=_FLOOR_FAILURE / len(_SCALES) / blocks)
        yield width, padded.reshape(blocks, width).sum(axis=1), floor


def _supported_bins(noisy: np.ndarray, scale: float) -> np.ndarray:
    """Bins in some aligned block (of each size in ``_SCALES``) whose noisy sum clears its noise floor."""
    supported = np.zeros(noisy.size, dtype=bool)
    for width, sums, floor in _block_sums(noisy, scale):
        supported |= np.repeat(sums >= floor, width)[:noisy.size]
    return supported


def _noise_floor(*, width: int, scale: float, failure: float) -> float:
    """t with P(sum of ``width`` Laplace(scale) >= t) <= ``failure`` (exact for one, Chernoff for more)."""
    if width == 1:
        return scale * math.log(1.0 / (2.0 * failure))
    # P(S >= t) <= exp(-l t) (1 - l^2 b^2)^-width for 0 < l < 1/b; minimise the resulting t over l.
    lam = np.linspace(1e-3, 0.999, 999) / scale
    return float(np.min((-width * np.log1p(-((lam * scale) ** 2)) - math.log(failure)) / lam))


def category_threshold(*, epsilon: float, delta: float, sensitivity: int) -> float:
    """The release threshold of ``dp_categories`` (see there for the derivation)."""
    _check_budget(epsilon=epsilon, sensitivity=sensitivity)
    if not 0.0 < delta < 1.0:
        raise ValueError("delta must be in (0, 1)")
    s = float(sensitivity)
    # ln(s - 1 + e^epsilon), written so that a huge epsilon does not overflow.
    log_mass = epsilon if sensitivity == 1 else float(np.logaddexp(epsilon, math.log(s - 1.0)))
    return (s / epsilon) * (log_mass - math.log(2.0 * delta))


def dp_categories(
    *,
    values: Sequence[str],
    epsilon: float,
    delta: float,
    sensitivity: int,
    rng: np.random.Generator,
) -> list[str]:
    """(epsilon, delta)-DP set of categories: the observed ones whose noisy count clears a threshold.

    Mechanism: stability-based histogram / partition selection (Korolova, Kenthapadi, Mishra & Ntoulas,
    "Releasing search queries and clicks privately", WWW 2009; Wilson et al., "Differentially private SQL
    with bounded user contribution", PoPETs 2020; Desfontaines et al., "Differentially private partition
    selection", PoPETs 2022).  Count the rows of each OBSERVED category, add Laplace noise of scale
    ``b = s / epsilon`` (``s = sensitivity``) to each count, release the categories whose noisy count
    exceeds ``tau = b * ln((s - 1 + e^epsilon) / (2 delta))``.  Only the set is released, never a count.

    Why this is (epsilon, delta)-DP: one unit adds at most ``s`` rows, possibly to several categories, so
    the counts change by at most ``s`` in L1 norm.  On the categories present with and without the unit the
    noisy counts are epsilon-DP.  The categories only the unit holds (at most ``s`` of them, with counts
    ``c_j >= 1`` summing to at most ``s``) are released with probability at most
    ``sum_j exp(-(tau - c_j) / b) / 2 <= (s - 1 + e^epsilon) exp(-tau / b) / 2 = delta``
    (the sum of the convex ``exp(c_j / b)`` is largest with all the mass on one category).  So a category
    held by a single unit is released with probability <= delta.  For ``s = 1`` this is the classic
    ``tau = 1 + ln(1 / (2 delta)) / epsilon``.

    ``values`` are the non-missing values (None is ignored).  Returns the kept categories in sorted order
    (a public order, unrelated to their counts); may be empty.
    """
    threshold = category_threshold(epsilon=epsilon, delta=delta, sensitivity=sensitivity)
    series = pl.Series("value", values, dtype=pl.String).drop_nulls()
    if series.is_empty():
        return []
    counted = series.value_counts(name="count").sort("value")  # fixed order: noise draws map to labels
    labels = counted["value"].to_numpy()
    counts = counted["count"].to_numpy().astype(np.float64)
    noisy = counts + rng.laplace(0.0, sensitivity / epsilon, size=counts.size)
    return sorted(str(label) for label in labels[noisy > threshold])


def _check_budget(*, epsilon: float, sensitivity: int) -> None:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError("epsilon must be a finite number > 0")
    if int(sensitivity) != sensitivity or sensitivity < 1:
        raise ValueError("sensitivity must be a whole number >= 1 (rows one privacy unit may contribute)")


#: Noisy class proportions are released rounded to this many decimals (post-processing): the low-order
#: bits of a floating-point Laplace draw can leak (Mironov 2012); rounding removes them.
_PROPORTION_DECIMALS = 3


def dp_class_proportions(
    *,
    labels: Sequence[str],
    classes: Sequence[str],
    epsilon: float,
    sensitivity: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """epsilon-DP proportions of the DECLARED ``classes`` among ``labels`` (pure DP, Laplace mechanism).

    Count each declared class (a fixed, public list: nothing about which classes occur is revealed by the
    choice of bins), add Laplace noise of scale ``sensitivity / epsilon`` to every count, clamp at zero and
    normalise; round to ``_PROPORTION_DECIMALS`` decimals.  One unit changes the count vector by at most
    ``sensitivity`` in L1 norm (it holds at most that many records), so the noisy counts are epsilon-DP and
    the proportions are post-processing.  A class whose noisy count is not positive gets proportion 0;
    when every class does, the proportions are uniform (also post-processing).  Labels outside
    ``classes`` are an error: the caller maps or drops them first.
    """
    _check_budget(epsilon=epsilon, sensitivity=sensitivity)
    classes = [str(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise ValueError("classes must be a non-empty list of distinct names")
    index = {c: i for i, c in enumerate(classes)}
    unknown = {str(v) for v in labels} - set(index)
    if unknown:
        raise ValueError(f"{len(unknown)} label value(s) are not among the declared classes")
    counts = np.bincount([index[str(v)] for v in labels], minlength=len(classes)).astype(np.float64)
    noisy = np.clip(counts + rng.laplace(0.0, sensitivity / epsilon, size=counts.size), 0.0, None)
    shares = noisy / noisy.sum() if noisy.sum() > 0 else np.full(len(classes), 1.0 / len(classes))
    return {c: round(float(p), _PROPORTION_DECIMALS) for c, p in zip(classes, shares)}


def allocate(*, proportions: Sequence[float], n: int) -> np.ndarray:
    """``n`` split into whole counts by ``proportions`` (largest remainder): counts summing to ``n``."""
    p = np.asarray(proportions, dtype=np.float64)
    if p.ndim != 1 or not len(p) or (p < 0).any() or p.sum() <= 0:
        raise ValueError("proportions must be non-negative with a positive sum")
    exact = p / p.sum() * n
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts
