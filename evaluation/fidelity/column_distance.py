"""Per-column distance: how far each synthetic column's distribution is from the real (training) one.

Each modelled column gets one distance in [0, 1] (0 = same distribution):

- numeric and datetime columns: the two-sample Kolmogorov-Smirnov statistic (``scipy.stats.ks_2samp``), the
  largest gap between the two cumulative distributions.  A missing value counts as a value below every
  number, so a different share of missing values is part of the distance;
- categorical columns: the total variation distance, half the sum over categories of the absolute
  difference in shares (= the share of rows that would have to change category), with missing as its own
  category.  Columns with more than ``max_categories`` (20) real categories are first folded to their 20
  most frequent real categories plus one "other" category (``quality.collapse_rare_categories``): with
  hundreds of rare codes, the distance between two samples of the SAME population is dominated by sampling
  noise (about 0.25 for 350 diagnosis codes on 1,600 rows), which would swamp the columns that matter.

The value is the mean distance over the columns (lower is better).  Both sides are subsampled to
``settings.max_rows`` rows with the audit's public randomness.

Interval: ``replicates`` (100) bootstrap replicates resample the rows of both sides (with replacement) and
recompute the mean distance; the interval is the measured value plus or minus 1.96 bootstrap standard
errors (the "standard" bootstrap interval), clipped at 0.  The percentile interval is not used because a
distance is biased upwards by sampling noise and resampling adds that bias again: the replicates sit
almost entirely above the measured value.  Their spread is right, their level is not.

Reference: a perfect generator does not score 0, because two finite samples of one population differ.
``details["real_vs_real_reference"]`` estimates what it would score: the mean distance between two random
halves of the real subsample, rescaled to the audited sample sizes (sampling noise of these distances
scales with sqrt(1/n_real + 1/n_synthetic)).

Privacy caveat: the distances are computed from the private training data outside the DP guarantee.  The
details hold one number per column (column names are public schema), never a category value or a record.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from scipy.stats import ks_2samp

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.fidelity.quality import collapse_rare_categories
from evaluation.memorization.encoding import as_float, as_strings, modelled_columns
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from synthdata.views import subsample
from synthdata.modalities.table.schema import CategoricalColumn, TableSchema

MISSING = "(missing)"
Z_95 = 1.959963984540054


def standard_interval(value: float, replicates: np.ndarray, *, low: float = 0.0,
                      high: float = math.inf) -> tuple[float, float] | None:
    """``value`` plus or minus 1.96 standard deviations of the bootstrap ``replicates``, clipped to [low, high].

    Used for distances, whose replicates are biased upwards by resampling: the interval takes only the
    spread of the replicates, not their level.  None with fewer than 2 finite replicates.
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size < 2:
        return None
    half_width = Z_95 * float(np.std(replicates, ddof=1))
    return max(low, value - half_width), min(high, value + half_width)


def noise_scale(*, n_real: int, n_synthetic: int, n_half_a: int, n_half_b: int) -> float:
    """Factor taking a distance between samples of sizes (a, b) to sizes (n_real, n_synthetic).

    Sampling noise of the distances used here shrinks like sqrt(1/n1 + 1/n2).
    """
    return math.sqrt((1.0 / n_real + 1.0 / n_synthetic) / (1.0 / n_half_a + 1.0 / n_half_b))


