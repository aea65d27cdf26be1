"""Every column's distribution measured with DP, and synthetic rows calibrated to it.

Why: a denoiser trained with DP-SGD under heavy noise learns which columns move together, but its samples
regress to the mode: on the demo table at epsilon 1, SDMetrics quality 0.72 with 29 constant columns.  The
same samples calibrated to DP-measured column distributions scored 0.94 (representation 0.97): the model
carries the dependence between columns, the measured distributions carry each column's shape.

**Measurement** (``measure``): one histogram per modelled column over PUBLIC cells fixed by the codec
(never by the data):

- a categorical column: its levels (the missing level included when nullable);
- a numeric or datetime column: bins over its public ``[min, max]`` (one per whole value when the column is
  integral and spans at most ``BINS`` values, else ``BINS`` equal-width bins), plus a missing cell when
  nullable.

Each privacy unit's rows weigh ``1 / (its number of rows)``, so one unit adds at most 1 to each column's
histogram: the L2 sensitivity of all histograms together is ``sqrt(columns)``, whatever the rows-per-unit cap.
The histograms are therefore distributions over privacy units (patients), which differ from the row
distribution only where patients with several rows differ from the others.  All histograms are released by
one Gaussian mechanism (``synthdata.privacy.gaussian``).  Post-processing: cells whose noisy count is below
``THRESHOLD_SIGMAS`` noise standard deviations are read as empty (pure noise survives in a given empty cell
with probability 2.3%), or more in a column of many cells, so that pure noise survives in at most half a
cell per column on average (4.1 standard deviations for a public list of 15,000 diagnosis codes).  The
units left over (the public unit count minus the kept counts: values too rare to show) go to a
categorical column's ``other`` category, or evenly over its empty categories; numbers renormalise
(``_column_shares``).  Split by a target, a level's unmeasurable cells take the pooled shape
(``_with_tail``).  A category held by
fewer units than the threshold is therefore absent from the release: the report's representation audit
says which.

**Calibration** (``calibrate``, post-processing of the DP model and the DP shares, so free): every column of
the model's output is moved to its measured distribution while keeping the model's ordering of rows:

- categorical: the model's output for a row is read as level probabilities (each +-1 coordinate of the
  block a coin with P(+1) = (1 + x) / 2); one weight per level is fitted (iterative proportional fitting)
  so that the levels' expected shares are the measured ones, and each row's level is drawn from its
  re-weighted probabilities: rows the model is sure of keep their level, a collapsed model's rows get the
  measured distribution;
- numeric/datetime: the rows the model scored most likely missing are made missing, up to the measured
  missing share; the others are mapped by rank onto the measured distribution (quantile mapping, linear
  inside a bin), ties broken at random.  The mapping is monotone, so the rank order inside the column, and
  with it every rank correlation the model produced, is kept.

Randomness of calibration (tie-breaking) is the release's public sampling randomness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from synthdata.modalities.base import Units
from synthdata.modalities.table.encoding import LevelsBlock, ScalarBlock, TableCodec
from synthdata.privacy.gaussian import GaussianMechanism, calibrate_gaussian

BINS = 32
THRESHOLD_SIGMAS = 2.0
_FORMAT = "synthdata.table_marginals"
_VERSION = 1
_FIT_ROUNDS = 200
_SHARE_TOLERANCE = 0.001
_EDGE = 1e-3  # model outputs are read as coins no surer than 1 - 1e-3 / 2
_CHUNK = 16_384


def cell_edges(block: ScalarBlock) -> np.ndarray:
    """The public bin edges of a numeric/datetime block, in its encoded scale [-1, 1]."""
    first, last = math.ceil(block.low), math.floor(block.high)
    if block.whole and last - first + 1 <= BINS:
        values = np.arange(first, last + 1, dtype=np.float64)
        edges = np.clip(np.concatenate([[values[0] - 0.5], values + 0.5]), block.low, block.high)
        edges = 2.0 * (edges - block.low) / (block.high - block.low) - 1.0
        edges[0], edges[-1] = -1.0, 1.0
        return edges
    return np.linspace(-1.0, 1.0, BINS + 1)


def _cells(block: ScalarBlock | LevelsBlock, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Each encoded row's cell in the block's histogram, and the number of cells."""
    if isinstance(block, LevelsBlock):
        return np.argmax(x @ block.codebook.T, axis=1), len(block.codebook)
    edges = cell_edges(block)
    bins = len(edges) - 1
    cell = np.clip(np.searchsorted(edges, x[:, 0], side="right") - 1, 0, bins - 1)
    if block.nullable:
        cell = np.where(x[:, 1] > 0, bins, cell)
    return cell, bins + (1 if block.nullable else 0)


