"""SDMetrics' QualityReport: how closely the synthetic columns and column pairs follow the real ones.

The value is SDMetrics' overall quality score (mean of Column Shapes and Column Pair Trends) of the
synthetic data against the training data on the modelled columns, both sides subsampled to
``settings.max_rows`` rows.  A missing categorical value counts as its own category (SDMetrics would drop
it); missing numeric values are left out of the numeric comparisons.  Two adjustments make the score mean
what it says on the data we audit:

- High-cardinality categorical columns are folded to their ``max_categories`` (20) most frequent real
  categories plus one "other" category.  SDMetrics 0.32 counts only column pairs whose real association
  (Cramer's V) exceeds 0.3, and Cramer's V of a k-level column on n rows is biased up by about sqrt(k / n)
  even between independent columns (0.4 for 350 diagnosis codes on 2,000 rows): unfolded, such pairs
  dominate the score with sampling noise, and an independent-columns generator scores like real data.
- Numeric columns paired with categorical ones are binned on the real data's edges on both sides.  SDMetrics
  0.32 bins each side on its own range, so a single synthetic value beyond the real range shifts every bin
  (see ``_real_binned_pair_trends``).

Interval: SDMetrics gives none, so it comes from half-sampling.  ``replicates`` (10) times, both subsamples
are halved again (without replacement) and the same statistic recomputed: for a smooth statistic the
variance of a half-sample estimate approximates that of the full-sample estimate (exactly so for a mean:
sigma^2 / (n/2) * (1 - 1/2) = sigma^2 / n).  "The same statistic" means the pairs the full-sample report
counted, scored without the association threshold (``score_over_pairs``; on the full sample this reproduces
SDMetrics' score), since which pairs pass the threshold would otherwise change between half-samples.  The
interval is the full-sample score plus or minus Student's t(0.975, replicates - 1) times the standard
deviation of the replicate scores, clipped to [0, 1].  Half-samples score a little lower (the metrics have a
small-sample bias), so only their spread is used, never their level.

Cost: the full report scores every column pair (about 7 ms each, nearly independent of the row count: 7-9 s
for 48 columns); the replicates score only the counted pairs (0.1-0.3 s each).

Privacy caveat: the scores are computed from the private training data outside the DP guarantee; the
details hold scores per column (aggregates), the names of folded columns and their numbers of categories.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.memorization.encoding import as_float, as_strings, modelled_columns
from evaluation.report.figures import figure_to_base64, new_figure
from synthdata.views import subsample
from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    TableSchema,
)

_TABLE = "table"
_MISSING = "(missing)"
_OTHER = "(other categories)"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence SDMetrics' warnings and log output for the duration."""
    logger = logging.getLogger("sdmetrics")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                yield
    finally:
        logger.setLevel(level)


def sdmetrics_frame(frame: pd.DataFrame, *, schema: TableSchema, columns: list[str]) -> pd.DataFrame:
    """The columns in the dtypes SDMetrics expects; missing categoricals become a '(missing)' category.

    Positional: the result has a fresh 0..n-1 index whatever the input's index labels are.
    """
    out: dict[str, Any] = {}
    for name in columns:
        column = schema.columns[name]
        if isinstance(column, CategoricalColumn):
            out[name] = as_strings(frame[name]).fillna(_MISSING).to_numpy(dtype=object)
        elif isinstance(column, DatetimeColumn):
            out[name] = pd.to_datetime(frame[name], errors="coerce", format=column.format).to_numpy()
        else:
            out[name] = as_float(frame[name], column)
    return pd.DataFrame(out, index=range(len(frame)))


def sdmetrics_metadata(*, schema: TableSchema, columns: list[str]) -> dict[str, Any]:
    """Unified SDMetrics metadata for one table of the given columns."""
    sdtypes: dict[str, dict[str, str]] = {}
    for name in columns:
        column = schema.columns[name]
        if isinstance(column, NumericColumn):
            sdtypes[name] = {"sdtype": "numerical"}
        elif isinstance(column, DatetimeColumn):
            sdtypes[name] = {"sdtype": "datetime"}
        else:
            sdtypes[name] = {"sdtype": "categorical"}
    return {"tables": {_TABLE: {"columns": sdtypes}}}


