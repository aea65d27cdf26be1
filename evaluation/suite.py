"""The audit suite as a whole: run it, record it, and write its reports.

Used by a release (``synthdata.flow.stages.audit`` / ``export``) and by ``synthdata audit`` on synthetic data from
any tool, so both write the same ``audit.json`` and the same reports.

``ReportInputs`` is everything a report shows (aggregates and figures only).  It is kept as JSON in the
run's private work area so the report can be rendered again at export with the sign-off (who approved, when).

Privacy caveat: every figure here is computed from private data outside the DP guarantee.  The public report
holds aggregates only; ``internal=True`` adds the closest synthetic/real record pairs for human review, which
DOES show real records: such a report stays with the data custodian and says INTERNAL on every page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.base import AuditContext, AuditResult
from evaluation.gate import blocking, run_audits, status_of
from evaluation.report.data_figures import data_figures, data_section
from synthdata.export.manifest import write_json


@dataclass(frozen=True)
class ReportInputs:
    """What a report shows, before the sign-off: release facts, privacy statement, audit results, plots."""

    release: dict[str, Any]
    privacy: dict[str, Any]
    results: list[AuditResult]
    column_plots: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({
            "release": self.release, "privacy": self.privacy,
            "results": [r.to_dict(figures=True) for r in self.results],
            "column_plots": [list(p) for p in self.column_plots], "notes": self.notes,
        }, default=str)

    @classmethod
    def from_json(cls, text: str) -> ReportInputs:
        data = json.loads(text)
        return cls(release=data["release"], privacy=data["privacy"],
                   results=[AuditResult.from_dict(r) for r in data["results"]],
                   column_plots=[(t, b) for t, b in data["column_plots"]], notes=list(data["notes"]))


def audit_record(*, results: Sequence[AuditResult], synthetic_sha256: str) -> dict[str, Any]:
    """The audit.json content: which synthetic data was audited, the verdict, each audit (no figures)."""
    return {"synthetic_sha256": synthetic_sha256, "passed": not blocking(results),
            "audits": [r.to_dict() for r in results]}


def write_reports(
    *, folder: Path, inputs: ReportInputs, approval: Mapping[str, Any] | None = None, internal: bool = False,
    closest_pairs: Any = None, stem: str = "report",
) -> list[str]:
    """Write ``<stem>.html`` and ``<stem>.pdf`` (same content) into ``folder``; returns the file names."""
    from evaluation.report.content import build_report_content
    from evaluation.report.html import render_html
    from evaluation.report.pdf import render_pdf

    content = build_report_content(
        release=inputs.release, privacy=inputs.privacy, results=inputs.results,
        column_plots=inputs.column_plots, notes=inputs.notes, approval=dict(approval) if approval else None,
        internal=internal, closest_pairs=closest_pairs,
    )
    (folder / f"{stem}.html").write_text(render_html(content=content), encoding="utf-8")
    render_pdf(path=folder / f"{stem}.pdf", content=content)
    return [f"{stem}.html", f"{stem}.pdf"]


def audit_and_report(
    *, context: AuditContext, gates: Mapping[str, float] | None, release: Mapping[str, Any],
    privacy: Mapping[str, Any], notes: Sequence[str], folder: Path, synthetic_sha256: str,
    require_approval: bool = False, internal: bool = False, on_progress: Callable[[str], None] | None = None,
    require_judged: bool = False,
) -> tuple[list[AuditResult], ReportInputs]:
    """The audit sequence every caller runs: measure and decide every audit, write ``audit.json``, build the
    report inputs (release facts with the status, the privacy statement, the data section's figures) and
    write ``report.html`` / ``report.pdf`` into ``folder``.

    ``internal`` also writes ``report_internal.html`` / ``.pdf`` beside it, with the closest synthetic/real
    record pairs (tables): REAL RECORDS, for the data custodian only, marked INTERNAL on every page.
    """
    results = run_audits(context=context, gates=gates, on_progress=on_progress, require_judged=require_judged)
    write_json(folder / "audit.json", audit_record(results=results, synthetic_sha256=synthetic_sha256))
    inputs = ReportInputs(
        release={**release, **status_of(results, require_approval=require_approval, approved=False),
                 "data_section": list(data_section(context.synthetic))},
        privacy=dict(privacy), results=results, notes=list(notes),
        column_plots=data_figures(train=context.train, synthetic=context.synthetic, schema=context.schema),
    )
    approval = {"required": True, "by": None, "at": None} if require_approval else None
    write_reports(folder=folder, inputs=inputs, approval=approval)
    if internal:
        from evaluation.memorization.closest_pairs import closest_pairs

        pairs = closest_pairs(context=context) if isinstance(context.synthetic, pd.DataFrame) else None
        write_reports(folder=folder, inputs=inputs, approval=approval, internal=True, closest_pairs=pairs,
                      stem="report_internal")
    return results, inputs
