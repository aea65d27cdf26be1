"""Association difference: do the relationships between columns survive in the synthetic data?

For every pair of modelled columns, the strength of their association is measured on the real training
data and on the synthetic data, each on its own:

- number x number: Spearman's rank correlation (signed, -1..1; robust to the skewed counts of clinical
  data);
- category x category: Cramer's V with Bergsma's (2013) bias correction (0..1).  Plain Cramer's V of two
  INDEPENDENT columns is about sqrt((levels - 1) / n), far from 0 for many levels and few rows; the
  correction removes that floor;
- number x category: the correlation ratio eta of the number's ranks across the categories (0..1; eta^2
  is the share of the rank variance explained by the category), with the analogous bias correction
  (epsilon^2 = (SS_between - (k - 1) MS_within) / SS_total; eta = sqrt(max(0, epsilon^2))).

Numbers are ranked (so the number x number and number x category measures are rank-based alike);
datetimes count as numbers.  A missing category is its own level; rows with a missing number are left out
of that number's pairs.  Columns with more than ``max_categories`` (20) real categories are folded to the
20 most frequent real categories plus "other" (``quality.collapse_rare_categories``).  Categories held by
fewer than ``MIN_CELL_COUNT`` (10) real rows are merged into one "rare" level (into the most frequent level
if the rare level itself has fewer than 10 real rows): one row in a cell whose expected count is 0.01
inflates chi-squared by 100, so such levels make the association pure noise (on the demo, fresh real rows
scored 0.018 instead of 0.014 without this merge).  Synthetic values that the (merged) real data does not
hold form one extra level.

The value is the mean absolute difference between the real and the synthetic association over all column
pairs (0 = every pairwise relationship reproduced; lower is better).  A sign flip of a correlation counts
twice its size, so number x number differences range up to 2, the others up to 1.  Both sides are
subsampled to ``settings.max_rows`` rows.

Interval: ``replicates`` (30) bootstrap replicates resample the rows of both sides (as multinomial row
weights: the ranks stay those of the subsample, which for the full sample is exact); the interval is the
value plus or minus 1.96 bootstrap standard errors, clipped at 0 (see ``column_distance.standard_interval``:
an absolute difference is biased upwards by sampling noise, and the percentile interval would sit above
the measured value).  ``details["real_vs_real_reference"]`` is what two real samples of these sizes score
(two halves of the real subsample, rescaled), the level a perfect generator would reach.

Privacy caveat: the associations are computed from the private training data outside the DP guarantee.
The details and the heatmaps hold one number per column pair (column names are public schema), never a
category value or a record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from evaluation.base import MIN_CELL_COUNT, Audit, AuditContext, Measurement
from evaluation.fidelity.column_distance import (
    categorical_strings,
    noise_scale,
    standard_interval,
)
from evaluation.fidelity.quality import collapse_rare_categories
from evaluation.memorization.encoding import as_float, modelled_columns
from evaluation.report.figures import figure_to_base64
from synthdata.views import subsample
from synthdata.modalities.table.schema import CategoricalColumn, TableSchema

_UNSEEN = "(not in real data)"
_RARE = "(rare categories)"


def cramers_v_corrected(tables: np.ndarray) -> np.ndarray:
    """Bias-corrected Cramer's V (Bergsma 2013) of a stack of (weighted) contingency tables (P, K, K).

    Empty rows and columns are ignored; a table with fewer than 2 non-empty rows or columns scores 0.
    """
    n = tables.sum(axis=(1, 2))
    rows, cols = tables.sum(axis=2), tables.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = rows[:, :, None] * cols[:, None, :] / n[:, None, None]
        chi2 = np.where(expected > 0, (tables - expected) ** 2 / np.where(expected > 0, expected, 1.0), 0.0)
        phi2 = chi2.sum(axis=(1, 2)) / n
        r = (rows > 0).sum(axis=1).astype(np.float64)
        k = (cols > 0).sum(axis=1).astype(np.float64)
        phi2 = np.maximum(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
        r_tilde = r - (r - 1) ** 2 / (n - 1)
        k_tilde = k - (k - 1) ** 2 / (n - 1)
        denominator = np.minimum(k_tilde - 1, r_tilde - 1)
        v = np.sqrt(phi2 / denominator)
    return np.where((r >= 2) & (k >= 2) & (denominator > 0) & np.isfinite(v), v, 0.0)


def correlation_ratio_corrected(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """Bias-corrected correlation ratio from per-group (weighted) counts, sums and sums of squares (P, K).

    eta = sqrt(max(0, (SS_between - (k - 1) * SS_within / (n - k)) / SS_total)); 0 when undefined.
    """
    n = counts.sum(axis=1)
    total = sums.sum(axis=1)
    groups = (counts > 0).sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_term = total ** 2 / n
        ss_total = squares.sum(axis=1) - mean_term
        ss_between = np.where(counts > 0, sums ** 2 / np.where(counts > 0, counts, 1.0), 0.0).sum(axis=1) - mean_term
        ss_within = np.maximum(ss_total - ss_between, 0.0)
        epsilon2 = (ss_between - (groups - 1) * ss_within / (n - groups)) / ss_total
        eta = np.sqrt(np.maximum(epsilon2, 0.0))
    return np.where((groups >= 2) & (n > groups) & (ss_total > 1e-12 * np.maximum(n, 1)) & np.isfinite(eta), eta, 0.0)


@dataclass
class _Side:
    """One side's columns, prepared once for repeated weighted association computations."""

    ranks: np.ndarray  # (n, p) ranks of numeric columns, centred, 0 where missing
    present: np.ndarray  # (n, p) 1.0 where the number is present
    onehot: np.ndarray  # (n, L) one-hot blocks of the categorical columns (float32: exact counts)

    def __len__(self) -> int:
        return self.ranks.shape[0]