def categorical_strings(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The categorical ``columns`` as strings with missing as its own level ``(missing)``."""
    return pd.DataFrame({name: as_strings(frame[name]).fillna(MISSING).to_numpy(dtype=object)
                         for name in columns}, index=range(len(frame)))


@dataclass(frozen=True)
class _Prepared:
    """Both sides of every column, ready for repeated distance computations on row indices."""

    names: list[str]
    kinds: list[str]  # "numeric" or "categorical"
    real: list[np.ndarray]  # numeric: float64 with -inf for missing; categorical: int codes
    synthetic: list[np.ndarray]
    levels: list[int]  # categorical: number of levels (0 for numeric)
    folded: dict[str, int]

    def real_halves(self, a: np.ndarray, b: np.ndarray) -> _Prepared:
        """Real rows ``a`` against real rows ``b``: the comparison a perfect generator would give."""
        return replace(self, real=[x[a] for x in self.real], synthetic=[x[b] for x in self.real])

    def distances(self, real_index: np.ndarray | None = None,
                  synthetic_index: np.ndarray | None = None) -> np.ndarray:
        out = np.empty(len(self.names))
        for j, kind in enumerate(self.kinds):
            r = self.real[j] if real_index is None else self.real[j][real_index]
            s = self.synthetic[j] if synthetic_index is None else self.synthetic[j][synthetic_index]
            if kind == "numeric":
                out[j] = ks_2samp(r, s, method="asymp").statistic
            else:
                p = np.bincount(r, minlength=self.levels[j]) / len(r)
                q = np.bincount(s, minlength=self.levels[j]) / len(s)
                out[j] = 0.5 * float(np.abs(p - q).sum())
        return out


def _prepare(real: pd.DataFrame, synthetic: pd.DataFrame, *, schema: TableSchema, columns: list[str],
             max_categories: int) -> _Prepared:
    categorical = [c for c in columns if isinstance(schema.columns[c], CategoricalColumn)]
    real_cat, synthetic_cat, folded = collapse_rare_categories(
        categorical_strings(real, categorical), categorical_strings(synthetic, categorical),
        schema=schema, max_categories=max_categories)
    kinds, real_arrays, synthetic_arrays, levels = [], [], [], []
    for name in columns:
        column = schema.columns[name]
        if name in real_cat.columns:
            both = pd.Categorical(np.concatenate([real_cat[name].to_numpy(), synthetic_cat[name].to_numpy()]))
            codes = both.codes.astype(np.int64)
            kinds.append("categorical")
            real_arrays.append(codes[:len(real)])
            synthetic_arrays.append(codes[len(real):])
            levels.append(len(both.categories))
        else:
            kinds.append("numeric")
            real_arrays.append(np.nan_to_num(as_float(real[name], column), nan=-np.inf))
            synthetic_arrays.append(np.nan_to_num(as_float(synthetic[name], column), nan=-np.inf))
            levels.append(0)
    return _Prepared(names=list(columns), kinds=kinds, real=real_arrays, synthetic=synthetic_arrays,
                     levels=levels, folded=folded)


class ColumnDistanceAudit(Audit):
    """Mean per-column distance (KS for numbers and dates, total variation for categories)."""

    name = "fidelity.column_distance"
    category = "fidelity"
    title = "Column-by-column distance (synthetic vs. real)"
    explanation = (
        "Looks at one column at a time and measures how different the synthetic values are from the real "
        "training values, on a scale from 0 (the same distribution) to 1 (completely different). For a "
        "number or date column it is the largest gap between the two cumulative distributions (the "
        "Kolmogorov-Smirnov statistic); for a category column it is the share of rows that would have to "
        "change category to make the two match (total variation distance). The value is the average over "
        "all columns; lower is better. Two samples of real patients also differ a little by chance: the "
        "details give the value two real samples of this size would have."
    )
    direction = "at_most"
    default_threshold = None

    def __init__(self, *, replicates: int = 100, max_categories: int = 20, worst: int = 5) -> None:
        if replicates == 1 or replicates < 0:
            raise ValueError("replicates must be 0 (no interval) or at least 2")
        self.replicates = replicates
        self.max_categories = max_categories
        self.worst = worst

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        schema = context.schema
        columns = modelled_columns(schema, context.train)
        real = subsample(context.train, context.settings.max_rows, rng)
        synthetic = subsample(context.synthetic, context.settings.max_rows, rng)
        if not columns or len(real) < 2 or len(synthetic) < 1:
            return Measurement(value=0.0, not_informative="no modelled columns, or too few rows to compare")
        prepared = _prepare(real, synthetic, schema=schema, columns=columns, max_categories=self.max_categories)
        per_column = prepared.distances()
        value = float(per_column.mean())

        n_real, n_synthetic = len(real), len(synthetic)
        replicates = np.array([
            prepared.distances(rng.integers(0, n_real, size=n_real),
                               rng.integers(0, n_synthetic, size=n_synthetic)).mean()
            for _ in range(self.replicates)
        ])
        interval = standard_interval(value, replicates, high=1.0)

        halves = rng.permutation(n_real)
        a, b = halves[: n_real // 2], halves[n_real // 2:]
        reference = float(prepared.real_halves(a, b).distances().mean()) * noise_scale(
            n_real=n_real, n_synthetic=n_synthetic, n_half_a=len(a), n_half_b=len(b))

        distances = {name: round(float(d), 4) for name, d in zip(prepared.names, per_column)}
        worst = sorted(distances, key=lambda name: -distances[name])[: self.worst]
        figure = _figure(prepared, per_column, reference)
        details = {
            "per_column": distances,
            "worst_columns": {name: distances[name] for name in worst},
            "mean_ks_numeric": _mean_of(per_column, prepared.kinds, "numeric"),
            "mean_tvd_categorical": _mean_of(per_column, prepared.kinds, "categorical"),
            "real_vs_real_reference": round(reference, 4),
            "categories_folded": {"max_categories": self.max_categories, "columns": prepared.folded},
            "sizes": {"train": n_real, "synthetic": n_synthetic, "train_available": len(context.train),
                      "synthetic_available": len(context.synthetic)},
            "bootstrap": self.replicates,
            "interval_method": (f"value +/- 1.96 x sd of {self.replicates} bootstrap replicates (rows of both "
                                "sides resampled)" if interval else "none (no replicates)"),
            "seconds": round(time.perf_counter() - started, 2),
        }
        return Measurement(value=value, interval=interval, details=details,
                           figures={"Distance per column": figure})


def _mean_of(values: np.ndarray, kinds: list[str], kind: str) -> float | None:
    picked = [v for v, k in zip(values, kinds) if k == kind]
    return round(float(np.mean(picked)), 4) if picked else None


def _figure(prepared: _Prepared, per_column: np.ndarray, reference: float) -> str:
    """Horizontal bars, one per column: KS (numeric/date) or total variation (categorical) distance."""
    names = prepared.names
    height = max(1.8, 0.13 * len(names) + 0.8)
    fig, ax = new_figure(width=4.8, height=height, left=0.34, bottom=0.5 / height, top=1 - 0.25 / height)
    colors = [REAL_COLOR if kind == "numeric" else SYNTHETIC_COLOR for kind in prepared.kinds]
    ax.barh(range(len(names)), per_column, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=5.5)
    ax.invert_yaxis()
    ax.set_xlim(0, max(0.1, float(per_column.max()) * 1.1))
    ax.axvline(reference, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("distance (0 = same distribution); dashed: typical for two real samples", fontsize=6)
    ax.tick_params(axis="x", labelsize=6)
    ax.legend(handles=[Patch(color=REAL_COLOR, label="numeric/date (KS)"),
                       Patch(color=SYNTHETIC_COLOR, label="categorical (TVD)")],
              fontsize=5.5, frameon=False, loc="lower right")
    return figure_to_base64(fig)