@dataclass(frozen=True)
class TableMarginals:
    """Each modelled column's DP share per public cell (the missing cell last for nullable scalars).

    ``threshold`` is the smallest noise floor used (``THRESHOLD_SIGMAS`` x ``sigma``); columns of many
    cells use a higher one (``cell_threshold``).

    With a categorical ``target``, ``conditional[column][level]`` holds the column's shares among the rows
    of each target level (None where that level's rows are too few to show above the noise); ``shares`` of a
    non-target column is then their mix weighted by the target's shares.
    """

    shares: dict[str, list[float]]
    sigma: float
    threshold: float
    target: str | None = None
    conditional: dict[str, list[list[float] | None]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "version": _VERSION, "sigma": self.sigma, "threshold": self.threshold,
                "shares": self.shares, "target": self.target, "conditional": self.conditional}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableMarginals:
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise ValueError("not synthdata table marginals (format/version mismatch)")
        return cls(shares={k: [float(v) for v in vs] for k, vs in data["shares"].items()},
                   sigma=float(data["sigma"]), threshold=float(data["threshold"]), target=data.get("target"),
                   conditional=data.get("conditional"))


def unit_histograms(*, units: Units, codec: TableCodec, target: str | None = None) -> dict[str, np.ndarray]:
    """Noise-free histograms, each unit's rows weighing 1/(its rows): one unit adds at most 1 per column.

    With a ``target`` column, every other column's histogram is split by the target's level (shape
    ``(target levels, cells)``): a row still adds to one cell per column, so the bound is unchanged.
    """
    mask = units.mask.numpy()
    rows = units.data.numpy()[mask]
    weights = np.repeat(1.0 / mask.sum(axis=1), mask.sum(axis=1))  # row-major: units in order, rows in order
    layout = {block.column: (block, where) for block, where in codec.blocks}
    by, levels = None, 1
    if target is not None:
        block, where = layout[target]
        by, levels = _cells(block, rows[:, where])
    histograms = {}
    for column, (block, where) in layout.items():
        cell, cells = _cells(block, rows[:, where])
        if by is None or column == target:
            histograms[column] = np.bincount(cell, weights=weights, minlength=cells)
        else:
            joint = np.bincount(by * cells + cell, weights=weights, minlength=levels * cells)
            histograms[column] = joint.reshape(levels, cells)
    return histograms


def cell_threshold(*, sigma: float, cells: int) -> float:
    """The noisy count under which a cell of a ``cells``-cell histogram is read as empty."""
    return sigma * max(THRESHOLD_SIGMAS, float(norm.isf(0.5 / cells)))


def _normalised(kept: np.ndarray) -> np.ndarray | None:
    return kept / kept.sum() if kept.sum() > 0 else None


def _column_shares(counts: np.ndarray, *, floor: float, sigma: float, total: float,
                   block: ScalarBlock | LevelsBlock) -> np.ndarray:
    """A column's shares from its noisy counts: cells above the floor keep their counts out of ``total`` (the
    units, a public count); the rest, units whose value was too rare to show, goes to the column's ``other``
    category when it has one, else is spread evenly over the categories under the floor.  Numbers (bins)
    renormalise instead: spreading evenly would move mass to the far ends of the public range; so does a rest
    within the noise of the kept cells' sum.
    Renormalising a categorical column instead handed a long tail (diagnosis codes under 1-2% held 60% of
    the rows at epsilon 1) to its few measured codes, inflating them threefold."""
    above = counts >= floor
    kept = np.where(above, counts, 0.0)
    rest = max(total - kept.sum(), 0.0)
    if isinstance(block, LevelsBlock) and rest > THRESHOLD_SIGMAS * sigma * math.sqrt(max(above.sum(), 1)):
        # (a rest within the noise of the kept cells' sum is noise, not a tail)
        if block.other is not None:
            kept[block.categories.index(block.other)] += rest
        elif (~above).any():
            kept[~above] += rest / (~above).sum()
    shares = _normalised(kept)
    # Nothing above the noise: every cell equally likely (says nothing about the data).
    return shares if shares is not None else np.full(len(counts), 1.0 / len(counts))


