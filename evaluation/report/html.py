"""The release report: one self-contained HTML page an ethics board can read.

Order: executive summary (released or not, why, one table of audits), privacy statement in plain words,
each audit with its explanation, figures and verdict, per-column plots, then notes and release facts.  All
styling is inline, images are ``data:`` URIs, and every piece of text is HTML-escaped.

Privacy caveat: everything in this page except the synthetic data's own properties is computed from the
private data outside the DP guarantee (aggregates, scores, the gate decision); the page says so.  Callers
must pass only aggregates (audit details, suppressed column plots); this module adds no data of its own.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from evaluation.base import MIN_CELL_COUNT, AuditResult

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{padding:.8em 1em;border-radius:6px;font-size:1.15em;font-weight:600;margin:1em 0}
.released{background:#e3f4e1;border:1px solid #6bb567}.blocked{background:#fbe3e1;border:1px solid #d9534f}
.awaiting{background:#fff4d6;border:1px solid #e0b400}
.pass{color:#1e7b1e;font-weight:600}.fail{color:#b52a22;font-weight:600}.info{color:#555;font-weight:600}
.warning{background:#b52a22;color:#fff;padding:1em;border-radius:6px;font-weight:600;margin:1em 0}
.audit{border:1px solid #ddd;border-radius:6px;padding:.4em 1em 1em;margin:1em 0}
.grid{display:flex;flex-wrap:wrap;gap:.6em}.grid figure{margin:0;width:330px}
figure img{max-width:100%}figcaption{font-size:.8em;color:#555}.small{font-size:.85em;color:#555}
details{margin:.4em 0}code{background:#f3f3f3;padding:0 .2em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return _e(value)


def _interval(result: AuditResult) -> str:
    if result.interval is None:
        return "–"
    low, high = result.interval
    return f"{_num(float(low))} – {_num(float(high))}"


def _threshold(result: AuditResult) -> str:
    if result.threshold is None:
        return "none (informative)"
    return ("≤ " if result.direction == "at_most" else "≥ ") + _num(float(result.threshold))


def verdict(result: AuditResult) -> tuple[str, str]:
    """(text, css class) of a result's verdict."""
    if result.passed is True:
        return "PASS", "pass"
    if result.passed is False:
        return "FAIL", "fail"
    if result.note and result.note.startswith("Not informative"):
        return "not informative", "info"
    return "informative", "info"