def collapse_rare_categories(
    real: pd.DataFrame, synthetic: pd.DataFrame, *, schema: TableSchema, max_categories: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Keep each categorical column's ``max_categories`` most frequent real categories, fold the rest.

    Returns the two frames and, per folded column, how many distinct values the real subsample had.
    """
    real, synthetic = real.copy(), synthetic.copy()
    folded: dict[str, int] = {}
    for name in real.columns:
        if not isinstance(schema.columns[name], CategoricalColumn):
            continue
        counts = real[name].value_counts()
        if len(counts) <= max_categories:
            continue
        keep = set(counts.index[:max_categories])
        real[name] = real[name].where(real[name].isin(keep), _OTHER)
        synthetic[name] = synthetic[name].where(synthetic[name].isin(keep), _OTHER)
        folded[name] = len(counts)
    return real, synthetic, folded



def _real_binned_pair_trends(pairs: list[tuple[str, str]] | None = None) -> type:
    """SDMetrics' single-table ColumnPairTrends, binning the synthetic numbers on the REAL bin edges.

    SDMetrics 0.32 discretizes each numeric column (for pairs with a categorical column) with edges computed
    from each side's own range, so one synthetic value beyond the real maximum shifts every synthetic bin
    and wrecks the score of every pair with that column (real vs. fresh real rows: 0.18 instead of 0.96
    for diag_3 x number_diagnoses on the demo).  SDMetrics' stated intent (sdv-dev/SDMetrics#368) is bins
    from the real data applied to both; this subclass does that and leaves the real side's bins unchanged.
    ``pairs`` restricts the scored column pairs (SDMetrics scores every pair, about 7 ms each).
    """
    from sdmetrics.reports.single_table._properties import ColumnPairTrends
    from sdmetrics.reports.utils import get_columns_from_metadata

    class RealBinnedColumnPairTrends(ColumnPairTrends):
        _real_edges: dict[str, Any] | None = None

        def _generate_details(self, real_data: Any, synthetic_data: Any, metadata: dict[str, Any],
                              progress_bar: Any = None, column_pairs: Any = None) -> Any:
            return super()._generate_details(real_data, synthetic_data, metadata, progress_bar,
                                             column_pairs=pairs if column_pairs is None else column_pairs)

        def _get_processed_data(self, data: pd.DataFrame, metadata: dict[str, Any]) -> Any:
            processed = self._convert_datetime_columns_to_numeric(data.copy(), metadata)
            first = self._real_edges is None  # SDMetrics processes the real data first
            edges: dict[str, Any] = {} if first else self._real_edges
            discretized = {}
            for name, meta in get_columns_from_metadata(metadata).items():
                if meta["sdtype"] in ("numerical", "datetime"):
                    discretized[name], edge = self._discretize_column(name, processed[name],
                                                                      None if first else edges.get(name))
                    edges.setdefault(name, edge)
            if first:
                self._real_edges = edges
            return processed, pd.DataFrame(discretized, index=processed.index)

    return RealBinnedColumnPairTrends


def _report(
    real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any], *, all_pairs: bool = False,
    real_bins: bool = True, pairs: set[tuple[str, str]] | None = None,
) -> Any:
    """SDMetrics' QualityReport.

    ``all_pairs`` scores every column pair, without SDMetrics' real-association threshold; ``pairs`` (which
    implies ``all_pairs``) scores only those pairs.  ``real_bins`` (default) applies the real data's bin
    edges to the synthetic data (see ``_real_binned_pair_trends``); False runs SDMetrics unchanged.
    """
    from sdmetrics.reports import (
        QualityReport,  # imported late: heavy, and only this audit needs it
    )

    report = QualityReport()
    if pairs is not None and not real_bins:
        raise ValueError("pairs needs real_bins")
    if real_bins:
        property_ = report._properties["Column Pair Trends"]
        property_._single_table_property = _real_binned_pair_trends(None if pairs is None else sorted(pairs))
    if all_pairs or pairs is not None:
        report.real_correlation_threshold = 0
        report.real_association_threshold = 0
    with _quiet():
        report.generate({_TABLE: real.reset_index(drop=True)}, {_TABLE: synthetic.reset_index(drop=True)},
                        metadata, verbose=False)
    return report


def pair_trend_scores(real: pd.DataFrame, synthetic: pd.DataFrame, *, schema: TableSchema, columns: list[str],
                      pairs: set[tuple[str, str]], max_categories: int = 20) -> dict[tuple[str, str], float]:
    """SDMetrics' Column Pair Trends score of each of ``pairs`` (in ``columns``' order, as
    ``itertools.combinations(columns, 2)`` gives them), with this module's adjustments (rare categories folded,
    numbers binned on the real edges) and no association threshold; NaN where SDMetrics gives none."""
    metadata = sdmetrics_metadata(schema=schema, columns=columns)
    real_frame, synthetic_frame, _ = collapse_rare_categories(
        sdmetrics_frame(real, schema=schema, columns=columns), sdmetrics_frame(synthetic, schema=schema, columns=columns),
        schema=schema, max_categories=max_categories)
    details = _report(real_frame, synthetic_frame, metadata, pairs=pairs).get_details("Column Pair Trends")
    return {(a, b): float(score) for a, b, score in zip(details["Column 1"], details["Column 2"], details["Score"])
            if (a, b) in pairs}


def counted_pairs(report: Any) -> set[tuple[str, str]]:
    """The column pairs that count towards a (default-threshold) report's Column Pair Trends score."""
    pairs = report.get_details("Column Pair Trends")
    if "Meets Threshold?" in pairs.columns:
        counted = pairs["Meets Threshold?"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    else:
        counted = np.ones(len(pairs), dtype=bool)
    counted &= pairs["Score"].notna().to_numpy()
    return set(zip(pairs.loc[counted, "Column 1"], pairs.loc[counted, "Column 2"]))


def score_over_pairs(report: Any, pairs: set[tuple[str, str]]) -> float:
    """SDMetrics' overall score (mean of Column Shapes and Column Pair Trends) over a fixed set of pairs.

    On an ``all_pairs`` report with the pairs a default report counted, this reproduces that report's score.
    """
    shapes = report.get_details("Column Shapes")["Score"].mean()
    details = report.get_details("Column Pair Trends")
    mask = [pair in pairs for pair in zip(details["Column 1"], details["Column 2"])]
    pair_scores = details.loc[mask, "Score"]
    trends = float(pair_scores.mean()) if pair_scores.notna().any() else float("nan")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(np.nanmean([float(shapes), trends]))


class QualityAudit(Audit):
    """SDMetrics quality score (Column Shapes and Column Pair Trends) of synthetic vs. training data."""

    name = "fidelity.quality"
    category = "fidelity"
    title = "Statistical fidelity (SDMetrics quality score)"
    explanation = (
        "Compares each column's distribution (Column Shapes) and each pair of columns' relationship "
        "(Column Pair Trends) between the synthetic data and the real training data. 1 means "
        "indistinguishable by these summaries, 0 means completely different."
    )
    direction = "at_least"
    default_threshold = 0.70

    def __init__(self, *, replicates: int = 10, max_categories: int = 20) -> None:
        if replicates == 1 or replicates < 0:
            raise ValueError("replicates must be 0 (no interval) or at least 2")
        self.replicates = replicates
        self.max_categories = max_categories

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        schema = context.schema
        columns = modelled_columns(schema, context.train)
        metadata = sdmetrics_metadata(schema=schema, columns=columns)
        rng = context.rng(self.name)
        m = context.settings.max_rows
        real = sdmetrics_frame(subsample(context.train, m, rng), schema=schema, columns=columns)
        synthetic = sdmetrics_frame(subsample(context.synthetic, m, rng), schema=schema, columns=columns)
        real, synthetic, folded = collapse_rare_categories(real, synthetic, schema=schema,
                                                           max_categories=self.max_categories)

        report = _report(real, synthetic, metadata)
        value = float(report.get_score())
        property_table = report.get_properties()
        properties = dict(zip(property_table["Property"], property_table["Score"]))
        shapes = report.get_details("Column Shapes")
        shape_scores = {str(c): round(float(s), 4) for c, s in zip(shapes["Column"], shapes["Score"])}
        pairs = report.get_details("Column Pair Trends")
        if not math.isfinite(value):
            return Measurement(value=0.0, not_informative="SDMetrics returned no finite quality score",
                               details={"sizes": {"train": len(real), "synthetic": len(synthetic)}})

        counted = counted_pairs(report)
        replicate_scores: list[float] = []
        for _ in range(self.replicates):
            half_real = subsample(real, math.ceil(len(real) / 2), rng)
            half_synthetic = subsample(synthetic, math.ceil(len(synthetic) / 2), rng)
            half = _report(half_real, half_synthetic, metadata, pairs=counted)
            score = score_over_pairs(half, counted)
            if math.isfinite(score):
                replicate_scores.append(score)
        interval = None
        if len(replicate_scores) >= 2:
            half_width = float(stats.t.ppf(0.975, len(replicate_scores) - 1) * np.std(replicate_scores, ddof=1))
            interval = (max(0.0, value - half_width), min(1.0, value + half_width))

        details = {
            "column_shapes": round(float(properties.get("Column Shapes", float("nan"))), 4),
            "column_pair_trends": round(float(properties.get("Column Pair Trends", float("nan"))), 4),
            "column_shape_scores": shape_scores,
            "column_pairs_counted": len(counted),  # pairs with a real association above SDMetrics' threshold
            "column_pairs_total": len(pairs),
            "categories_folded": {
                "max_categories": self.max_categories,
                "columns": folded,  # column -> distinct values in the real subsample before folding
            },
            "sizes": {"train": len(real), "synthetic": len(synthetic),
                      "half_sample_replicates": len(replicate_scores)},
            "replicate_scores": [round(s, 4) for s in replicate_scores],
            "interval_method": (
                f"full-sample score +/- t(0.975, {len(replicate_scores) - 1}) x sd of "
                f"{len(replicate_scores)} half-sample replicate scores"
                if interval else "none (no replicates)"
            ),
            "seconds": round(time.perf_counter() - started, 1),
        }
        return Measurement(value=value, interval=interval, details=details,
                           figures={"Column shape score per column": _shape_figure(shape_scores)})


def _shape_figure(scores: dict[str, float]) -> str:
    names = list(scores)
    height = max(1.6, 0.15 * len(names) + 0.7)
    fig, ax = new_figure(width=4.8, height=height, left=0.36, bottom=0.45 / height, top=1 - 0.15 / height)
    ax.barh(range(len(names)), [scores[n] for n in names], color="#4c72b0")
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("Column shape score (1 = same distribution)", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    return figure_to_base64(fig)
