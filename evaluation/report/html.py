"""The release report as one self-contained HTML page an ethics board can read.

The content (every sentence and table) comes from ``evaluation.report.content``; this module only lays it
out.  All styling is inline, images are ``data:`` URIs, nothing is fetched from the network, and every piece
of text is HTML-escaped.  An internal report carries a fixed banner at the top of the window (repeated on
every printed page by browsers) and the same banner at the start of every section.

Privacy caveat: everything in this page except the synthetic data's own properties is computed from the
private data outside the DP guarantee (aggregates, scores, the gate decision); the page says so.  Callers
must pass only aggregates (audit details, suppressed column plots); real records (closest pairs) are
accepted only for an internal report.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evaluation.base import AuditResult
from evaluation.report.content import (
    AuditSection,
    ReportContent,
    Section,
    build_report_content,
    verdict,
)

__all__ = ["render_html", "render_report", "verdict"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.group th{background:#e8ecf3;font-weight:600}
.banner{padding:.8em 1em;border-radius:6px;font-size:1.15em;font-weight:600;margin:1em 0}
.released,.approved,.passed{background:#e3f4e1;border:1px solid #6bb567}
.blocked,.refused{background:#fbe3e1;border:1px solid #d9534f}
.awaiting{background:#fff4d6;border:1px solid #e0b400}.not_required{background:#f3f3f3;border:1px solid #ccc}
.pass{color:#1e7b1e;font-weight:600}.fail{color:#b52a22;font-weight:600}.info{color:#555;font-weight:600}
.warning{background:#b52a22;color:#fff;padding:1em;border-radius:6px;font-weight:600;margin:1em 0}
.internal{background:#b52a22;color:#fff;padding:.4em 1em;font-weight:700;text-align:center;letter-spacing:.03em}
.internal.fixed{position:fixed;top:0;left:0;right:0;z-index:10}
body.internal-report{padding-top:2.4em}
.audit{border:1px solid #ddd;border-radius:6px;padding:.4em 1em 1em;margin:1em 0}
.grid{display:flex;flex-wrap:wrap;gap:.6em}.grid figure{margin:0;width:330px}
.scroll{overflow-x:auto}
figure img{max-width:100%}figcaption{font-size:.8em;color:#555}.small{font-size:.85em;color:#555}
details{margin:.4em 0}code{background:#f3f3f3;padding:0 .2em}
@media print{.internal.fixed{position:fixed}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _image(b64: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{_e(b64)}">'


def _figures(figures: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f"<figure>{_image(b64, title)}<figcaption>{_e(title)}</figcaption></figure>" for title, b64 in figures
    )


def _code(text: str) -> str:
    """Escape ``text``, showing `backquoted` spans as code."""
    parts = _e(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _heading(content: ReportContent, key: str) -> str:
    section: Section = content.section(key)
    banner = f'<div class="internal">{_e(content.internal_warning)}</div>' if content.internal else ""
    return f'<h2 id="section-{_e(section.key)}">{_e(section.heading)}</h2>{banner}'


def _summary(content: ReportContent) -> str:
    parts = [f'<div class="banner {_e(content.status)}">{_e(content.headline)}</div>']
    if content.reasons:
        parts.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in content.reasons) + "</ul>")
    parts.append(f"<p>{_e(content.tally)}</p>")
    header = "".join(f"<th>{_e(c)}</th>" for c in content.summary_columns)
    rows = []
    for group in content.groups:
        for i, row in enumerate(group.rows):
            category = (f'<td rowspan="{len(group.rows)}">{_e(group.title)}</td>' if i == 0 else "")
            rows.append(
                f'<tr><td><a href="#{_e(row.name)}">{_e(row.title)}</a><br><span class="small">{_e(row.name)}'
                f'</span></td>{category}<td class="num">{_e(row.value)}</td><td class="num">{_e(row.interval)}'
                f'</td><td>{_e(row.threshold)}</td><td class="{row.kind}">{_e(row.verdict)}</td></tr>'
            )
    parts.append(f"<table><tr>{header}</tr>{''.join(rows)}</table>")
    parts.append(f'<p class="small">{_e(content.gate_rule)}</p>')
    if content.gate_rates:
        parts.append(f'<p class="small">{_e(content.gate_rates)}</p>')
    return "".join(parts)


def _privacy(content: ReportContent) -> str:
    statement = content.privacy
    parts = [f'<div class="warning">{_e(statement.warning)}</div>'] if statement.warning else []
    parts += [f"<p>{_e(p)}</p>" for p in statement.paragraphs]
    if statement.public_facts:
        parts.append(f"<p>{_e(statement.public_facts_intro)}</p><ul>"
                     + "".join(f"<li>{_e(f)}</li>" for f in statement.public_facts) + "</ul>")
    parts.append(f"<p><strong>{_e(statement.outside_label)}</strong> {_e(statement.outside)}</p>")
    return "".join(parts)


def _audit(audit: AuditSection) -> str:
    figures = _figures(audit.figures)
    details = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in audit.details)
    return (
        f'<section class="audit" id="{_e(audit.name)}"><h3>{_e(audit.title)} '
        f'<span class="{audit.kind}">[{_e(audit.verdict)}]</span></h3>'
        f'<p class="small">{_e(audit.category_title)} · {_e(audit.name)}</p>'
        f"<p>{_e(audit.explanation)}</p>"
        f"<p>{_e(audit.numbers)}</p>"
        + (f"<p><em>{_e(audit.note)}</em></p>" if audit.note else "")
        + (f'<p class="small">{_e(audit.error_rates)}</p>' if audit.error_rates else "")
        + (f'<div class="grid">{figures}</div>' if figures else "")
        + (f"<details><summary>Details (aggregates)</summary><table>{details}</table></details>" if details else "")
        + "</section>"
    )


def _audits(content: ReportContent) -> str:
    if not content.audits:
        return f"<p>{_e(content.no_audits)}</p>"
    parts = []
    for group in content.groups:
        parts.append(f"<h3>{_e(group.title)}</h3>" + (f"<p class=\"small\">{_e(group.question)}</p>"
                                                         if group.question else ""))
        parts += [_audit(a) for a in content.audits if a.category == group.category]
    return "".join(parts)


def _notes(content: ReportContent) -> str:
    notes = (("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in content.notes) + "</ul>") if content.notes
             else f"<p>{_e(content.no_notes)}</p>")
    facts = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in content.release_facts)
    return notes + (f"<table>{facts}</table>" if facts else "")


def _sign_off(content: ReportContent) -> str:
    sign_off = content.sign_off
    assert sign_off is not None
    return f'<div class="banner {_e(sign_off.kind)}">{_code(sign_off.text)}</div>'


def _pairs(content: ReportContent) -> str:
    pairs = content.closest_pairs
    assert pairs is not None
    if not pairs.columns:
        return f"<p>{_e(pairs.intro)}</p>"
    header = "".join(f"<th>{_e(c)}</th>" for c in pairs.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in pairs.rows)
    return f'<p>{_e(pairs.intro)}</p><div class="scroll"><table><tr>{header}</tr>{rows}</table></div>'


def render_html(*, content: ReportContent) -> str:
    """The report content as one self-contained HTML string (no external resources)."""
    bodies = {
        "summary": _summary,
        "privacy": _privacy,
        "audits": _audits,
        "columns": lambda c: (f'<p class="small">{_e(c.column_plots_note)}</p>'
                              + (f'<div class="grid">{_figures(c.column_plots)}</div>' if c.column_plots
                                 else f"<p>{_e(c.no_column_plots)}</p>")),
        "notes": _notes,
        "sign_off": _sign_off,
        "pairs": _pairs,
    }
    top = (f'<div class="internal fixed">{_e(content.internal_warning)}</div>' if content.internal else "")
    sections = [
        top,
        f"<h1>{_e(content.title)}</h1>",
        f'<p class="small">{_e(content.subtitle)}</p>' if content.subtitle else "",
        *(_heading(content, s.key) + bodies[s.key](content) for s in content.sections),
    ]
    title = content.title + (f" – {content.internal_warning}" if content.internal else "")
    body_class = ' class="internal-report"' if content.internal else ""
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body{body_class}>"
        + "".join(sections) + "</body></html>"
    )


def render_report(
    *,
    release: Mapping[str, Any],
    privacy: Mapping[str, Any],
    results: Sequence[AuditResult],
    column_plots: Sequence[tuple[str, str]],
    notes: Sequence[str],
    approval: Mapping[str, Any] | None = None,
    internal: bool = False,
    closest_pairs: pd.DataFrame | None = None,
) -> str:
    """The whole report as one self-contained HTML string (see ``build_report_content`` for the arguments)."""
    return render_html(content=build_report_content(
        release=release, privacy=privacy, results=results, column_plots=column_plots, notes=notes,
        approval=approval, internal=internal, closest_pairs=closest_pairs,
    ))