def _image(b64: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{_e(b64)}">'


def _summary(release: Mapping[str, Any], results: Sequence[AuditResult]) -> str:
    status = str(release.get("status", "awaiting"))
    css = status if status in {"released", "blocked", "awaiting"} else "awaiting"
    heading = {
        "released": "Released: every gated audit passed.",
        "blocked": "Not released: at least one gated audit failed.",
        "awaiting": "Awaiting decision: the synthetic data has not been released yet.",
    }.get(status, f"Status: {status}")
    parts = [f'<div class="banner {css}">{_e(heading)}</div>']
    reasons = list(release.get("reasons") or [])
    if reasons:
        parts.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>")
    rows = []
    for result in results:
        text, klass = verdict(result)
        rows.append(
            f"<tr><td><a href=\"#{_e(result.name)}\">{_e(result.title)}</a><br><span class=\"small\">"
            f"{_e(result.name)}</span></td><td class=\"num\">{_num(float(result.value))}</td>"
            f"<td class=\"num\">{_interval(result)}</td><td>{_e(_threshold(result))}</td>"
            f"<td class=\"{klass}\">{_e(text)}</td></tr>"
        )
    parts.append(
        "<table><tr><th>Audit</th><th>Value</th><th>95% interval</th><th>Threshold</th><th>Verdict</th></tr>"
        + "".join(rows) + "</table>"
        "<p class=\"small\">A gated audit passes only when the pessimistic end of its 95% interval (the upper "
        "end for 'at most' thresholds, the lower end for 'at least') clears the threshold.</p>"
    )
    return "".join(parts)


def _privacy(privacy: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if privacy.get("dp_valid") is False:
        parts.append(
            '<div class="warning">WARNING: the differential-privacy guarantee below does NOT hold for this '
            "release (dp_valid is false; e.g. a bound or category list was read from the private data "
            "without DP, or the noise did not come from OS entropy). Treat this synthetic data as "
            "potentially disclosive.</div>"
        )
    epsilon = privacy.get("epsilon")
    delta = privacy.get("delta")
    unit = privacy.get("privacy_unit") or "one record"
    lines = []
    if isinstance(epsilon, (int, float)) and math.isfinite(epsilon):
        factor = math.exp(float(epsilon))
        lines.append(
            f"The synthetic data was produced with differential privacy at ε = {_num(float(epsilon))}, "
            f"δ = {_num(delta)}. The privacy unit is {_e(unit)}. For any one such unit, the probability of "
            f"any outcome of this release changes by at most a factor e^ε ≈ {factor:.3g} whether or not their "
            f"records were used, except with probability δ = {_num(delta)}."
        )
    else:
        lines.append(f"No privacy budget is recorded for this release. The privacy unit is {_e(unit)}.")
    split = []
    if privacy.get("epsilon_preprocessing") is not None:
        split.append(f"preprocessing (learning what the schema did not declare public): ε = "
                     f"{_num(privacy.get('epsilon_preprocessing'))}"
                     + (f", δ = {_num(privacy.get('delta_preprocessing'))}"
                        if privacy.get("delta_preprocessing") is not None else ""))
    if privacy.get("epsilon_training") is not None:
        split.append(f"training the model with DP-SGD: ε = {_num(privacy.get('epsilon_training'))}")
    if split:
        lines.append("The budget is split between " + "; and ".join(split) + ".")
    if privacy.get("composition"):
        lines.append(f"The parts are combined by {_e(privacy['composition'])}.")
    if privacy.get("accountant"):
        lines.append(f"Privacy accounting: {_e(privacy['accountant'])}.")
    if privacy.get("noise_source"):
        lines.append(f"Noise source: {_e(privacy['noise_source'])}.")
    parts.append("".join(f"<p>{line}</p>" for line in lines))
    facts = list(privacy.get("public_facts") or [])
    if facts:
        parts.append("<p>Facts treated as public (not protected by the guarantee):</p><ul>"
                     + "".join(f"<li>{_e(f)}</li>" for f in facts) + "</ul>")
    parts.append(
        "<p><strong>Outside the guarantee:</strong> this report's own numbers and figures (audit scores, "
        "distances, column distributions) and the decision to release are computed from the private data "
        "and are not covered by the differential-privacy guarantee. They are aggregates only; every count "
        f"of real records below {MIN_CELL_COUNT} is suppressed (merged into a larger group or hidden), and "
        "no real record is shown.</p>"
    )
    return "".join(parts)


def _details_table(details: Mapping[str, Any]) -> str:
    rows = []
    for key, value in details.items():
        if isinstance(value, Mapping):
            inner = ", ".join(f"{_e(k)}: {_num(v) if not isinstance(v, Mapping) else _e(dict(v))}"
                              for k, v in value.items())
            rows.append(f"<tr><th>{_e(key)}</th><td>{inner or '–'}</td></tr>")
        elif isinstance(value, (list, tuple)):
            rows.append(f"<tr><th>{_e(key)}</th><td>{_e(', '.join(str(v) for v in value)) or '–'}</td></tr>")
        else:
            rows.append(f"<tr><th>{_e(key)}</th><td>{_num(value)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>" if rows else ""


def _audit(result: AuditResult) -> str:
    text, klass = verdict(result)
    figures = "".join(
        f"<figure>{_image(b64, title)}<figcaption>{_e(title)}</figcaption></figure>"
        for title, b64 in result.figures.items()
    )
    return (
        f'<section class="audit" id="{_e(result.name)}"><h3>{_e(result.title)} '
        f'<span class="{klass}">[{_e(text)}]</span></h3>'
        f"<p>{_e(result.explanation)}</p>"
        f"<p>Value <strong>{_num(float(result.value))}</strong>, 95% interval {_interval(result)}, "
        f"threshold {_e(_threshold(result))}.</p>"
        + (f"<p><em>{_e(result.note)}</em></p>" if result.note else "")
        + (f'<div class="grid">{figures}</div>' if figures else "")
        + f"<details><summary>Details (aggregates)</summary>{_details_table(result.details)}</details>"
        "</section>"
    )


def _release_facts(release: Mapping[str, Any]) -> str:
    keys = [("name", "Release"), ("status", "Status"), ("modality", "Modality"), ("records", "Synthetic records"),
            ("created", "Created"), ("synthdata_version", "synthdata version"), ("seed", "Seed (public, "
            "sampling and audits only; DP noise uses OS entropy)"), ("licence", "Licence"),
            ("attribution", "Attribution")]
    rows = [f"<tr><th>{_e(label)}</th><td>{_e(release[key])}</td></tr>"
            for key, label in keys if release.get(key) is not None]
    return "<table>" + "".join(rows) + "</table>"


def render_report(
    *,
    release: Mapping[str, Any],
    privacy: Mapping[str, Any],
    results: Sequence[AuditResult],
    column_plots: Sequence[tuple[str, str]],
    notes: Sequence[str],
) -> str:
    """The whole report as one self-contained HTML string (no external resources)."""
    name = release.get("name", "synthetic data release")
    plots = "".join(
        f"<figure>{_image(b64, title)}<figcaption>{_e(title)}</figcaption></figure>" for title, b64 in column_plots
    )
    sections = [
        f"<h1>Synthetic data release report: {_e(name)}</h1>",
        f'<p class="small">{_e(release.get("modality", ""))} · {_e(release.get("created", ""))}</p>',
        "<h2>1. Summary</h2>", _summary(release, results),
        "<h2>2. Privacy statement</h2>", _privacy(privacy),
        "<h2>3. Audits</h2>", "".join(_audit(r) for r in results) or "<p>No audits were run.</p>",
        "<h2>4. Columns: real (training) vs. synthetic</h2>",
        f"<p class=\"small\">Distributions only. Categories and histogram bins holding fewer than "
        f"{MIN_CELL_COUNT} real records are merged into larger groups or hidden.</p>",
        f'<div class="grid">{plots}</div>' if plots else "<p>No column plots.</p>",
        "<h2>5. Notes and release facts</h2>",
        ("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>") if notes else "<p>No notes.</p>",
        _release_facts(release),
    ]
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(name)} – release report</title><style>{_CSS}</style></head><body>"
        + "".join(sections) + "</body></html>"
    )
