"""Where each run stands, read from its private work area: awaiting sign-off, released, blocked, ...

``synthdata runs`` (``--awaiting``) and the Dagster sensor that marks releases awaiting sign-off
(``pipelines.sensors``) both read it here, so the terminal and the UI say the same.  The work area is the
record: the Python API's runs and later generations have no Dagster run, and a Dagster run's work area is
what ``synthdata approve`` signs off.

Privacy: a status holds the release's name, the run id, paths and the gate failure line (aggregates);
nothing read from the private records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from synthdata import home
from synthdata.errors import BadInputError, GateFailedError
from synthdata.flow import approvers, generation
from synthdata.flow.publish import verified_results
from synthdata.release_spec import load_spec
from synthdata.run_area import RunArea, read_json

AWAITING = "awaiting sign-off"


@dataclass(frozen=True)
class RunStatus:
    """One run's standing: ``status`` is one word group (``AWAITING``, released, blocked, ...), ``detail`` one
    line saying why or where."""

    run_id: str
    release: str
    status: str
    detail: str
    audited: str | None = None  # when its audit record was written (UTC, ISO), when it has one
    report: Path | None = None
    approvers: approvers.Approvers | None = None  # who may sign it off, when it awaits that

    @property
    def approve_command(self) -> str:
        return f"synthdata approve {self.run_id} --by NAME"

    @property
    def ui_approval(self) -> str:
        return (f"launch {self.release}_approve in the Dagster UI with approve_run_id: {self.run_id} and "
                "approved_by: NAME")


def status_of(run_id: str) -> RunStatus | None:
    """The standing of run ``run_id`` (a release or a generation); None when it has no work area with a spec
    (never made, purged, or not a synthdata run)."""
    try:
        area = RunArea(home.run_path(run_id))
    except BadInputError:
        return None
    if not area.spec.is_file():
        return None
    try:
        spec = load_spec(area.spec)
    except BadInputError as error:
        return RunStatus(run_id, "?", "unreadable", f"its recorded spec does not load: {error.message}")
    record = area.root / "synthetic" / "audit.json"
    if run_id.startswith("dpaudit-"):  # ``synthdata dp-audit``: the canary check alone
        return RunStatus(run_id, spec.name, "dp-audit", "the empirical DP check only; it exports nothing")
    if not record.is_file():
        if area.is_working():
            return RunStatus(run_id, spec.name, "running", "a process is working in it now")
        return RunStatus(run_id, spec.name, "not audited", "no audit record and no process working in it (stopped "
                                                           f"or refused; `synthdata resume {run_id}` continues a "
                                                           "stopped run)")
    audited = dt.datetime.fromtimestamp(record.stat().st_mtime, dt.UTC).isoformat(timespec="seconds")
    report = area.root / "synthetic" / "report.html"
    found = dict(run_id=run_id, release=spec.name, audited=audited, report=report if report.is_file() else None)
    out = spec.output_folder(run_id=run_id, home=home.home())
    if area.approval.is_file():
        approval = read_json(area.approval)
        signed = f"approved by {approval['by']} at {approval['at']}"
        if out.is_dir():
            return RunStatus(status="released", detail=f"{signed}; {out}", **found)
        return RunStatus(status="approved, not exported", detail=f"{signed}; {out} does not exist", **found)
    try:
        verified_results(area=area, spec=spec)
    except GateFailedError as error:
        return RunStatus(status="blocked", detail=error.message, **found)
    if spec.audits.require_approval:
        return RunStatus(status=AWAITING, detail=f"every gate passed: synthdata approve {run_id} --by NAME",
                         approvers=approvers.allowed(spec), **found)
    if out.is_dir():
        return RunStatus(status="released", detail=str(out), **found)
    return RunStatus(status="passed, not exported", detail=f"every gate passed; {out} does not exist", **found)


def statuses() -> list[RunStatus]:
    """Every run in ``$SYNTHDATA_HOME/runs`` and each of its generations, oldest first."""
    ids = [g for run_id in home.list_runs() for g in (run_id, *generation.generations(run_id))]
    found = [s for s in map(status_of, ids) if s is not None]
    started = {run_id: (home.run_path(run_id) / "spec.yaml").stat().st_mtime for run_id in (s.run_id for s in found)}
    return sorted(found, key=lambda s: started[s.run_id])


def awaiting() -> list[RunStatus]:
    """The runs whose gates all passed and whose spec requires a sign-off nobody has given yet."""
    return [s for s in statuses() if s.status == AWAITING]
