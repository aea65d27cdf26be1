"""Every column's distribution measured with DP, and synthetic rows calibrated to it.

Why: a denoiser trained with DP-SGD under heavy noise learns which columns move together, but its samples
regress to the mode: on the demo table at epsilon 1, SDMetrics quality 0.72 with 29 constant columns.  The
same samples calibrated to DP-measured column distributions scored 0.94 (representation 0.97): the model
carries the dependence between columns, the measured distributions carry each column's shape.

**Measurement** (``measure``): one histogram per modelled column over PUBLIC cells fixed by the codec
(never by the data):

- a categorical column: its levels (the missing level included when nullable);
- a numeric or datetime column: one cell per whole value when the column is integral and spans at most
  ``WHOLE_CELLS`` values (wider integer bins merged 0, 1 and 2 emergency visits into one cell), else ``BINS``
  equal-width bins over its public ``[min, max]``; plus a missing cell when nullable.

Each privacy unit's rows weigh ``w / (its number of rows)`` in a column of weight ``w``, so one unit adds at
most ``w`` to the column's histogram and the L2 sensitivity of all histograms together is ``sqrt(sum w^2)``,
whatever the rows-per-unit cap.  The weight is the column's noise floor over the lowest floor
(``column_weight``, a function of the public cells): a list of 1,400 diagnosis codes, whose floor must be
higher to keep pure noise from inventing codes, weighs 1.7 so that every column's floor is the same number of
units (at epsilon 1 on the demo slice the 1-2% diagnosis codes then show instead of vanishing).  The
histograms are distributions over privacy units (patients), which differ from the row distribution only where
patients with several rows differ from the others.  All histograms are released by one Gaussian mechanism
(``synthdata.privacy.gaussian``).

**Post-processing** (``_column_shares``; free): a cell whose noisy count is under the column's floor
(``floor_sigmas``: pure noise survives in half a cell of a categorical column on average, at most 16% per
empty cell of a short list; in one numeric column in twenty, never above 2.3% per cell) is read as empty; a
numeric column's kept cell far from every other kept cell is read as noise.  The units left over (the public unit count minus the kept counts:
values too rare to show) go to a categorical column's ``other`` category, or evenly over its empty
categories, and continue a numeric column's tails (half geometric, half power-law).  Split by a target (columns of at most
``SPLIT_CELLS`` cells, and longer lists when the noise lets their 1% codes show after pooling:
``splits_by_target``), a level's unmeasurable cells take the pooled shape.  A category held by fewer units
than the floor is therefore absent from the release: the report's representation audit says which.

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
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from synthdata.modalities.base import Units
from synthdata.modalities.table.encoding import LevelsBlock, ScalarBlock, TableCodec
from synthdata.privacy.gaussian import GaussianMechanism, calibrate_gaussian

BINS = 32  # equal-width bins of a continuous column
WHOLE_CELLS = 256  # an integral column spanning at most this many values gets one cell per value
THRESHOLD_SIGMAS = 2.0  # the lowest noise floor of a numeric column, in standard deviations of its noise
LIST_MIN_SIGMAS = 1.0  # ... and of a categorical column
PHANTOMS_PER_LIST = 0.5  # a categorical column's floor lets pure noise survive in half a cell on average
PHANTOMS_PER_NUMBER = 0.05  # ... a numeric column's in one cell in twenty columns (a far spike moves the spread)
NEIGHBOURS = 2  # a numeric column's kept cell needs another within this many cells (or be the largest)
SPLIT_CELLS = 64  # columns of at most this many cells are split by the target ...
SPLIT_FLOOR = 0.0075  # ... and longer ones when their pooled floor is under this share of the units
TAIL_POWER_MIN = 3.0  # the power tail decays at least as fast as (distance from the mode) ** -3
_FORMAT = "synthdata.table_marginals"
_VERSION = 1
_FIT_ROUNDS = 200
_SHARE_TOLERANCE = 0.001
_EDGE = 1e-3  # model outputs are read as coins no surer than 1 - 1e-3 / 2
_CHUNK = 16_384


def cell_edges(block: ScalarBlock) -> np.ndarray:
    """The public bin edges of a numeric/datetime block, in its encoded scale [-1, 1]."""
    first, last = math.ceil(block.low), math.floor(block.high)
    if block.whole and last - first + 1 <= WHOLE_CELLS:
        values = np.arange(first, last + 1, dtype=np.float64)
        edges = np.clip(np.concatenate([[values[0] - 0.5], values + 0.5]), block.low, block.high)
        edges = 2.0 * (edges - block.low) / (block.high - block.low) - 1.0
        edges[0], edges[-1] = -1.0, 1.0
        return edges
    return np.linspace(-1.0, 1.0, BINS + 1)


def cell_count(block: ScalarBlock | LevelsBlock) -> int:
    """The number of public cells in the block's histogram."""
    if isinstance(block, LevelsBlock):
        return len(block.codebook)
    return len(cell_edges(block)) - 1 + (1 if block.nullable else 0)


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

    ``sigma`` is the noise standard deviation of a column of weight 1 (``sigma / column_weight`` of another
    column) and ``threshold`` a numeric column's lowest floor (``THRESHOLD_SIGMAS`` x ``sigma``); a short
    categorical list's floor may be lower (``floor_sigmas``).

    With a categorical ``target``, ``conditional[column][level]`` holds a split column's shares among the rows
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


