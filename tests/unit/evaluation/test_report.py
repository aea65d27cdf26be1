"""Release report: self-contained, complete, and free of real records and small cells."""

from __future__ import annotations

import base64
import html as html_module
import re

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from evaluation.base import MIN_CELL_COUNT, Measurement
from evaluation.fidelity.quality import QualityAudit
from evaluation.gate import decide, run_audits, verdict
from evaluation.report.content import INTERNAL_WARNING, build_report_content
from evaluation.report.data_figures import data_section
from evaluation.report.html import render_html, render_report
from evaluation.report.pdf import render_pdf
from evaluation.report.columns import (
    OTHER_SMALL,
    Bars,
    Histogram,
    categorical_bars,
    column_plot_data,
    column_plots,
    numeric_histogram,
)
from synthdata.views.signals import SignalSet

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
    assert all(s.startswith(("data:image/png;base64,", "#")) for s in sources)
    assert "<link" not in page and "<script" not in page and "@import" not in page


def test_report_has_summary_audits_verdicts_and_privacy_statement(page, results):
    text = _text_without_images(page)
    assert text.index("Executive summary") < text.index("Privacy statement") < text.index("3. Audits")
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
    assert "NOT DIFFERENTIALLY PRIVATE" in page and "states no ε" in page
    assert "produced with differential privacy at" not in page  # no epsilon beside "no guarantee"


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


# --- one content, two formats (HTML and PDF) -----------------------------------------------------------------

NOTES = ["payer_code: categories learned with DP", "identifiers dropped: 2 columns"]
E_SENTENCE = ("For any one such unit, the probability of any outcome of this release changes by at most a factor "
              "e^ε ≈ 2.72 whether or not their records were used")


def _pages(path) -> list[str]:
    """The text of each PDF page, whitespace normalised (lines wrap where the layout needs)."""
    return [re.sub(r"\s+", " ", page.extract_text().replace("\xa0", " ")) for page in PdfReader(path).pages]


def _visible_html(page: str) -> str:
    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", _text_without_images(page))))