def _with_tail(row: np.ndarray, *, floor: float, total: float, pooled: np.ndarray) -> np.ndarray | None:
    """One target level's shares (``total``: its rows, measured on the target's own histogram).

    Cells above the noise floor keep their counts.  A cell under the floor whose pooled share would have
    put it above the floor in this level, were it independent of the target, is measured small here and
    keeps its (non-negative) noisy count.  The others are too rare to measure per level: they take the
    pooled share of the level's rows, as if independent of the target.  Renormalising the kept cells alone
    handed a small level's whole tail to its few largest cells (a 1% diagnosis code came out at 6%)."""
    expected = pooled * max(total, 0.0)
    above = row >= floor
    measurable = ~above & (expected >= floor)
    shares = np.where(above, row, np.where(measurable, np.clip(row, 0.0, None), expected))
    return _normalised(shares)


def measure(*, units: Units, codec: TableCodec, epsilon: float, delta: float, rng: np.random.Generator,
            target: str | None = None) -> tuple[TableMarginals, GaussianMechanism]:
    """(epsilon, delta)-DP shares of every column's public cells (see the module docstring).

    ``target`` (a categorical column, public by declaration) splits every other column's histogram by the
    target's level at no extra cost, so calibration keeps how each column differs between target classes.
    ``rng`` must be seeded from unrecorded OS entropy in a release (tests pass fixed seeds).
    """
    if target is not None and not isinstance(dict((b.column, b) for b, _ in codec.blocks).get(target), LevelsBlock):
        target = None  # a numeric target is not split by (nor is a missing one)
    histograms = unit_histograms(units=units, codec=codec, target=target)
    mechanism = calibrate_gaussian(epsilon=epsilon, delta=delta, sensitivity=math.sqrt(len(histograms)))
    threshold = THRESHOLD_SIGMAS * mechanism.sigma
    noisy = {column: mechanism.add_noise(counts, rng=rng) for column, counts in histograms.items()}
    # Post-processing from here on: cells under the noise are read as empty.
    shares: dict[str, list[float]] = {}
    conditional: dict[str, list[list[float] | None]] = {}
    blocks = {block.column: block for block, _ in codec.blocks}
    units_total = float(units.count)  # each unit weighs 1 per column; the count is public (DP-SGD's too)
    target_shares = None
    if target is not None:
        floor = cell_threshold(sigma=mechanism.sigma, cells=len(noisy[target]))
        target_shares = _column_shares(noisy[target], floor=floor,
                                       sigma=mechanism.sigma, total=units_total, block=blocks[target])
    for column, counts in noisy.items():
        floor = cell_threshold(sigma=mechanism.sigma, cells=counts.shape[-1])
        if counts.ndim == 1:
            shares[column] = _column_shares(counts, floor=floor, sigma=mechanism.sigma, total=units_total,
                                            block=blocks[column]).tolist()
            continue
        # The column over all target levels (noise sd sqrt(levels) x sigma per cell), for levels too small.
        pooled = _column_shares(counts.sum(axis=0), floor=floor * math.sqrt(len(counts)),
                                sigma=mechanism.sigma * math.sqrt(len(counts)), total=units_total, block=blocks[column])
        totals = noisy[target] if target is not None else counts.sum(axis=1)
        per_level = [_with_tail(row, floor=floor, total=float(total), pooled=pooled)
                     for row, total in zip(counts, totals)]
        conditional[column] = [None if p is None else p.tolist() for p in per_level]
        mix = pooled if target_shares is None else sum(
            w * (p if p is not None else pooled) for w, p in zip(target_shares, per_level))
        shares[column] = np.asarray(mix).tolist()
    return TableMarginals(shares=shares, sigma=mechanism.sigma, threshold=threshold, target=target,
                          conditional=conditional or None), mechanism


