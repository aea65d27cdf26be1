"""Fidelity audit (SDMetrics QualityReport) on the real demo slice."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.base import AuditContext, AuditSettings
from evaluation.fidelity.quality import QualityAudit, collapse_rare_categories


def test_independent_columns_lose_column_pair_trends(fresh_quality, independent_quality):
    fresh = fresh_quality.details["column_pair_trends"]
    independent = independent_quality.details["column_pair_trends"]
    # Fresh real rows keep the associations (insulin/change/diabetesMed, admission type/source);
    # sampling each column independently destroys them.
    assert fresh - independent > 0.08
    assert fresh_quality.value > independent_quality.value
    # ... while the marginals of the independent generator are as good as fresh real rows'.
    assert independent_quality.details["column_shapes"] > 0.95


def test_quality_measurement_is_complete(demo, fresh_quality):
    m = fresh_quality
    assert 0.0 <= m.value <= 1.0
    low, high = m.interval
    assert 0.0 <= low < m.value < high <= 1.0
    assert high - low < 0.1  # ten half-sample replicates on ~1,600 rows
    assert len(m.details["replicate_scores"]) == 10
    assert set(m.details["column_shape_scores"]) == set(demo.schema.modelled_columns)
    assert all(0.0 <= s <= 1.0 for s in m.details["column_shape_scores"].values())
    assert m.details["sizes"] == {"train": len(demo.train), "synthetic": len(demo.fresh),
                                  "half_sample_replicates": 10}
    assert m.value == pytest.approx((m.details["column_shapes"] + m.details["column_pair_trends"]) / 2, abs=1e-3)
    assert m.details["column_pairs_counted"] >= 1
    assert "Column shape score per column" in m.figures


def test_max_rows_subsamples_both_sides_and_replicates_give_an_interval(demo):
    # A few columns keep this fast: SDMetrics' cost grows with the number of column pairs.
    keep = ["age", "gender", "time_in_hospital", "num_medications", "insulin", "change", "readmitted"]
    schema = demo.schema.model_copy(update={"columns": {c: demo.schema.columns[c] for c in keep}})
    context = AuditContext(modality="table", train=demo.train[keep], holdout=demo.holdout[keep],
                           synthetic=demo.fresh[keep], schema=schema, settings=AuditSettings(max_rows=300))
    m = QualityAudit(replicates=3).measure(context)
    assert m.details["sizes"] == {"train": 300, "synthetic": 300, "half_sample_replicates": 3}
    assert set(m.details["column_shape_scores"]) == set(keep)
    low, high = m.interval
    assert 0.0 <= low < m.value < high <= 1.0
    assert len(m.details["replicate_scores"]) == 3
    assert QualityAudit(replicates=0).measure(context).interval is None


def test_rare_categories_fold_by_real_frequency(demo):
    real = pd.DataFrame({"diag_1": ["a"] * 5 + ["b"] * 3 + ["c", "d"]})
    synthetic = pd.DataFrame({"diag_1": ["a", "c", "z"]})
    folded_real, folded_synthetic, folded = collapse_rare_categories(
        real, synthetic, schema=demo.schema, max_categories=2)
    assert folded == {"diag_1": 4}
    assert folded_real["diag_1"].value_counts().to_dict() == {"a": 5, "b": 3, "(other categories)": 2}
    assert folded_synthetic["diag_1"].tolist() == ["a", "(other categories)", "(other categories)"]


def test_sdmetrics_frame_keeps_rows_together_whatever_the_index(demo):
    from evaluation.fidelity.quality import sdmetrics_frame

    rows = demo.train.iloc[[5, 1, 3]]  # a subsample keeps its original, non-range index labels
    out = sdmetrics_frame(rows, schema=demo.schema, columns=["race", "num_medications", "readmitted"])
    assert list(out.index) == [0, 1, 2]
    assert out["num_medications"].tolist() == rows["num_medications"].tolist()
    assert out["readmitted"].tolist() == rows["readmitted"].tolist()
    assert out["race"].tolist() == rows["race"].fillna("(missing)").tolist()


def test_fixed_pair_score_reproduces_sdmetrics_score(demo):
    from evaluation.fidelity.quality import (
        _report,
        counted_pairs,
        score_over_pairs,
        sdmetrics_frame,
        sdmetrics_metadata,
    )

    keep = ["age", "time_in_hospital", "num_medications", "num_lab_procedures", "insulin", "change",
            "diabetesMed", "admission_type_id", "admission_source_id"]
    metadata = sdmetrics_metadata(schema=demo.schema, columns=keep)
    real = sdmetrics_frame(demo.train, schema=demo.schema, columns=keep)
    synthetic = sdmetrics_frame(demo.fresh, schema=demo.schema, columns=keep)
    default = _report(real, synthetic, metadata)
    pairs = counted_pairs(default)
    assert 0 < len(pairs) < len(keep) * (len(keep) - 1) // 2  # the threshold leaves some pairs out
    every = _report(real, synthetic, metadata, all_pairs=True)
    assert score_over_pairs(every, pairs) == pytest.approx(default.get_score(), abs=1e-12)
    all_pairs = {tuple(p) for p in every.get_details("Column Pair Trends")[["Column 1", "Column 2"]].to_numpy()}
    assert score_over_pairs(every, all_pairs) != pytest.approx(default.get_score(), abs=1e-6)


def test_one_synthetic_outlier_does_not_shift_every_bin(demo):
    """SDMetrics 0.32 bins synthetic numbers on their own range; the audit uses the real bin edges."""
    from evaluation.fidelity.quality import _report, sdmetrics_frame, sdmetrics_metadata

    keep = ["number_diagnoses", "insulin", "change"]
    metadata = sdmetrics_metadata(schema=demo.schema, columns=keep)
    real = sdmetrics_frame(demo.train, schema=demo.schema, columns=keep)
    synthetic = real.copy()
    synthetic.loc[0, "number_diagnoses"] = 16.0  # one value beyond the real maximum (public max is 16)
    assert real["number_diagnoses"].max() < 16.0

    def pair_scores(report):
        details = report.get_details("Column Pair Trends")
        return details.loc[details["Column 1"] == "number_diagnoses", "Score"].tolist()

    fixed = pair_scores(_report(real, synthetic, metadata, all_pairs=True))
    plain = pair_scores(_report(real, synthetic, metadata, all_pairs=True, real_bins=False))
    assert len(fixed) == 2 and min(fixed) > 0.99
    assert max(plain) < 0.9  # the upstream behaviour this works around
