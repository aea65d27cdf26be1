"""Per-column plots of real (training) vs. synthetic distributions, with small-cell suppression.

Privacy caveat: these figures are computed from the private training data outside the DP guarantee.  They
show distributions only, never a record, and every cell whose REAL count is below
``evaluation.base.MIN_CELL_COUNT`` is suppressed before anything is drawn:

- categorical columns: categories held by fewer than MIN_CELL_COUNT training rows (including categories that
  only the synthetic data holds) are merged into one "other (small cells)" bar, together with the categories
  beyond the ``top`` most frequent; if that merged bar itself holds fewer than MIN_CELL_COUNT real rows, its
  real bar is hidden;
- numeric and datetime columns: histograms on the PUBLIC bounds (values outside are counted in the edge
  bins); adjacent bins are merged until each holds at least MIN_CELL_COUNT real rows; if the column has
  fewer than that many real values in total, the real histogram is hidden;
- a count of missing real values below MIN_CELL_COUNT is shown as "<10".

The data behind each figure (``categorical_bars`` / ``numeric_histogram``) is computed before rendering so
that the suppression can be tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.base import MIN_CELL_COUNT
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from evaluation.memorization.encoding import (
    as_float,
    as_strings,
    modelled_columns,
    public_range,
)
from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    TableSchema,
)

OTHER_SMALL = "other (small cells)"
OTHER = "other"
MISSING = "(missing)"


@dataclass(frozen=True)
class Bars:
    """Bars of a categorical column after suppression; a ``None`` real count is a hidden bar."""

    labels: list[str]
    real: list[int | None]
    synthetic: list[int]
    merged_small: int  # number of real categories with 1..MIN_CELL_COUNT-1 rows merged away
    real_total: int
    synthetic_total: int


@dataclass(frozen=True)
class Histogram:
    """A histogram after suppression: ``real`` is None when the real histogram is hidden."""

    edges: np.ndarray
    real: np.ndarray | None
    synthetic: np.ndarray
    merged_bins: int
    real_missing: int
    synthetic_missing: int


def categorical_bars(*, real: pd.Series, synthetic: pd.Series, top: int = 12) -> Bars:
    """Bars of the ``top`` categories by real count, each held by at least MIN_CELL_COUNT real rows."""
    real_counts = as_strings(real).fillna(MISSING).value_counts()
    synthetic_counts = as_strings(synthetic).fillna(MISSING).value_counts()
    shown = [str(c) for c, n in real_counts.items() if n >= MIN_CELL_COUNT][:top]
    small = int(((real_counts > 0) & (real_counts < MIN_CELL_COUNT)).sum())
    labels = list(shown)
    real_bars: list[int | None] = [int(real_counts[c]) for c in shown]
    synthetic_bars = [int(synthetic_counts.get(c, 0)) for c in shown]
    rest_real = int(real_counts.sum()) - sum(int(n) for n in real_bars if n is not None)
    rest_synthetic = int(synthetic_counts.sum()) - sum(synthetic_bars)
    if rest_real or rest_synthetic:
        labels.append(OTHER_SMALL if small or rest_real < MIN_CELL_COUNT else OTHER)
        real_bars.append(rest_real if rest_real == 0 or rest_real >= MIN_CELL_COUNT else None)
        synthetic_bars.append(rest_synthetic)
    return Bars(labels=labels, real=real_bars, synthetic=synthetic_bars, merged_small=small,
                real_total=int(real_counts.sum()), synthetic_total=int(synthetic_counts.sum()))


def _bin_edges(bounds: tuple[float, float], *, bins: int, integer: bool) -> np.ndarray:
    low, high = bounds
    if integer and high - low + 1 <= bins:
        return np.arange(low - 0.5, high + 1.0, 1.0)
    return np.linspace(low, high, bins + 1)


def numeric_histogram(
    *, real: np.ndarray, synthetic: np.ndarray, bounds: tuple[float, float], bins: int = 20,
    integer: bool = False,
) -> Histogram:
    """Histogram on the public bounds with adjacent bins merged until each holds MIN_CELL_COUNT real rows."""
    edges = _bin_edges(bounds, bins=bins, integer=integer)
    real_values = real[np.isfinite(real)]
    synthetic_values = synthetic[np.isfinite(synthetic)]
    clip = (edges[0], edges[-1])
    real_counts, _ = np.histogram(np.clip(real_values, *clip), bins=edges)
    # Greedy merge left to right; a final group below the minimum joins the previous group.
    groups: list[list[int]] = []
    current: list[int] = []
    for i, count in enumerate(real_counts):
        current.append(i)
        if real_counts[current].sum() >= MIN_CELL_COUNT:
            groups.append(current)
            current = []
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    merged_edges = np.array([edges[g[0]] for g in groups] + [edges[-1]])
    merged_real, _ = np.histogram(np.clip(real_values, *clip), bins=merged_edges)
    merged_synthetic, _ = np.histogram(np.clip(synthetic_values, *clip), bins=merged_edges)
    hidden = real_values.size < MIN_CELL_COUNT
    return Histogram(
        edges=merged_edges,
        real=None if hidden else merged_real,
        synthetic=merged_synthetic,
        merged_bins=len(real_counts) - len(groups),
        real_missing=int(real.size - real_values.size),
        synthetic_missing=int(synthetic.size - synthetic_values.size),
    )


def column_plot_data(
    *, train: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, max_columns: int = 60
) -> dict[str, Bars | Histogram]:
    """The suppressed plot data of each modelled column (at most ``max_columns``), before rendering."""
    data: dict[str, Bars | Histogram] = {}
    for name in modelled_columns(schema, train)[:max_columns]:
        column = schema.columns[name]
        if isinstance(column, CategoricalColumn):
            data[name] = categorical_bars(real=train[name], synthetic=synthetic[name])
            continue
        real = as_float(train[name], column)
        fake = as_float(synthetic[name], column)
        bounds = public_range(column)
        if bounds is None:  # no public bounds: bin on the synthetic range (not the real one)
            finite = fake[np.isfinite(fake)]
            bounds = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if bounds[1] <= bounds[0]:
            bounds = (bounds[0], bounds[0] + 1.0)
        integer = bool(getattr(column, "integer", False))
        data[name] = numeric_histogram(real=real, synthetic=fake, bounds=bounds, integer=integer)
    return data


def _missing_text(count: int, total: int) -> str:
    if count == 0:
        return "0%"
    if count < MIN_CELL_COUNT:
        return f"<{MIN_CELL_COUNT} rows"
    return f"{100.0 * count / max(total, 1):.1f}%"


def _render_bars(name: str, bars: Bars) -> str:
    fig, ax = new_figure(width=3.6, height=2.6, bottom=0.34)
    x = np.arange(len(bars.labels))
    real = [np.nan if n is None else n / max(bars.real_total, 1) for n in bars.real]
    synthetic = [n / max(bars.synthetic_total, 1) for n in bars.synthetic]
    ax.bar(x - 0.2, real, width=0.4, color=REAL_COLOR, label="real (train)")
    ax.bar(x + 0.2, synthetic, width=0.4, color=SYNTHETIC_COLOR, label="synthetic")
    ax.set_xticks(x, [label if len(label) <= 22 else label[:21] + "…" for label in bars.labels], rotation=60, ha="right", fontsize=6)
    ax.set_ylabel("share of rows", fontsize=7)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_title(name, fontsize=8)
    ax.legend(fontsize=6, frameon=False, loc="upper right")
    if bars.merged_small or None in bars.real:
        fig.text(0.01, 0.01, f"categories with <{MIN_CELL_COUNT} real rows merged or hidden", fontsize=5.5)
    return figure_to_base64(fig)


def _render_histogram(name: str, hist: Histogram, *, datetime: bool) -> str:
    fig, ax = new_figure(width=3.6, height=2.4, bottom=0.24)
    widths = np.diff(hist.edges)
    if hist.real is not None:
        ax.stairs(hist.real / max(hist.real.sum(), 1) / widths, hist.edges, color=REAL_COLOR, fill=True,
                  alpha=0.5, label="real (train)")
    ax.stairs(hist.synthetic / max(hist.synthetic.sum(), 1) / widths, hist.edges, color=SYNTHETIC_COLOR,
              linewidth=1.5, label="synthetic")
    ax.set_xlabel("days since 1970-01-01" if datetime else "value (public bounds)", fontsize=7)
    ax.set_ylabel("density", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(name, fontsize=8)
    ax.legend(fontsize=6, frameon=False, loc="upper right")
    real_total = (0 if hist.real is None else int(hist.real.sum())) + hist.real_missing
    synthetic_total = int(hist.synthetic.sum()) + hist.synthetic_missing
    text = (f"missing: real {_missing_text(hist.real_missing, real_total)}, synthetic "
            f"{_missing_text(hist.synthetic_missing, synthetic_total)}")
    if hist.merged_bins or hist.real is None:
        text += f"; bins with <{MIN_CELL_COUNT} real rows merged" + (" (real hidden)" if hist.real is None else "")
    fig.text(0.01, 0.01, text, fontsize=5.5)
    return figure_to_base64(fig)


def column_plots(
    *, train: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, max_columns: int = 60
) -> list[tuple[str, str]]:
    """(title, base64 PNG) per modelled column: real training vs. synthetic distribution, small cells suppressed."""
    figures: list[tuple[str, str]] = []
    for name, data in column_plot_data(train=train, synthetic=synthetic, schema=schema,
                                       max_columns=max_columns).items():
        if isinstance(data, Bars):
            figures.append((f"{name} (categorical)", _render_bars(name, data)))
        else:
            datetime = isinstance(schema.columns[name], DatetimeColumn)
            kind = "datetime" if datetime else "numeric"
            figures.append((f"{name} ({kind})", _render_histogram(name, data, datetime=datetime)))
    return figures