def _level_log_likelihoods(x: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """(n, levels): log-probability of each level reading every coordinate of the block as an independent
    +-1 coin with P(+1) = (1 + x) / 2 (an x0-predicting model outputs about that expectation)."""
    x = np.clip(x, -1.0 + _EDGE, 1.0 - _EDGE)
    return np.log((1.0 + x) / 2.0) @ (codebook > 0).T + np.log((1.0 - x) / 2.0) @ (codebook < 0).T


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _assign_levels(log_likelihood: np.ndarray, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row's level, drawn from the model's per-row level probabilities re-weighted by one factor per level
    (iterative proportional fitting, as in a label-shift correction) so that the levels' expected shares are
    the measured ones.  A model that collapsed to one row gives every row the measured distribution; a model
    sure of a row's level keeps it."""
    n, levels = log_likelihood.shape
    active = shares > 0
    log_weight = np.where(active, 0.0, -np.inf)
    target = shares * n
    for _ in range(_FIT_ROUNDS):
        mass = np.zeros(levels)
        for start in range(0, n, _CHUNK):
            mass += _softmax_rows(log_likelihood[start:start + _CHUNK] + log_weight).sum(axis=0)
        if np.abs(mass - target).max() <= _SHARE_TOLERANCE * n:
            break
        log_weight[active] += np.log(target[active]) - np.log(np.maximum(mass[active], 1e-300))
    return np.argmax(log_likelihood + log_weight + rng.gumbel(size=log_likelihood.shape), axis=1)


def _quantile_map(values: np.ndarray, *, shares: np.ndarray, edges: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """``values`` moved by rank onto the distribution with ``shares`` per bin (linear inside a bin)."""
    m = len(values)
    order = np.lexsort((rng.random(m), values))
    position = np.empty(m)
    position[order] = (np.arange(m) + rng.random(m)) / m
    cdf = np.concatenate([[0.0], np.cumsum(shares / shares.sum())])
    # The last bin starting at or below each position is non-empty (empty bins have cdf plateaus).
    cell = np.clip(np.searchsorted(cdf, position, side="right") - 1, 0, len(shares) - 1)
    mass = np.where(shares[cell] > 0, cdf[cell + 1] - cdf[cell], 1.0)
    inside = np.clip((position - cdf[cell]) / mass, 0.0, 1.0)
    return edges[cell] + inside * (edges[cell + 1] - edges[cell])


def _calibrate_block(x: np.ndarray, block: ScalarBlock | LevelsBlock, shares: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """One column's block of model output (n, width) moved onto ``shares`` (see the module docstring)."""
    if isinstance(block, LevelsBlock):
        return block.codebook[_assign_levels(_level_log_likelihoods(x, block.codebook), shares, rng)]
    out = np.array(x, dtype=np.float64, copy=True)
    n = len(out)
    missing = np.zeros(n, dtype=bool)
    value_shares = shares
    if block.nullable:
        value_shares = shares[:-1]
        k = int(round(shares[-1] * n)) if value_shares.sum() > 0 else n
        likely = np.lexsort((rng.random(n), -x[:, 1]))
        missing[likely[:k]] = True
        out[:, 1] = np.where(missing, 1.0, -1.0)
    if (~missing).any():
        out[~missing, 0] = _quantile_map(x[~missing, 0], shares=value_shares, edges=cell_edges(block), rng=rng)
    out[missing, 0] = 0.0
    return out


def calibrate(*, array: np.ndarray, codec: TableCodec, marginals: TableMarginals,
              rng: np.random.Generator) -> np.ndarray:
    """The model output ``array`` (n, width) with every column moved onto its measured distribution.

    With a target, the target column is calibrated first, then every other column within each target level
    onto that level's shares (the column's overall shares where the level was too small to measure)."""
    out = np.array(array, dtype=np.float64, copy=True)
    layout = {block.column: (block, where) for block, where in codec.blocks}
    groups = [np.arange(len(out))]
    target = marginals.target
    if target is not None:
        block, where = layout[target]
        out[:, where] = _calibrate_block(out[:, where], block, np.asarray(marginals.shares[target]), rng)
        level = _cells(block, out[:, where])[0]
        groups = [np.flatnonzero(level == k) for k in range(len(block.codebook))]
    for column, (block, where) in layout.items():
        if column == target:
            continue
        per_level = (marginals.conditional or {}).get(column)
        for k, rows in enumerate(groups):
            if not len(rows):
                continue
            shares = per_level[k] if per_level is not None and per_level[k] is not None else marginals.shares[column]
            out[np.ix_(rows, np.arange(where.start, where.stop))] = _calibrate_block(
                out[rows, where], block, np.asarray(shares, dtype=np.float64), rng)
    return out
