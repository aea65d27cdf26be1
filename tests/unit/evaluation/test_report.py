"""Release report: self-contained, complete, and free of real records and small cells."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from evaluation.base import MIN_CELL_COUNT
from evaluation.fidelity.quality import QualityAudit
from evaluation.gates import decide, run_audits
from evaluation.report.html import render_report
from evaluation.report.plots import (
    OTHER_SMALL,
    Bars,
    Histogram,
    categorical_bars,
    column_plot_data,
    column_plots,
    numeric_histogram,
)

RELEASE = {"name": "diabetes <demo>", "status": "blocked", "reasons": ["memorization.dcr_share failed"],
           "records": 1598, "created": "2024-06-01T12:00:00Z", "synthdata_version": "0.1.0", "seed": 7,
           "modality": "table"}
PRIVACY = {"epsilon": 1.0, "delta": 1e-5, "epsilon_training": 0.9, "epsilon_preprocessing": 0.1,
           "delta_preprocessing": 0.0, "privacy_unit": "one patient, at most 3 encounters each",
           "accountant": "RDP (Opacus)", "composition": "basic composition (epsilons add)",
           "noise_source": "OS entropy (unrecorded)", "dp_valid": True,
           "public_facts": ["column bounds and category lists declared in the schema"]}


@pytest.fixture(scope="module")
def results(demo, copies, fresh_quality):
    audits = run_audits(context=demo.context(copies),
                        names=["memorization.exact_copies", "memorization.dcr_share"])
    quality = QualityAudit()
    return [decide(audit=quality, measurement=fresh_quality, threshold=quality.default_threshold), *audits]


@pytest.fixture(scope="module")
def plots(demo):
    # Rendering costs about 0.2 s per column: 12 columns (categorical and numeric) keep the test quick.
    return column_plots(train=demo.train, synthetic=demo.fresh, schema=demo.schema, max_columns=12)


@pytest.fixture(scope="module")
def page(results, plots):
    return render_report(release=RELEASE, privacy=PRIVACY, results=results, column_plots=plots,
                         notes=["payer_code: categories learned with DP", "identifiers dropped: 2 columns"])


def _text_without_images(html: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:IMAGE", html)


def test_report_is_self_contained(page):
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    assert sources  # images are there
    assert all(s.startswith("data:image/png;base64,") or s.startswith("#") for s in sources)
    assert "<link" not in page and "<script" not in page and "@import" not in page


def test_report_has_summary_audits_verdicts_and_privacy_statement(page, results):
    text = _text_without_images(page)
    assert text.index("Summary") < text.index("Privacy statement") < text.index("Audits")
    assert "Not released" in text
    for result in results:
        assert result.title in text
    assert "FAIL" in text and "PASS" in text
    assert "one patient, at most 3 encounters each" in text
    assert "2.72" in text  # e^1
    assert "not covered by the differential-privacy guarantee" in text
    assert "WARNING" not in text
    assert "diabetes &lt;demo&gt;" in text and "<demo>" not in text  # escaped


def test_report_warns_loudly_when_dp_is_not_valid(results):
    page = render_report(release={"name": "x", "status": "released", "reasons": []},
                         privacy={**PRIVACY, "dp_valid": False}, results=results, column_plots=[], notes=[])
    assert "WARNING" in page and "does NOT hold" in page


def test_report_tolerates_missing_optional_keys(results):
    page = render_report(release={"name": "minimal"}, privacy={}, results=results, column_plots=[], notes=[])
    assert "No privacy budget is recorded" in page


def test_report_contains_no_real_record(page, demo):
    text = _text_without_images(page)
    for _, row in demo.train.iterrows():
        values = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else
                  (f"{v:g}" if isinstance(v, float) else str(v)) for v in row]
        for separator in (",", ", ", " ", "\t", ";", " | "):
            assert separator.join(values) not in text


def test_column_plots_are_one_png_per_modelled_column(plots, demo):
    assert [title.split(" ")[0] for title, _ in plots] == demo.schema.modelled_columns[:12]
    for _, b64 in plots:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"


def test_small_categories_never_become_bar_labels(demo):
    data = column_plot_data(train=demo.train, synthetic=demo.fresh, schema=demo.schema)
    checked_small = 0
    for name, plot in data.items():
        if isinstance(plot, Bars):
            counts = demo.train[name].fillna("(missing)").astype(str).value_counts()
            small = set(counts[counts < MIN_CELL_COUNT].index)
            checked_small += len(small)
            assert small.isdisjoint(plot.labels), name
            assert all(n is None or n == 0 or n >= MIN_CELL_COUNT for n in plot.real), name
            for label, count in zip(plot.labels, plot.real):
                if label in counts.index:
                    assert count == counts[label]
        else:
            assert isinstance(plot, Histogram)
            assert plot.real is None or (plot.real >= MIN_CELL_COUNT).all(), name
    assert checked_small > 20  # the demo has many rare categories (e.g. admission codes, diagnoses)


def test_categorical_bars_merge_small_cells_and_hide_a_small_merged_bar():
    real = pd.Series(["a"] * 30 + ["b"] * 12 + ["c"] * 3 + [None] * 2)
    synthetic = pd.Series(["a"] * 20 + ["c"] * 5 + ["z"] * 4)
    bars = categorical_bars(real=real, synthetic=synthetic)
    assert bars.labels == ["a", "b", OTHER_SMALL]
    assert bars.real == [30, 12, None]  # 3 + 2 real rows in the merged bar: hidden
    assert bars.synthetic == [20, 0, 9]
    assert bars.merged_small == 2


def test_numeric_histogram_merges_bins_below_the_minimum():
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.uniform(0, 10, 500), [95.0, 96.0, 97.0], [np.nan] * 4])
    synthetic = rng.uniform(0, 100, 200)
    hist = numeric_histogram(real=real, synthetic=synthetic, bounds=(0.0, 100.0), bins=20)
    assert (hist.real >= MIN_CELL_COUNT).all()
    assert hist.real.sum() == 503 and hist.synthetic.sum() == 200 and hist.real_missing == 4
    assert hist.edges[0] == 0.0 and hist.edges[-1] == 100.0 and hist.merged_bins > 0
    hidden = numeric_histogram(real=np.array([1.0, 2.0]), synthetic=synthetic, bounds=(0.0, 100.0))
    assert hidden.real is None
