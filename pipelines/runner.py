"""Run a release through its Dagster job in-process, on the instance in ``$SYNTHDATA_HOME/dagster``.

The CLI uses this, so a CLI run appears in the UI's run history and shares the UI's ledger.  The outcome
maps Dagster's result onto synthdata's exit codes (0 released, 2 bad input, 3 gate failed, 4 budget).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from pipelines.factory import build_release_graph
from pipelines.registry import build_definitions
from synthdata import home
from synthdata.config import ReleaseSpec

_EXIT_BY_ERROR = {"BadInputError": 2, "GateFailedError": 3, "DagsterAssetCheckFailedError": 3, "BudgetRefusedError": 4}


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    exit_code: int
    message: str
    out: Path | None
    report: Path | None
    work_area: Path


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
                return _EXIT_BY_ERROR[error.cls_name], error.message.strip().split("\n")[0].removeprefix(f"{error.cls_name}: ")
        return 1, event.step_failure_data.error.message.strip()
    return 1, "the release run failed"


def register_spec(spec: ReleaseSpec) -> Path:
    """Save the spec where the Dagster UI's definitions will find it."""
    path = home.specs_dir() / f"{spec.name}.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    return path


def run_release(spec: ReleaseSpec, *, progress: bool = False) -> RunOutcome:
    """Materialise the spec's whole asset graph in-process and report what happened."""
    os.environ["DAGSTER_HOME"] = str(home.dagster_home())
    register_spec(spec)
    graph = build_release_graph(spec)
    defs = build_definitions([spec], progress=progress)
    job = defs.resolve_job_def(graph.job.name)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            # Dagster's own console log stays quiet; synthdata's logger and the training bar tell the progress.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    area = home.runs_dir() / result.run_id
    report = area / "synthetic" / "report.html"
    if result.success:
        out = spec.output_folder(run_id=result.run_id, home=home.home())
        return RunOutcome(result.run_id, 0, f"released to {out}", out, out / "report.html", area)
    code, message = _classify(result)
    audit_file = area / "synthetic" / "audit.json"
    if code in (1, 3) and audit_file.is_file():
        record = json.loads(audit_file.read_text())
        failed = [a for a in record["audits"] if a["passed"] is False]
        if failed:
            code = 3
            message = "gates failed, nothing exported: " + "; ".join(
                f"{a['name']} = {a['value']:.3g} ({'needs at most' if a['direction'] == 'at_most' else 'needs at least'} "
                f"{a['threshold']:g}; {a['note'] or ''})".replace("; )", ")") for a in failed)
    return RunOutcome(result.run_id, code, message, None, report if report.is_file() else None, area)
