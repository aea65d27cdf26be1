"""fidelity.representation: erased minorities and collapsed spreads are named; real data keeps them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.fidelity.representation import RepresentationAudit


def test_fresh_real_rows_keep_every_group_and_spread(demo) -> None:
    measurement = RepresentationAudit().measure(demo.context(demo.fresh))
    assert measurement.value >= 0.97, measurement.details
    assert not measurement.details["constant_synthetic_columns"]


def test_erased_minorities_and_collapsed_numbers_are_named(demo) -> None:
    """What the demo generator did: race keeps its two largest groups, a count loses most of its spread,
    a categorical column holds one value."""
    collapsed = demo.fresh.copy()
    races = collapsed["race"].value_counts()
    keep = set(races.index[:2])
    collapsed.loc[~collapsed["race"].isin(keep), "race"] = races.index[0]
    mean = collapsed["num_medications"].mean()
    collapsed["num_medications"] = mean + 0.25 * (collapsed["num_medications"] - mean)
    collapsed["A1Cresult"] = collapsed["A1Cresult"].mode()[0]
    measurement = RepresentationAudit().measure(demo.context(collapsed))
    details = measurement.details
    assert measurement.value < 0.97
    lost = {entry["category"] for entry in details["categories_lost_or_shrunk"]["race"]}
    real = demo.train["race"].value_counts(normalize=True)
    assert lost == {c for c in real.index if real[c] >= 0.01 and c not in keep}
    assert all(entry["synthetic_share"] == 0.0 for entry in details["categories_lost_or_shrunk"]["race"])
    assert details["numeric_spread_ratio_out_of_range"]["num_medications"] < 0.75
    assert "A1Cresult" in details["constant_synthetic_columns"]


def test_categories_below_the_small_cell_limit_are_never_named(demo) -> None:
    """A category held by fewer than 10 real rows is not checked, so its name and share never reach the report."""
    synthetic = demo.fresh.copy()
    counts = demo.train["medical_specialty"].value_counts()
    rare = [c for c in counts.index if counts[c] < 10]
    measurement = RepresentationAudit().measure(demo.context(synthetic))
    named = {e["category"] for e in measurement.details["categories_lost_or_shrunk"].get("medical_specialty", [])}
    assert not named & set(rare)
    assert np.isfinite(measurement.value) and isinstance(synthetic, pd.DataFrame)


def test_the_default_gate_blocks_a_mode_collapsed_table_and_passes_real_rows(demo) -> None:
    """The collapse the issue measured: every categorical column down to its two largest groups, every number
    to a third of its spread.  Real rows of unseen patients pass the same gate."""
    from evaluation.gate import decide

    audit = RepresentationAudit()
    collapsed = demo.fresh.copy()
    for name in collapsed.columns:
        values = collapsed[name]
        if pd.api.types.is_numeric_dtype(values):
            collapsed[name] = values.mean() + (values - values.mean()) / 3
        else:
            top = values.value_counts().index[:2]
            collapsed[name] = values.where(values.isin(top), top[0])
    blocked = decide(audit=audit, measurement=audit.measure(demo.context(collapsed)), threshold=audit.default_threshold)
    assert blocked.passed is False and blocked.value < 0.8
    fresh = decide(audit=audit, measurement=audit.measure(demo.context(demo.fresh)), threshold=audit.default_threshold)
    assert fresh.passed is True