@pytest.fixture(scope="module")
def pdf(results, plots, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.pdf"
    written = render_pdf(path=path, release=RELEASE, privacy=PRIVACY, results=results, column_plots=plots,
                         notes=NOTES)
    return written


@pytest.fixture(scope="module")
def closest_pairs(demo):
    """Pairs as a memorization review would show them: a real training row next to a synthetic one."""
    columns = ["age", "gender", "diag_1", "time_in_hospital", "num_medications", "readmitted"]
    real = demo.train.iloc[:3][columns].assign(source="real (train)", pair=[1, 2, 3])
    fake = demo.fresh.iloc[:3][columns].assign(source="synthetic", pair=[1, 2, 3])
    return pd.concat([real, fake]).sort_values(["pair", "source"])[["pair", "source", *columns]].reset_index(drop=True)


def test_pdf_is_a_pdf_with_summary_verdicts_and_privacy_statement(pdf, results):
    assert pdf.read_bytes()[:5] == b"%PDF-"
    pages = _pages(pdf)
    text = " ".join(pages)
    assert len(pages) >= 3
    assert text.index("1. Executive summary") < text.index("2. Privacy statement") < text.index("3. Audits")
    assert "Not released: at least one gated audit failed." in text
    gated = [r for r in results if r.passed is not None]
    assert f"{sum(r.passed for r in gated)} of {len(gated)} gated audits passed, {sum(r.blocks for r in results)} failed" in text
    # the copy generator fails both memorization audits; fresh real rows pass the fidelity audit
    by_name = {r.name: r for r in results}
    assert by_name["memorization.exact_copies"].passed is False and by_name["memorization.dcr_share"].passed is False
    assert by_name["fidelity.quality"].passed is True
    for result in results:
        assert f"{result.title} [{verdict(result)[0]}]" in text
    assert E_SENTENCE in text
    assert "ε = 0.1, δ = 0; and training the model with DP-SGD: ε = 0.9" in text  # budget split
    assert "basic composition (epsilons add)" in text and "RDP (Opacus)" in text and "OS entropy" in text
    assert "not covered by the differential-privacy guarantee" in text
    assert f"every count of real records below {MIN_CELL_COUNT} is suppressed" in text
    assert "diabetes <demo>" in text  # plain text in the PDF, not HTML-escaped
    assert INTERNAL_WARNING not in text and "INTERNAL" not in text
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page


def test_pdf_embeds_every_figure_and_fetches_nothing(pdf, results, plots):
    data = pdf.read_bytes()
    assert b"/URI" not in data and b"http://" not in data and b"https://" not in data
    images = sum(len(page.images) for page in PdfReader(pdf).pages)
    assert images == sum(len(r.figures) for r in results) + len(plots)
    assert sum(len(r.figures) for r in results) >= 2  # real audit figures (quality, DCR)


def test_html_and_pdf_show_the_same_audits_verdicts_and_sentences(page, pdf, results, plots):
    content = build_report_content(release=RELEASE, privacy=PRIVACY, results=results, column_plots=plots,
                                   notes=NOTES)
    assert render_html(content=content) == page  # render_report is build + render_html
    html_verdicts = dict(re.findall(r'<h3>([^<]+) <span class="(?:pass|fail|info)">\[([^\]]+)\]</span></h3>', page))
    assert html_verdicts == {html_module.escape(t): v for t, v in content.verdicts.items()}
    assert set(content.verdicts) == {r.title for r in results}
    pdf_text = " ".join(_pages(pdf))
    html_text = _visible_html(page)
    for title, text in content.verdicts.items():
        assert f"{title} [{text}]" in pdf_text and f"{title} [{text}]" in html_text
    rates = [content.gate_rates, *(a.error_rates for a in content.audits if a.error_rates)]
    assert len(rates) == 3  # the gates together, and the two privacy gates of ``results``
    for sentence in [content.headline, content.tally, *content.privacy.paragraphs, content.privacy.outside,
                     content.gate_rule, *content.notes, *rates]:
        assert sentence in html_text, sentence
        assert sentence in pdf_text, sentence


def test_summary_table_groups_audits_by_category(results):
    shuffled = sorted(results, key=lambda r: r.name, reverse=True)  # memorization, memorization, fidelity
    content = build_report_content(release=RELEASE, privacy=PRIVACY, results=shuffled, column_plots=[], notes=[])
    assert [g.category for g in content.groups] == ["fidelity", "memorization"]
    assert [a.category for a in content.audits] == ["fidelity", "memorization", "memorization"]
    page = render_html(content=content)
    table = page[page.index("<table>"):page.index("</table>")]
    assert table.index("fidelity.quality") < table.index("memorization.")
    assert table.count('rowspan="2">Memorization<') == 1 and table.count(">Fidelity<") == 1
    header = re.findall(r"<th>([^<]+)</th>", table)
    assert header == ["Audit", "Category", "Value", "95% interval", "Threshold", "Verdict"]


@pytest.mark.parametrize("approval, status, expected", [
    ({"required": True, "by": None, "at": None}, "released",
     ["Awaiting sign-off: every gated audit passed", "synthdata approve run-42 --by NAME"]),
    ({"required": True, "by": "Dr. Ada Lovelace", "at": "2024-06-02T09:00:00Z"}, "released",
     ["Released: every gated audit passed.", "Approved for release by Dr. Ada Lovelace at 2024-06-02T09:00:00Z"]),
    ({"required": True, "by": None, "at": None}, "blocked", ["Sign-off is not possible"]),
    ({"required": False, "by": None, "at": None}, "released", ["Human sign-off was not required"]),
])
def test_sign_off_section_in_both_formats(results, tmp_path, approval, status, expected):
    release = {**RELEASE, "status": status, "reasons": [], "run_id": "run-42"}
    passing = [r for r in results if r.passed is not False] if status == "released" else results
    page = render_report(release=release, privacy=PRIVACY, results=passing, column_plots=[], notes=[],
                         approval=approval)
    path = render_pdf(path=tmp_path / "r.pdf", release=release, privacy=PRIVACY, results=passing,
                      column_plots=[], notes=[], approval=approval)
    html_text, pdf_text = _visible_html(page), " ".join(_pages(path))
    for text in ["6. Human sign-off", *expected]:
        assert text in html_text and text in pdf_text, text
    if approval["required"] and approval["by"] is None and status == "released":
        assert '<div class="banner awaiting">' in page and "<code>synthdata approve run-42 --by NAME</code>" in page
        assert "Released:" not in html_text
    no_approval = render_report(release=release, privacy=PRIVACY, results=passing, column_plots=[], notes=[])
    assert "Human sign-off" not in no_approval


def test_internal_report_says_internal_on_every_page_and_shows_the_pairs(results, closest_pairs, tmp_path):
    kwargs = {"release": RELEASE, "privacy": PRIVACY, "results": results, "column_plots": [], "notes": NOTES,
              "internal": True, "closest_pairs": closest_pairs}
    path = render_pdf(path=tmp_path / "internal.pdf", **kwargs)
    pages = _pages(path)
    assert len(pages) >= 3
    assert all(page.count(INTERNAL_WARNING) >= 2 for page in pages)  # header and footer
    text = " ".join(pages)
    assert "Closest synthetic/real pairs (INTERNAL)" in text and "also shows real records" in text
    assert "no real record is shown" not in text
    for value in closest_pairs["diag_1"].dropna().astype(str):
        assert value in text
    page = render_report(**kwargs)
    sections = len(re.findall(r"<h2 ", page))
    assert sections == 6  # no sign-off section without an approval record; the pairs section is 6.
    assert page.count(f'<div class="internal">{html_module.escape(INTERNAL_WARNING)}</div>') == sections
    assert f'<div class="internal fixed">{html_module.escape(INTERNAL_WARNING)}</div>' in page
    assert page.index("internal fixed") < page.index("<h1>")
    pairs_html = page[page.index('id="section-pairs"'):]
    assert pairs_html.count("<tr>") == len(closest_pairs) + 1
    assert "http://" not in page and "https://" not in page


def test_public_report_refuses_real_records(results, closest_pairs, tmp_path):
    kwargs = {"release": RELEASE, "privacy": PRIVACY, "results": results, "column_plots": [], "notes": [],
              "closest_pairs": closest_pairs}
    with pytest.raises(ValueError, match="internal"):
        build_report_content(**kwargs)
    with pytest.raises(ValueError, match="internal"):
        render_report(**kwargs)
    with pytest.raises(ValueError, match="internal"):
        render_pdf(path=tmp_path / "public.pdf", **kwargs)
    assert not (tmp_path / "public.pdf").exists()
    public = render_report(**{**kwargs, "closest_pairs": None})
    assert INTERNAL_WARNING not in public and "Closest synthetic/real pairs" not in public


def test_render_pdf_takes_content_or_arguments_not_both(results, tmp_path):
    content = build_report_content(release=RELEASE, privacy=PRIVACY, results=results, column_plots=[], notes=[])
    path = render_pdf(path=tmp_path / "c.pdf", content=content)
    assert PdfReader(path).metadata.title == content.title
    with pytest.raises(TypeError):
        render_pdf(path=tmp_path / "d.pdf", content=content, notes=["x"])


def test_a_release_with_unjudged_gates_says_so_in_its_headline_and_tally():
    from evaluation.memorization.dcr import DCRShareAudit

    vague = decide(audit=DCRShareAudit(), measurement=Measurement(value=0.52, interval=(0.42, 0.62)), threshold=0.55)
    passed = decide(audit=QualityAudit(), measurement=Measurement(value=0.9, interval=(0.85, 0.95)), threshold=0.7)
    content = build_report_content(release={**RELEASE, "status": "released", "reasons": [], "modality": "eeg",
                                                "data_section": data_section(SignalSet(data=np.zeros((1, 1, 4))))},
                                   privacy=PRIVACY, results=[passed, vague], column_plots=[], notes=[])
    assert "could be judged passed (1 could not be" in content.headline
    assert "memorization.dcr_share" in content.tally and "could not be judged" in content.tally
    # the first page says what each unjudged gate could have caught: 0.55 + the interval's lower half-width
    assert "memorization.dcr_share: too few records: only a value above about 0.65 would have shown" in content.tally
    assert content.sections[3].title == "Signals: synthetic examples"


def test_each_privacy_gate_states_its_measured_error_rates_in_plain_words(results):
    from evaluation.gate_rates import measured_rates

    measured = measured_rates()["table"]
    content = build_report_content(release=RELEASE, privacy=PRIVACY, results=results, column_plots=[], notes=[])
    sections = {a.name: a for a in content.audits}
    assert sections["fidelity.quality"].error_rates is None  # not a privacy gate
    clean = measured["scenarios"]["fresh"]
    for name in ("memorization.dcr_share", "memorization.exact_copies"):
        text = sections[name].error_rates
        assert f"blocked the release {clean['gates'][name]['failed']} times in {clean['draws']}" in text
        exact = measured["scenarios"]["exact 5%"]
        assert f"5% exact copies of training rows: caught {exact['gates'][name]['failed']} times in 20" in text
    demo = measured["demo_releases"]
    assert f"{demo['released']} of {demo['runs']} released" in content.gate_rates
    assert f"blocked by some privacy gate {clean['blocked']} times in {clean['draws']}" in content.gate_rates
    # another modality quotes its own example, and an unknown one quotes nothing
    eeg = build_report_content(release={**RELEASE, "modality": "eeg"}, privacy=PRIVACY, results=results,
                               column_plots=[], notes=[])
    assert "EEG" in eeg.gate_rates and "diabetes" not in eeg.gate_rates
    other = build_report_content(release={**RELEASE, "modality": "video"}, privacy=PRIVACY, results=results,
                                 column_plots=[], notes=[])
    assert other.gate_rates is None and all(a.error_rates is None for a in other.audits)


@pytest.mark.parametrize("modality", ["table", "eeg", "ecg", "image"])
def test_measured_rates_cover_exactly_the_privacy_gates_each_shipped_example_runs(modality):
    """A gate added, removed or renamed without re-running the benchmark (--write-rates) fails here."""
    from evaluation.gate_rates import measured_rates
    from evaluation.registry import AUDITS
    from synthdata.views.images import ImageAuditSet

    view = {"table": pd.DataFrame, "eeg": SignalSet, "ecg": SignalSet, "image": ImageAuditSet}[modality]
    gates = {name for name, cls in AUDITS.items() if cls.category in ("memorization", "attack")
             and cls.default_threshold is not None and cls.reads(view)}
    measured = measured_rates()[modality]
    assert measured["scenarios"]["fresh"]["draws"] >= 60
    for scenario in measured["scenarios"].values():
        assert set(scenario["gates"]) == gates


def test_a_database_release_states_each_whole_patient_gates_measured_error_rates():
    """The relational entry (relational_gates --write-rates at the shipped example's size) reaches a database
    release's report: each whole-patient gate's false blocks on fresh hospitals and catches of whole-patient
    copiers, and the gates together in the headline's paragraph."""
    from evaluation.gate_rates import measured_rates
    from evaluation.registry import AUDITS
    from synthdata.views.relational import DatabaseAuditSet

    measured = measured_rates()["relational"]
    whole = sorted(name for name, cls in AUDITS.items() if cls.category in ("memorization", "attack")
                   and cls.default_threshold is not None and cls.reads(DatabaseAuditSet))
    assert whole == ["attack.patient_membership_inference", "memorization.patient_dcr_share",
                     "memorization.patient_exact_copies", "memorization.patient_near_copies"]
    assert measured["scenarios"]["fresh"]["draws"] >= 60 and {"copies 5%", "copies 20%"} <= set(measured["scenarios"])
    results = [decide(audit=AUDITS[name](), measurement=Measurement(value=0.5, interval=(0.45, 0.55)),
                      threshold=AUDITS[name].default_threshold) for name in whole]
    content = build_report_content(release={**RELEASE, "modality": "relational"}, privacy=PRIVACY, results=results,
                                   column_plots=[], notes=[])
    clean, copier = measured["scenarios"]["fresh"], measured["scenarios"]["copies 20%"]
    for section in content.audits:
        assert all(section.name in m["gates"] for m in measured["scenarios"].values())
        assert (f"blocked the release {clean['gates'][section.name]['failed']} times in {clean['draws']}"
                in section.error_rates)
        assert (f"20% of the patients replaced by training patients, their whole record (every table): caught "
                f"{copier['gates'][section.name]['failed']} times in {copier['draws']}" in section.error_rates)
        assert "real patients that no model was trained on" in section.error_rates
    assert "invented hospital of 1,000 patients" in content.gate_rates
    assert "evaluation.benchmarks.relational_gates" in content.gate_rates and "gate_calibration" not in content.gate_rates
    assert f"blocked by some privacy gate {clean['blocked']} times in {clean['draws']}" in content.gate_rates