def unit_histograms(*, units: Units, codec: TableCodec, target: str | None = None,
                    split: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Noise-free histograms, each unit's rows weighing 1/(its rows): one unit adds at most 1 per column.

    With a ``target`` column, every other column in ``split`` (default: all) is split by the target's level
    (shape ``(target levels, cells)``): a row still adds to one cell per column, so the bound is unchanged.
    ``measure`` multiplies each column by its weight before the noise.
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
        if by is None or column == target or (split is not None and column not in split):
            histograms[column] = np.bincount(cell, weights=weights, minlength=cells)
        else:
            joint = np.bincount(by * cells + cell, weights=weights, minlength=levels * cells)
            histograms[column] = joint.reshape(levels, cells)
    return histograms


def _phantom_sigmas(block: ScalarBlock | LevelsBlock) -> float:
    """The count, in standard deviations of the column's noise, above which pure noise survives in
    ``PHANTOMS_PER_LIST`` (categorical) or ``PHANTOMS_PER_NUMBER`` (numeric) of its cells on average."""
    phantoms = PHANTOMS_PER_LIST if isinstance(block, LevelsBlock) else PHANTOMS_PER_NUMBER
    return float(norm.isf(phantoms / cell_count(block)))


def floor_sigmas(block: ScalarBlock | LevelsBlock) -> float:
    """A column's noise floor in standard deviations of its own noise: its phantom count (``_phantom_sigmas``),
    at least ``LIST_MIN_SIGMAS`` for a categorical column and ``THRESHOLD_SIGMAS`` for a numeric one.  Depends
    on the public cells only.  A short list's floor is its phantom count (1 sd for 2-3 levels, 1.6 for 10):
    clamped at 2 sd, categories near the noise vanished for no phantom saved (on the demo slice at epsilon 1,
    30 noise draws of the measurement: medications constant in 6 columns against 2, representation lower)."""
    minimum = LIST_MIN_SIGMAS if isinstance(block, LevelsBlock) else THRESHOLD_SIGMAS
    return max(minimum, _phantom_sigmas(block))


def column_weight(block: ScalarBlock | LevelsBlock) -> float:
    """What one unit adds to the column's histogram: its phantom count over ``THRESHOLD_SIGMAS``, at least 1 (1
    for a short list, 1.7 for 1,400 diagnosis codes), so every column's floor is the same number of units or
    fewer: a long list is not drowned by the noise a short one tolerates."""
    return max(THRESHOLD_SIGMAS, _phantom_sigmas(block)) / THRESHOLD_SIGMAS


def splits_by_target(block: ScalarBlock | LevelsBlock, *, sigma: float, levels: int, units: int) -> bool:
    """Whether the column's histogram is split by the target's ``levels``: a short one always; a long list only
    when its pooled floor (its floor with the noise of ``levels`` parts) stays under ``SPLIT_FLOOR`` of the
    ``units`` (public), so that codes of 1% still show.  At epsilon 1 on the demo slice a 1,410-code list
    split three ways was under the floor in every part (representation 0.89-0.91 against 0.96 unsplit); at
    epsilon 10 the split kept what the codes say about the target (TSTR lift 0.85-0.90 against 0.50-0.57).
    At 1% of the units (the previous ``SPLIT_FLOOR``) a pooled floor sat right under the 1% codes, which it
    then lost in about half the draws: with the column distributions at epsilon 0.75 on the demo slice, 5 [3, 9]
    categories of 1% or more off by over a factor 2 per draw against 0.5 [0, 1] at 0.5%, the readmission lift
    the same (0.61 against 0.60; six draws each, column distributions alone).  At 0.5% the lists went unsplit
    at epsilon 3 too (pooled floor 0.53% on the demo slice), and a demo release was then blocked by its
    readmission utility gate (lift 0.478): at 0.75% they are split from epsilon 2 on, as before, and not at 1
    (pooled floor 0.99%)."""
    if cell_count(block) <= SPLIT_CELLS:
        return True
    pooled_floor = floor_sigmas(block) * sigma / column_weight(block) * math.sqrt(levels)
    return pooled_floor <= SPLIT_FLOOR * units


def _normalised(kept: np.ndarray) -> np.ndarray | None:
    return kept / kept.sum() if kept.sum() > 0 else None


def _column_shares(counts: np.ndarray, *, floor: float, sigma: float, total: float,
                   block: ScalarBlock | LevelsBlock, pooled: np.ndarray | None = None) -> np.ndarray | None:
    """A column's shares from its noisy counts, or None when nothing shows above the noise.

    Cells above the floor keep their counts out of ``total`` (the units, a public count).  A numeric
    column's kept cell with no kept neighbour is dropped (``_without_isolated``).  With ``pooled`` (the
    column over all target levels; ``counts`` are then one level's), a cell under the floor whose pooled
    share would put it above the floor in this level is measured small here and keeps its clipped count;
    the others take the pooled share of the level's units.  What is left over, the units whose value was too
    rare to show, continues a numeric column's tails (``_extend_tails``), and, when it exceeds the noise of the
    kept cells' sum, goes to a categorical column's ``other`` category, else evenly over its empty categories
    (not per level: the pooled share placed them).  A numeric rest within that noise used to be dropped too:
    the tail then vanished in some noise draws (emergency visits at 0.52 of the real spread in one draw of six
    on the demo slice at epsilon 1; 1.2 numeric columns off per draw against 0.7 now, SDMetrics quality the
    same); the rest is the unbiased estimate of the tail's mass, and a phantom one stays within the public range.

    Renormalising the kept cells instead handed a long tail (diagnosis codes under 1-2% held 60% of the
    rows at epsilon 1) to the few measured codes, inflating them two- or threefold, and cut the tails of
    count columns (``number_outpatient`` spread 0.5 of the real one)."""
    numeric = not isinstance(block, LevelsBlock)
    values = len(counts) - (1 if numeric and block.nullable else 0)
    above = counts >= floor
    if numeric:
        above = _without_isolated(above, counts=counts, values=values)
    kept = np.where(above, counts, 0.0)
    if pooled is not None:
        expected = pooled * max(total, 0.0)
        measurable = ~above & (expected >= floor)
        kept = np.where(above, counts, np.where(measurable, np.clip(counts, 0.0, None), expected))
        above = above | measurable
    rest = max(total - kept.sum(), 0.0)
    if numeric:  # any rest continues the tails: dropped when within the noise, it cut them at random
        _extend_tails(kept, values=values, rest=rest)
        return _normalised(kept)
    if rest <= THRESHOLD_SIGMAS * sigma * math.sqrt(max(above.sum(), 1)):
        return _normalised(kept)  # a rest within the noise of the kept cells' sum is noise, not a category
    if block.other is not None:
        kept[block.categories.index(block.other)] += rest
    elif (~above).any() and pooled is None:
        kept[~above] += rest / (~above).sum()
    return _normalised(kept)


def _without_isolated(above: np.ndarray, *, counts: np.ndarray, values: int) -> np.ndarray:
    """A numeric column's kept value cells (the first ``values``) without those no other kept cell neighbours
    within ``NEIGHBOURS`` cells (the largest always stays): one noise spike far out in an empty range (a
    phantom 65 emergency visits) multiplied the spread sixteenfold."""
    keep = above.copy()
    inside = np.flatnonzero(above[:values])
    if len(inside) < 2:
        return keep
    largest = inside[np.argmax(counts[inside])]
    for cell in inside:
        lonely = not ((np.abs(inside - cell) <= NEIGHBOURS) & (inside != cell)).any()
        if lonely and cell != largest:
            keep[cell] = False
    return keep


def _extend_tails(kept: np.ndarray, *, values: int, rest: float) -> None:
    """The units under the floor (``rest``) continue a numeric column beyond its outermost kept cells: each
    side with room takes a part of ``rest`` in proportion to its edge cell, spread as the mean of two tails that
    each start at the edge cell's level and sum to the part: one decaying geometrically from the edge, one as a
    power of the distance from the column's mode (``_power_tail``).

    A geometric tail alone cut heavy-tailed counts short, and a power tail alone overshot; their mean, the
    power no heavier than ``TAIL_POWER_MIN`` (unbounded it spread a negative-binomial column's noisy rest out
    to the public maximum, 1.5 times its spread), kept them closer: on the demo slice (the column distributions
    alone at epsilon 0.75, 12 noise draws) emergency visits at 1.02 [0.72, 1.19] of the real spread against
    0.82 [0.67, 1.00], outpatient visits 0.78 [0.59, 1.11] against 0.72 [0.59, 1.02], inpatient stays 1.03
    [0.79, 1.18] against 0.95 [0.76, 1.10]; spreads off by more than [0.75, 1.33] fell from 0.83 to 0.50 of
    eight count columns per draw, light-tailed columns unchanged."""
    inside = np.flatnonzero(kept[:values] > 0)
    if not len(inside) or rest <= 0:
        return  # nothing to place (a tail of sum 0 would be 0 / 0)
    mode = inside[np.argmax(kept[inside])]
    sides = [(edge, step, room) for edge, step, room in ((inside[0], -1, inside[0]),
                                                         (inside[-1], 1, values - 1 - inside[-1])) if room > 0]
    weight = sum(kept[edge] for edge, _, _ in sides)
    for edge, step, room in sides:
        part = rest * kept[edge] / weight
        ratio = part / (kept[edge] + part)
        geometric = kept[edge] * ratio ** np.arange(1, room + 1)
        power = _power_tail(start=kept[edge], distance=max(abs(int(edge - mode)), 1), room=room, total=part)
        kept[edge + step * np.arange(1, room + 1)] = (geometric * part / geometric.sum() + power) / 2


def _power_tail(*, start: float, distance: int, room: int, total: float) -> np.ndarray:
    """``room`` cells beyond an edge cell of count ``start`` at ``distance`` cells from the mode, decaying as
    ``start * (d / distance) ** -a`` at distance ``d`` from the mode and summing to ``total`` (``a`` found by
    bisection, at least ``TAIL_POWER_MIN``; that tail scaled up when even it sums to less)."""
    ratio = (distance + np.arange(1, room + 1)) / distance
    low, high = TAIL_POWER_MIN, 64.0
    if start * (ratio ** -low).sum() <= total:
        high = low  # even the flattest allowed tail starting at the edge's level sums to less: scale it up
    for _ in range(60 if high > low else 0):
        middle = (low + high) / 2
        low, high = (middle, high) if start * (ratio ** -middle).sum() > total else (low, middle)
    tail = ratio ** -high
    return tail * total / tail.sum()


def measure(*, units: Units, codec: TableCodec, epsilon: float, delta: float, rng: np.random.Generator,
            target: str | None = None, total: float | None = None) -> tuple[TableMarginals, GaussianMechanism]:
    """(epsilon, delta)-DP shares of every column's public cells (see the module docstring).

    ``target`` (a categorical column, public by declaration) splits the other columns' histograms by the
    target's level at no extra cost (``splits_by_target``: short ones always, long lists when the noise
    allows), so calibration keeps how each column differs between target classes.
    ``rng`` must be seeded from unrecorded OS entropy in a release (tests pass fixed seeds).
    ``total``: the number of units the shares are out of, used in post-processing; None takes ``units.count``,
    which must then be public.  A caller whose unit count is not public passes a DP estimate of it (the
    relational generator: the DP number of patients with rows in the table).
    """
    units_total = float(units.count if total is None else total)
    blocks = {block.column: block for block, _ in codec.blocks}
    if target is not None and not isinstance(blocks.get(target), LevelsBlock):
        target = None  # a numeric target is not split by (nor is a missing one)
    weights = {column: column_weight(block) for column, block in blocks.items()}
    mechanism = calibrate_gaussian(epsilon=epsilon, delta=delta,
                                   sensitivity=math.sqrt(sum(w * w for w in weights.values())))
    split = None
    if target is not None:  # decided from public facts: the cells, the noise, the unit count
        levels = cell_count(blocks[target])
        split = {column for column, block in blocks.items()
                 if splits_by_target(block, sigma=mechanism.sigma, levels=levels, units=round(units_total))}
    histograms = unit_histograms(units=units, codec=codec, target=target, split=split)
    noisy = {column: mechanism.add_noise(weights[column] * counts, rng=rng) / weights[column]
             for column, counts in histograms.items()}
    # Post-processing from here on: cells under the noise are read as empty.
    sigmas = {column: mechanism.sigma / weights[column] for column in noisy}
    floors = {column: floor_sigmas(blocks[column]) * sigmas[column] for column in noisy}
    shares: dict[str, list[float]] = {}
    conditional: dict[str, list[list[float] | None]] = {}
    uniform = {column: np.full(noisy[column].shape[-1], 1.0 / noisy[column].shape[-1]) for column in noisy}
    target_shares = None
    if target is not None:
        target_shares = _column_shares(noisy[target], floor=floors[target], sigma=sigmas[target],
                                       total=units_total, block=blocks[target])
        target_shares = uniform[target] if target_shares is None else target_shares
    for column, counts in noisy.items():
        block, sigma, floor = blocks[column], sigmas[column], floors[column]
        if counts.ndim == 1:
            measured = _column_shares(counts, floor=floor, sigma=sigma, total=units_total, block=block)
            shares[column] = (uniform[column] if measured is None else measured).tolist()
            continue
        levels = math.sqrt(len(counts))  # the pooled counts' noise grows with the levels summed
        pooled = _column_shares(counts.sum(axis=0), floor=floor * levels, sigma=sigma * levels,
                                total=units_total, block=block)
        pooled = uniform[column] if pooled is None else pooled
        totals = noisy[target] if target is not None else counts.sum(axis=1)
        per_level = [_column_shares(row, floor=floor, sigma=sigma, total=float(total), block=block, pooled=pooled)
                     for row, total in zip(counts, totals)]
        conditional[column] = [None if p is None else p.tolist() for p in per_level]
        mix = pooled if target_shares is None else sum(
            w * (p if p is not None else pooled) for w, p in zip(target_shares, per_level))
        shares[column] = np.asarray(mix).tolist()
    return TableMarginals(shares=shares, sigma=mechanism.sigma, threshold=THRESHOLD_SIGMAS * mechanism.sigma,
                          target=target, conditional=conditional or None), mechanism


def _level_log_likelihoods(x: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """(n, levels): log-probability of each level reading every coordinate of the block as an independent
    +-1 coin with P(+1) = (1 + x) / 2 (an x0-predicting model outputs about that expectation)."""
    x = np.clip(x, -1.0 + _EDGE, 1.0 - _EDGE)
    return np.log((1.0 + x) / 2.0) @ (codebook > 0).T + np.log((1.0 - x) / 2.0) @ (codebook < 0).T


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _assign_levels(x: np.ndarray, codebook: np.ndarray, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row's level, drawn from the model's per-row level probabilities re-weighted by one factor per level
    (iterative proportional fitting, as in a label-shift correction) so that the levels' expected shares are
    the measured ones.  A model that collapsed to one row gives every row the measured distribution; a model
    sure of a row's level keeps it."""
    n, levels = len(x), len(codebook)
    active = np.flatnonzero(shares > 0)  # levels measured as empty are never drawn: leave them out
    if not len(active):
        active = np.arange(levels)
        shares = np.full(levels, 1.0 / levels)
    loglik = _level_log_likelihoods(x, codebook[active]).astype(np.float32)
    log_weight = np.zeros(len(active), dtype=np.float32)
    target = shares[active] * n
    for _ in range(_FIT_ROUNDS):
        mass = np.zeros(len(active))
        for start in range(0, n, _CHUNK):
            mass += _softmax_rows(loglik[start:start + _CHUNK] + log_weight).sum(axis=0)
        if np.abs(mass - target).max() <= _SHARE_TOLERANCE * n:
            break
        log_weight += (np.log(target) - np.log(np.maximum(mass, 1e-300))).astype(np.float32)
    drawn = np.argmax(loglik + log_weight + rng.gumbel(size=loglik.shape).astype(np.float32), axis=1)
    return active[drawn]


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
        return block.codebook[_assign_levels(x, block.codebook, shares, rng)]
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

    With a target, the target column is calibrated first, then every split column within each target level
    onto that level's shares (the column's overall shares where the level was too small to measure); a
    column not split by the target is calibrated over all rows at once, which keeps the model's link between
    it and the target."""
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
        if per_level is None:  # not split by the target: one calibration keeps the model's link to it
            out[:, where] = _calibrate_block(out[:, where], block, np.asarray(marginals.shares[column]), rng)
            continue
        for k, rows in enumerate(groups):
            if not len(rows):
                continue
            shares = per_level[k] if per_level is not None and per_level[k] is not None else marginals.shares[column]
            out[np.ix_(rows, np.arange(where.start, where.stop))] = _calibrate_block(
                out[rows, where], block, np.asarray(shares, dtype=np.float64), rng)
    return out
