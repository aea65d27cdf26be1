"""Pair trends across a join: do the relationships between columns of DIFFERENT tables survive in a synthetic
database (issue 17, item 4)?

The three sides are joined at one table's rows (``evaluation.joined``: by default admissions, each with its
patient's columns and its diagnoses' aggregates; the schema's ``audit_target`` table when it names one), and
every pair of joined columns from two different tables (``PATIENTS.age`` x ``DIAGNOSES.code: most frequent``,
``ADMISSIONS.los`` x ``PRESCRIPTIONS: rows``) is scored with SDMetrics' Column Pair Trends, with the quality
audit's adjustments (``quality.pair_trend_scores``: rare categories folded, numbers binned on the real edges,
no association threshold).  Pairs within one table are the per-table quality audits' business.

The value is the mean score over the cross-table pairs, synthetic against real training rows, both subsampled
to ``settings.max_rows`` (1: every cross-table trend reproduced).  Interval: ``replicates`` half-samples of
both sides, the full-sample value plus or minus t(0.975) standard deviations of the replicates (as
``fidelity.quality``).  ``details["real_vs_real_reference"]`` is the same score of the real holdout against
the real training rows: what real data of these sizes reaches.

Gated at 0.70 (the lower end of the interval), the table quality gate's bar (``fidelity.quality``), and
only where real data clears it: when the real holdout itself scores under 0.70 against the training rows (a
small extract: 0.55 on the MIMIC-III demo subset's 17 held-out patients) the figure is reported as not
informative.  Measured
with ``evaluation.benchmarks.relational_gates`` at the shipped example's size (1,000 patients; docs/benchmarks.md):
another hospital of the same population as the "synthetic" side scored 0.948 [0.927, 0.965] (median [range],
60 draws; lower ends from 0.899), so none of the 60 real-vs-real draws was blocked (95% bound on the
false-block rate: 5%); the DP generator at epsilon 3 fitted on another hospital scored 0.82-0.89 (6 draws).

Privacy caveat: computed from the private tables outside the DP guarantee; the details hold one score per
column pair (column names are public schema), never a value or a record.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
from scipy import stats

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.fidelity.quality import pair_trend_scores
from evaluation.joined import default_level, joined_context, joins, table_of
from evaluation.memorization.encoding import modelled_columns
from synthdata.views import subsample
from synthdata.views.relational import DatabaseAuditSet


def cross_pairs(columns: list[str]) -> set[tuple[str, str]]:
    """The column pairs (in ``columns``' order) whose columns come from two different tables."""
    return {(a, b) for a, b in itertools.combinations(columns, 2) if table_of(a) != table_of(b)}


def _mean(scores: dict[tuple[str, str], float]) -> float:
    finite = [s for s in scores.values() if math.isfinite(s)]
    return float(np.mean(finite)) if finite else math.nan


class CrossTableTrendsAudit(Audit):
    """SDMetrics' pair trends of joined columns from different tables, synthetic vs. real training rows."""

    name = "fidelity.cross_table_trends"
    category = "fidelity"
    title = "Pair trends across tables (joined rows)"
    explanation = (
        "Joins each table's rows with their parent rows and a summary of their child rows (for example each "
        "admission with its patient's age and its diagnoses), then compares how pairs of columns from different "
        "tables go together in the synthetic and the real data (SDMetrics' Column Pair Trends). 1 means every "
        "relationship across tables is reproduced; the details give what two real samples reach.")
    direction = "at_least"
    default_threshold = 0.70
    views = (DatabaseAuditSet,)

    def __init__(self, *, replicates: int = 10) -> None:
        self.replicates = replicates

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and joins(context, default_level(context.synthetic))

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        level = default_level(context.synthetic)
        assert level is not None
        joined = joined_context(context, level=level)
        columns = modelled_columns(joined.schema, joined.synthetic)
        pairs = cross_pairs(columns)
        if not pairs or min(len(joined.train), len(joined.synthetic), len(joined.holdout)) < 10:
            return Measurement(value=0.0, not_informative="no pair of columns from two tables, or under 10 joined "
                                                          "rows a side", details={"level": level})
        rng = context.rng(self.name)
        m = context.settings.max_rows
        real, synthetic = subsample(joined.train, m, rng), subsample(joined.synthetic, m, rng)

        def score(a, b) -> dict[tuple[str, str], float]:
            return pair_trend_scores(a, b, schema=joined.schema, columns=columns, pairs=pairs)

        scores = score(real, synthetic)
        value = _mean(scores)
        if not math.isfinite(value):
            return Measurement(value=0.0, not_informative="SDMetrics scored no cross-table pair", details={"level": level})
        replicates = [_mean(score(subsample(real, math.ceil(len(real) / 2), rng),
                                  subsample(synthetic, math.ceil(len(synthetic) / 2), rng)))
                      for _ in range(self.replicates)]
        replicates = [r for r in replicates if math.isfinite(r)]
        interval = None
        if len(replicates) >= 2:
            half = float(stats.t.ppf(0.975, len(replicates) - 1) * np.std(replicates, ddof=1))
            interval = (max(0.0, value - half), min(1.0, value + half))
        reference = _mean(score(real, subsample(joined.holdout, m, rng)))
        if math.isfinite(reference) and reference < self.default_threshold:
            return Measurement(value=value, interval=interval, details={
                "level": level, "cross_table_pairs": len(pairs), "real_vs_real_reference": round(reference, 4)},
                not_informative=(f"the real holdout scores {reference:.3f} against the real training rows, under the "
                                 f"gate's {self.default_threshold:g}: at these sizes real data itself would fail, so "
                                 "the figure cannot judge the synthetic database"))
        worst = sorted(((s, f"{a} x {b}") for (a, b), s in scores.items() if math.isfinite(s)))[:10]
        return Measurement(value=value, interval=interval, details={
            "level": level, "joined_columns": columns, "cross_table_pairs": len(pairs),
            "real_vs_real_reference": round(reference, 4) if math.isfinite(reference) else None,
            "lowest_pairs": {pair: round(s, 4) for s, pair in worst},
            "sizes": {"train": len(real), "synthetic": len(synthetic), "holdout": len(joined.holdout),
                      "half_sample_replicates": len(replicates)},
            "seconds": round(time.perf_counter() - started, 1)})
