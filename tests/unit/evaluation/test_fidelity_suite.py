"""Column distance, association difference and detection audits on the real demo slice.

Fresh real rows (disjoint by patient from training) must score near the ideal; an independent-columns
generator must lose the pairwise associations; a grossly distorted copy of the fresh rows must be far and
easy to detect; training copies must push the detection AUC below 0.5.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, ks_2samp, rankdata, spearmanr

from evaluation.base import Measurement
from evaluation.fidelity.column_distance import ColumnDistanceAudit
from evaluation.fidelity.correlation import (
    CorrelationAudit,
    _weighted_rank_correlation,
    correlation_ratio_corrected,
    cramers_v_corrected,
)
from evaluation.fidelity.detection import DetectionAudit
from synthdata.modalities.table.schema import CategoricalColumn


@pytest.fixture(scope="module")
def distorted(demo) -> pd.DataFrame:
    """Fresh real rows with every number shifted by 30% of its public range and every category relabelled."""
    frame = demo.fresh.copy()
    for name in frame.columns:
        column = demo.schema.columns[name]
        if isinstance(column, CategoricalColumn):
            levels = sorted(frame[name].dropna().unique())
            rotate = {level: levels[(i + 1) % len(levels)] for i, level in enumerate(levels)}
            frame[name] = frame[name].map(rotate).astype(object).where(frame[name].notna(), None)
        else:
            frame[name] = frame[name] + 0.3 * (column.max - column.min)
    return frame


@pytest.fixture(scope="module")
def distances(demo, independent, distorted) -> dict[str, Measurement]:
    audit = ColumnDistanceAudit()
    return {label: audit.measure(demo.context(synthetic))
            for label, synthetic in [("fresh", demo.fresh), ("independent", independent), ("distorted", distorted)]}


@pytest.fixture(scope="module")
def associations(demo, independent) -> dict[str, Measurement]:
    audit = CorrelationAudit()
    return {label: audit.measure(demo.context(synthetic))
            for label, synthetic in [("fresh", demo.fresh), ("independent", independent)]}


@pytest.fixture(scope="module")
def detections(demo, copies, distorted) -> dict[str, Measurement]:
    audit = DetectionAudit()
    return {label: audit.measure(demo.context(synthetic))
            for label, synthetic in [("fresh", demo.fresh), ("copies", copies), ("distorted", distorted)]}


# --- column distance ---------------------------------------------------------------------------------------

def test_fresh_rows_are_close_column_by_column(demo, distances):
    fresh = distances["fresh"]
    assert set(fresh.details["per_column"]) == set(demo.schema.modelled_columns)
    assert fresh.value < 0.03
    assert max(fresh.details["per_column"].values()) < 0.1
    # Fresh real rows score about what two real samples of these sizes score.
    reference = fresh.details["real_vs_real_reference"]
    assert 0.5 * reference < fresh.value < 2.0 * reference
    low, high = fresh.interval
    assert 0.0 <= low < fresh.value < high < 0.05


def test_distorted_rows_are_far_column_by_column(distances):
    fresh, distorted = distances["fresh"], distances["distorted"]
    assert distorted.value > 0.25
    assert distorted.interval[0] > 5 * fresh.interval[1]
    worst = distorted.details["worst_columns"]
    assert len(worst) == 5 and min(worst.values()) > 0.5
    assert list(worst.values()) == sorted(worst.values(), reverse=True)


def test_column_distance_is_ks_and_total_variation(demo, distances):
    per_column = distances["distorted"].details["per_column"]
    # numeric column without missing values: the plain KS statistic
    expected_ks = ks_2samp(demo.train["num_medications"], demo.fresh["num_medications"] + 30.0).statistic
    assert per_column["num_medications"] == pytest.approx(expected_ks, abs=1e-4)
    # categorical column with few levels and missing values: total variation, missing as a level
    real = demo.train["race"].fillna("(missing)").value_counts(normalize=True)
    levels = sorted(demo.fresh["race"].dropna().unique())
    shifted = demo.fresh["race"].map({v: levels[(i + 1) % len(levels)] for i, v in enumerate(levels)})
    fake = shifted.fillna("(missing)").value_counts(normalize=True)
    expected_tvd = 0.5 * real.sub(fake, fill_value=0.0).abs().sum()
    assert per_column["race"] == pytest.approx(expected_tvd, abs=1e-4)


def test_column_distance_subsamples_to_max_rows(demo):
    m = ColumnDistanceAudit(replicates=5).measure(demo.context(demo.fresh, max_rows=300))
    assert m.details["sizes"]["train"] == 300 and m.details["sizes"]["synthetic"] == 300
    assert m.details["bootstrap"] == 5
    assert ColumnDistanceAudit(replicates=0).measure(demo.context(demo.fresh, max_rows=300)).interval is None


# --- association difference --------------------------------------------------------------------------------

def test_independent_columns_lose_the_associations(associations):
    fresh, independent = associations["fresh"], associations["independent"]
    assert independent.value > 2.0 * fresh.value
    assert independent.interval[0] > fresh.interval[1]
    # Fresh real rows differ from training by about what two real samples do.
    reference = fresh.details["real_vs_real_reference"]
    assert 0.5 * reference < fresh.value < 1.5 * reference
    # The pairs that differ most are strong real associations the independent generator dropped.
    top = independent.details["largest_differences"][:5]
    assert all(pair["real"] > 0.3 and abs(pair["synthetic"]) < 0.1 for pair in top)
    assert not any(pair["real"] > 0.3 for pair in fresh.details["largest_differences"][:5]
                   if abs(pair["synthetic"]) < 0.1)


def test_association_measures_match_their_definitions(demo):
    rng = np.random.default_rng(5)
    # Spearman: pairs of real numeric columns
    numeric = ["time_in_hospital", "num_lab_procedures", "num_medications"]
    values = demo.train[numeric].to_numpy()
    ranks = rankdata(values, axis=0)
    ours = _weighted_rank_correlation(ranks, np.ones_like(ranks), np.ones(len(ranks)))
    assert ours[np.triu_indices(3, 1)] == pytest.approx(spearmanr(values).statistic[np.triu_indices(3, 1)], abs=1e-9)
    # Bias-corrected Cramer's V (Bergsma 2013) from scipy's chi-squared
    table = pd.crosstab(demo.train["insulin"], demo.train["change"]).to_numpy().astype(float)
    n, (r, k) = table.sum(), table.shape
    phi2 = max(0.0, chi2_contingency(table, correction=False)[0] / n - (k - 1) * (r - 1) / (n - 1))
    expected = np.sqrt(phi2 / min(k - (k - 1) ** 2 / (n - 1) - 1, r - (r - 1) ** 2 / (n - 1) - 1))
    assert cramers_v_corrected(table[None])[0] == pytest.approx(expected, rel=1e-9)
    assert expected > 0.5  # insulin and medication change go together
    # ... and about 0 for independent columns with many levels (plain Cramer's V is about 0.1 here)
    a, b = rng.integers(0, 20, 2000), rng.integers(0, 20, 2000)
    noise = np.histogram2d(a, b, bins=[np.arange(21), np.arange(21)])[0]
    assert cramers_v_corrected(noise[None])[0] < 0.05
    # Correlation ratio: eta^2 = between-group share of variance, bias corrected
    y = rng.normal(size=3000) + np.repeat([0.0, 1.0, 2.0], 1000)
    groups = np.repeat([0, 1, 2], 1000)
    counts = np.bincount(groups).astype(float)[None]
    sums, squares = np.bincount(groups, y)[None], np.bincount(groups, y * y)[None]
    between = sum(1000 * (y[groups == g].mean() - y.mean()) ** 2 for g in range(3))
    total = ((y - y.mean()) ** 2).sum()
    epsilon2 = (between - 2 * (total - between) / (3000 - 3)) / total
    assert correlation_ratio_corrected(counts, sums, squares)[0] == pytest.approx(np.sqrt(epsilon2), rel=1e-6)


# --- detection ---------------------------------------------------------------------------------------------

def test_fresh_rows_are_not_detected(detections):
    fresh = detections["fresh"]
    assert abs(fresh.value - 0.5) < 0.05
    low, high = fresh.interval
    assert low < 0.52 and high > 0.5
    assert fresh.details["auc"] == pytest.approx(fresh.value, abs=1e-4)


def test_distorted_rows_are_detected(detections):
    distorted = detections["distorted"]
    assert distorted.value > 0.95
    assert distorted.interval[0] > 0.9
    assert distorted.details["share_synthetic_flagged_confidently"] > 0.5


def test_copies_push_detection_below_chance(detections):
    copies = detections["copies"]
    assert copies.interval[1] < 0.5
    assert "copy" in copies.details["note"]
    assert "copy" not in detections["fresh"].details["note"]


def test_detection_subsamples_equal_sides(demo, copies):
    m = DetectionAudit(folds=2).measure(demo.context(demo.fresh, max_rows=200, bootstrap=20))
    assert m.details["sizes"]["train"] == m.details["sizes"]["synthetic"] == 200
    assert m.details["folds"] == 2
    # the copies fixture has fewer rows than training: both sides take its size
    n = len(copies)
    assert DetectionAudit().measure(demo.context(copies, bootstrap=20)).details["sizes"]["train"] == n


# --- all three -----------------------------------------------------------------------------------------------

def _strings(value: object) -> set[str]:
    if isinstance(value, dict):
        return set().union(*[{str(k)} | _strings(v) for k, v in value.items()]) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*[_strings(v) for v in value]) if value else set()
    return {value} if isinstance(value, str) else set()


def test_details_hold_no_category_values_and_figures_are_png(demo, distances, associations, detections):
    categorical = [c for c in demo.schema.modelled_columns if isinstance(demo.schema.columns[c], CategoricalColumn)]
    values = set().union(*[set(demo.train[c].dropna().astype(str)) for c in categorical])
    values -= set(demo.schema.modelled_columns)  # a column name is schema, not data
    for measurement in [*distances.values(), *associations.values(), *detections.values()]:
        json.dumps(measurement.details)  # serialisable for audit.json
        assert not _strings(measurement.details) & values
        assert measurement.details["seconds"] < 10
        assert len(measurement.figures) == 1
        for png in measurement.figures.values():
            assert base64.b64decode(png).startswith(b"\x89PNG")
