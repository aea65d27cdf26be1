"""Run a release through its Dagster job in-process, on the user's instance (``$DAGSTER_HOME``) when one is set,
else on ``$SYNTHDATA_HOME/dagster``.

The CLI uses this, so a CLI run appears in the UI's run history and shares the UI's ledger.  The outcome
maps Dagster's result onto synthdata's exit codes (0 released, 2 bad input, 3 gate failed, 4 budget).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from evaluation import gate
from evaluation.base import AuditResult
from pipelines.factory import build_release_graph
from pipelines.registry import build_definitions
from synthdata import home
from synthdata.config import ReleaseSpec
from synthdata.release_spec import load_spec
from synthdata.run_area import existing_run_area

_EXIT_BY_ERROR = {"BadInputError": 2, "GateFailedError": 3, "DagsterAssetCheckFailedError": 3, "BudgetRefusedError": 4,
                  "AwaitingApprovalError": 5}
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    exit_code: int
    message: str
    out: Path | None
    report: Path | None
    work_area: Path
    hint: str | None = None  # an example value that helps fix the input: for the local terminal only


def _error_chain(error) -> list:
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    return chain


def _classify(result: dg.ExecuteInProcessResult) -> tuple[int, str]:
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        for error in _error_chain(event.step_failure_data.error):
            if error.cls_name in _EXIT_BY_ERROR:
                first = error.message.strip().split("\n")[0]
                # Dagster may qualify the class (synthdata.errors.GateFailedError: ...): the user sees the message only
                return _EXIT_BY_ERROR[error.cls_name], re.sub(rf"^([\w.]+\.)?{re.escape(error.cls_name)}: ", "", first)
        return 1, event.step_failure_data.error.message.strip()
    return 1, "the release run failed"


def register_spec(spec: ReleaseSpec) -> Path:
    """Save the spec where the Dagster UI's definitions will find it."""
    path = home.specs_dir() / f"{spec.name}.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    return path


def _execute(spec: ReleaseSpec, job_name: str, *, progress: bool, run_config: dict) -> dg.ExecuteInProcessResult:
    if not os.environ.get("DAGSTER_HOME"):  # the user's Dagster instance (dagster.yaml: storage, ...) when set
        os.environ["DAGSTER_HOME"] = str(home.dagster_home())
    register_spec(spec)
    job = build_definitions([spec], progress=progress).resolve_job_def(job_name)
    with dg.DagsterInstance.get() as instance:
        # Dagster's own console log stays quiet; synthdata's logger and the training bar tell the progress.
        return job.execute_in_process(instance=instance, raise_on_error=False, run_config={**_QUIET, **run_config})


def _finished(spec: ReleaseSpec, result: dg.ExecuteInProcessResult, *, run_id: str) -> RunOutcome:
    """The outcome of a run whose work area is ``runs/<run_id>`` (the release's, also for a sign-off run)."""
    area = home.run_path(run_id)
    report = area / "synthetic" / "report.html"
    failure, hint = home.failure_path(run_id), None
    kept = json.loads(failure.read_text(encoding="utf-8")) if failure.is_file() else None
    failure.unlink(missing_ok=True)
    out = spec.output_folder(run_id=run_id, home=home.home())
    if result.success and out.is_dir():
        return RunOutcome(run_id, 0, f"released to {out}", out, out / "report.html", area)
    if result.success and spec.audits.require_approval:
        return RunOutcome(run_id, 5, f"every gate passed; waiting for a named sign-off before export: "
                          f"synthdata approve {run_id} --by NAME", None, report if report.is_file() else None, area)
    code, message = _classify(result)
    if kept is not None and _EXIT_BY_ERROR.get(kept["class"]) == code:
        message, hint = kept["message"], kept["hint"]  # the full text Dagster's event log did not get
    audit_file = area / "synthetic" / "audit.json"
    if code in (1, 3) and audit_file.is_file():
        failed = gate.blocking(AuditResult.from_dict(a) for a in json.loads(audit_file.read_text())["audits"])
        if failed:
            code = 3
            message = "gates failed, nothing exported: " + gate.failures(failed)
    return RunOutcome(run_id, code, message, None, report if report.is_file() else None, area, hint)


def run_release(spec: ReleaseSpec, *, progress: bool = False) -> RunOutcome:
    """Materialise the spec's whole asset graph in-process and report what happened."""
    graph = build_release_graph(spec)
    result = _execute(spec, graph.job.name, progress=progress, run_config={})
    return _finished(spec, result, run_id=result.run_id)


def run_approval(run_id: str, *, by: str) -> RunOutcome:
    """Sign off an earlier run whose gates passed and export it, through the release's approve job."""
    spec = load_spec(existing_run_area(run_id).spec)
    graph = build_release_graph(spec)
    op = f"{spec.name}__export"
    result = _execute(spec, graph.approve_job.name, progress=False,
                      run_config={"ops": {op: {"config": {"approve_run_id": run_id, "approved_by": by}}}})
    return _finished(spec, result, run_id=run_id)