class _Associations:
    """The association matrix of a side under row weights (bootstrap replicates and halves are weightings).

    All contingency tables come from one product of the one-hot matrix with itself (weighted), and all
    per-category rank sums from one product with the ranks; the tables are then gathered into a padded
    (pairs, K, K) stack, K the largest number of levels.
    """

    def __init__(self, *, numeric: list[str], categorical: list[str], levels: list[int]) -> None:
        self.numeric, self.categorical, self.levels = numeric, categorical, levels
        self.names = [*numeric, *categorical]
        q, k = len(categorical), max(levels, default=1)
        self.width = int(sum(levels))
        offsets = np.concatenate([[0], np.cumsum(levels)[:-1]]).astype(np.int64)
        cells = np.arange(k)
        # block[c, a]: one-hot column of level a of categorical column c, or the zero pad column
        self.block = np.where(cells[None, :] < np.asarray(levels)[:, None], offsets[:, None] + cells[None, :],
                              self.width) if q else np.zeros((0, k), np.int64)
        self.offsets = offsets
        pairs = np.array([(i, j) for i in range(q) for j in range(i + 1, q)], dtype=np.int64).reshape(-1, 2)
        self.cat_i, self.cat_j = pairs[:, 0], pairs[:, 1]

    def side(self, values: np.ndarray, codes: np.ndarray) -> _Side:
        present = np.isfinite(values)
        if values.shape[1]:
            ranks = rankdata(np.where(present, values, np.nan), axis=0, nan_policy="omit")
            ranks = np.where(present, ranks - (len(values) + 1) / 2.0, 0.0)
        else:
            ranks = values
        onehot = np.zeros((len(codes), self.width), dtype=np.float32)
        if codes.shape[1]:
            onehot[np.repeat(np.arange(len(codes)), codes.shape[1]), (codes + self.offsets).ravel()] = 1.0
        return _Side(ranks=ranks, present=present.astype(np.float64), onehot=onehot)

    def matrix(self, side: _Side, weights: np.ndarray | None = None) -> np.ndarray:
        n = len(side)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        p, q = len(self.numeric), len(self.categorical)
        out = np.full((p + q, p + q), np.nan)
        if p >= 2:
            out[:p, :p] = _weighted_rank_correlation(side.ranks, side.present, w)
        if q >= 2:
            counts = side.onehot.T @ (side.onehot * w[:, None].astype(np.float32))
            counts = np.pad(counts.astype(np.float64), ((0, 1), (0, 1)))  # the zero pad row and column
            tables = counts[self.block[self.cat_i][:, :, None], self.block[self.cat_j][:, None, :]]
            v = cramers_v_corrected(tables)
            out[p + self.cat_i, p + self.cat_j] = out[p + self.cat_j, p + self.cat_i] = v
        if p and q:
            wy = w[:, None] * side.present  # (n, p)
            onehot = side.onehot.astype(np.float64)
            sums = [np.pad(onehot.T @ x, ((0, 1), (0, 0)))[self.block]  # (q, K, p)
                    for x in (wy, wy * side.ranks, wy * side.ranks ** 2)]
            k = self.block.shape[1]
            group_counts, group_sums, group_squares = (x.transpose(2, 0, 1).reshape(p * q, k) for x in sums)
            eta = correlation_ratio_corrected(group_counts, group_sums, group_squares).reshape(p, q)
            out[:p, p:] = eta
            out[p:, :p] = eta.T
        np.fill_diagonal(out, np.nan)
        return out


def _weighted_rank_correlation(ranks: np.ndarray, present: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation of ranks over the rows where both numbers are present (p, p)."""
    wm = present * w[:, None]
    y = ranks * present
    count = wm.T @ present
    sum_x = (y * w[:, None]).T @ present  # [a, b]: sum of a's ranks over rows where b is present too
    sum_xx = (y * y * w[:, None]).T @ present
    sum_xy = (y * w[:, None]).T @ y
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sum_xy - sum_x * sum_x.T / count
        var_x = sum_xx - sum_x ** 2 / count
        var_y = sum_xx.T - sum_x.T ** 2 / count
        corr = cov / np.sqrt(var_x * var_y)
    scale = np.maximum(count, 1.0) ** 2
    ok = (var_x > 1e-12 * scale) & (var_y > 1e-12 * scale) & np.isfinite(corr)
    return np.clip(np.where(ok, corr, 0.0), -1.0, 1.0)


def _merge_sparse_levels(real: pd.Series, synthetic: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Merge the levels held by fewer than MIN_CELL_COUNT real rows (on both sides).

    They form one "rare" level; if that level itself has fewer than MIN_CELL_COUNT real rows, it joins the
    most frequent level.  A level of a handful of rows gives an association estimate that is pure noise
    (one row in a cell whose expected count is 0.01 inflates chi-squared by 100), and the threshold is the
    reports' small-cell rule.
    """
    counts = real.value_counts()
    sparse = counts.index[counts < MIN_CELL_COUNT]
    if len(sparse) == 0:
        return real, synthetic
    target = _RARE if counts[sparse].sum() >= MIN_CELL_COUNT else counts.index[0]
    return real.where(~real.isin(sparse), target), synthetic.where(~synthetic.isin(sparse), target)


def _prepare(real: pd.DataFrame, synthetic: pd.DataFrame, *, schema: TableSchema, columns: list[str],
             max_categories: int) -> tuple[_Associations, _Side, _Side, dict[str, int]]:
    categorical = [c for c in columns if isinstance(schema.columns[c], CategoricalColumn)]
    numeric = [c for c in columns if c not in categorical]
    real_cat, synthetic_cat, folded = collapse_rare_categories(
        categorical_strings(real, categorical), categorical_strings(synthetic, categorical),
        schema=schema, max_categories=max_categories)
    codes_real, codes_synthetic, levels = [], [], []
    for name in categorical:
        real_cat[name], synthetic_cat[name] = _merge_sparse_levels(real_cat[name], synthetic_cat[name])
        vocabulary = pd.unique(real_cat[name].to_numpy())
        known = synthetic_cat[name].isin(vocabulary).to_numpy()
        categories = [*vocabulary, _UNSEEN]
        codes_real.append(pd.Categorical(real_cat[name], categories=categories).codes)
        codes_synthetic.append(pd.Categorical(synthetic_cat[name].where(known, _UNSEEN), categories=categories).codes)
        levels.append(len(categories))
    associations = _Associations(numeric=numeric, categorical=categorical, levels=levels)

    def side(frame: pd.DataFrame, codes: list[np.ndarray]) -> _Side:
        values = np.column_stack([as_float(frame[c], schema.columns[c]) for c in numeric]) if numeric \
            else np.zeros((len(frame), 0))
        code_matrix = np.column_stack(codes).astype(np.int64) if codes else np.zeros((len(frame), 0), np.int64)
        return associations.side(values, code_matrix)

    return associations, side(real, codes_real), side(synthetic, codes_synthetic), folded


def _mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    upper = np.triu_indices(a.shape[0], k=1)
    return float(np.abs(a[upper] - b[upper]).mean())


class CorrelationAudit(Audit):
    """Mean absolute difference between real and synthetic pairwise association matrices."""

    name = "fidelity.correlation"
    category = "fidelity"
    title = "Relationships between columns (association difference)"
    explanation = (
        "Checks whether the synthetic data keeps the relationships between columns, for example whether "
        "two measurements tend to rise together, or whether one category goes with particular values of "
        "another column. For every pair of columns it measures how strongly they go together in the real training "
        "data and in the synthetic data (a correlation for two number columns, a comparable 0-to-1 "
        "association strength otherwise), and reports the average gap over all pairs. 0 means every "
        "relationship is reproduced; a generator that produces each column on its own, ignoring the "
        "others, loses all the relationships and scores much higher. Two real samples also differ a little "
        "by chance: the details give the value two real samples of this size would have."
    )
    direction = "at_most"
    default_threshold = None

    def __init__(self, *, replicates: int = 30, max_categories: int = 20, top_pairs: int = 10) -> None:
        if replicates == 1 or replicates < 0:
            raise ValueError("replicates must be 0 (no interval) or at least 2")
        self.replicates = replicates
        self.max_categories = max_categories
        self.top_pairs = top_pairs

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        schema = context.schema
        columns = modelled_columns(schema, context.train)
        real = subsample(context.train, context.settings.max_rows, rng)
        synthetic = subsample(context.synthetic, context.settings.max_rows, rng)
        if len(columns) < 2 or len(real) < 4 or len(synthetic) < 4:
            return Measurement(value=0.0, not_informative="fewer than 2 modelled columns or 4 rows per side")
        associations, real_side, synthetic_side, folded = _prepare(
            real, synthetic, schema=schema, columns=columns, max_categories=self.max_categories)
        n_real, n_synthetic = len(real_side), len(synthetic_side)
        # One BLAS thread: the products are small, and idle-spinning threads slow down on shared cores.
        with threadpool_limits(limits=1, user_api="blas"):
            real_matrix = associations.matrix(real_side)
            synthetic_matrix = associations.matrix(synthetic_side)
            value = _mean_abs_difference(real_matrix, synthetic_matrix)
            replicates = np.array([
                _mean_abs_difference(
                    associations.matrix(real_side, np.bincount(rng.integers(0, n_real, n_real), minlength=n_real)),
                    associations.matrix(synthetic_side, np.bincount(rng.integers(0, n_synthetic, n_synthetic),
                                                                    minlength=n_synthetic)))
                for _ in range(self.replicates)
            ])
            halves = rng.permutation(n_real)
            a, b = halves[: n_real // 2], halves[n_real // 2:]
            reference = _mean_abs_difference(associations.matrix(real_side, np.isin(np.arange(n_real), a)),
                                             associations.matrix(real_side, np.isin(np.arange(n_real), b)))
        interval = standard_interval(value, replicates)
        reference *= noise_scale(n_real=n_real, n_synthetic=n_synthetic, n_half_a=len(a), n_half_b=len(b))

        names = associations.names
        p = len(associations.numeric)
        upper = np.triu_indices(len(names), k=1)
        gaps = np.abs(real_matrix - synthetic_matrix)[upper]
        order = np.argsort(-gaps, kind="stable")[: self.top_pairs]
        kinds = np.where((upper[0] < p) & (upper[1] < p), "spearman",
                         np.where((upper[0] >= p) & (upper[1] >= p), "cramers_v", "eta"))
        figure = _heatmaps(names, real_matrix, synthetic_matrix)
        details = {
            "largest_differences": [
                {"columns": [names[upper[0][t]], names[upper[1][t]]], "measure": str(kinds[t]),
                 "real": round(float(real_matrix[upper[0][t], upper[1][t]]), 4),
                 "synthetic": round(float(synthetic_matrix[upper[0][t], upper[1][t]]), 4)}
                for t in order
            ],
            "mean_difference_by_measure": {
                kind: round(float(gaps[kinds == kind].mean()), 4) for kind in ("spearman", "cramers_v", "eta")
                if (kinds == kind).any()
            },
            "real_vs_real_reference": round(reference, 4),
            "pairs": len(gaps),
            "real_pairs_associated": int((np.abs(real_matrix[upper]) >= 0.1).sum()),
            "categories_folded": {"max_categories": self.max_categories, "columns": folded},
            "sizes": {"train": n_real, "synthetic": n_synthetic, "train_available": len(context.train),
                      "synthetic_available": len(context.synthetic)},
            "bootstrap": self.replicates,
            "interval_method": (f"value +/- 1.96 x sd of {self.replicates} bootstrap replicates (rows of both "
                                "sides resampled)" if interval else "none (no replicates)"),
            "seconds": round(time.perf_counter() - started, 2),
        }
        return Measurement(value=value, interval=interval, details=details,
                           figures={"Association between columns: real vs. synthetic": figure})


def _heatmaps(names: list[str], real: np.ndarray, synthetic: np.ndarray) -> str:
    """Two heatmaps side by side (real training, synthetic), columns labelled; diagonal left blank."""
    size = len(names)
    side = min(8.0, max(2.0, 0.13 * size + 0.4))  # inches per panel
    label = 1.4 if size > 10 else 1.0  # inches for the column names
    width, height = 2 * side + label + 1.6, side + label + 0.4
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=label / width, right=1 - 1.1 / width, bottom=label / height, top=1 - 0.3 / height,
                        wspace=0.25 / side)
    fontsize = 5.0 if size > 20 else 7.0
    cmap = colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")
    image = None
    for position, (title, matrix) in enumerate([("real (training)", real), ("synthetic", synthetic)], start=1):
        ax = fig.add_subplot(1, 2, position)
        image = ax.imshow(matrix, cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks(range(size), names, rotation=90, fontsize=fontsize)
        ax.set_yticks(range(size), names if position == 1 else [""] * size, fontsize=fontsize)
        ax.set_title(title, fontsize=8)
    colorbar = fig.colorbar(image, ax=fig.axes, fraction=0.025, pad=0.02)
    colorbar.ax.tick_params(labelsize=6)
    colorbar.set_label("association: Spearman (-1..1) for two numbers, Cramer's V / eta (0..1) otherwise",
                       fontsize=6)
    return figure_to_base64(fig)
