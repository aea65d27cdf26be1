"""Run a release through its Dagster job in-process, on the user's instance (``$DAGSTER_HOME``) when one is set,
else on ``$SYNTHDATA_HOME/dagster``.

The CLI uses this, so a CLI run appears in the UI's run history and shares the UI's ledger.  The outcome
maps Dagster's result onto synthdata's exit codes (0 released, 2 bad input, 3 gate failed, 4 budget).
``synthdata resume`` of a Dagster run re-executes it from its failure (:func:`resume_release`), so the UI
shows the resumed run as a child of the one that stopped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from evaluation import gate
from evaluation.base import AuditResult
from pipelines.factory import build_release_graph
from pipelines.registry import build_definitions
from synthdata import home
from synthdata.config import ReleaseSpec
from synthdata.errors import BadInputError
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


def _classify(result: dg.ExecuteInProcessResult | dg.ExecuteJobResult) -> tuple[int, str]:
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


def _use_instance() -> None:
    if not os.environ.get("DAGSTER_HOME"):  # the user's Dagster instance (dagster.yaml: storage, ...) when set
        os.environ["DAGSTER_HOME"] = str(home.dagster_home())


def _execute(spec: ReleaseSpec, job_name: str, *, progress: bool, run_config: dict) -> dg.ExecuteInProcessResult:
    _use_instance()
    register_spec(spec)
    job = build_definitions([spec], progress=progress).resolve_job_def(job_name)
    with dg.DagsterInstance.get() as instance:
        # Dagster's own console log stays quiet; synthdata's logger and the training bar tell the progress.
        return job.execute_in_process(instance=instance, raise_on_error=False, run_config={**_QUIET, **run_config})


def _finished(spec: ReleaseSpec, result: dg.ExecuteInProcessResult | dg.ExecuteJobResult, *,
              run_id: str) -> RunOutcome:
    """The outcome of a run whose work area is ``runs/<run_id>`` (the release's, also for a sign-off run)."""
    return _outcome(spec, run_id=run_id, success=result.success, classify=lambda: _classify(result))


def _outcome(spec: ReleaseSpec, *, run_id: str, success: bool, classify: Callable[[], tuple[int, str]]) -> RunOutcome:
    """What became of the release whose work area is ``runs/<run_id>``; ``classify`` reads the exit code and
    message from Dagster's events when the run did not succeed."""
    area = home.run_path(run_id)
    report = area / "synthetic" / "report.html"
    failure, hint = home.failure_path(run_id), None
    kept = json.loads(failure.read_text(encoding="utf-8")) if failure.is_file() else None
    failure.unlink(missing_ok=True)
    out = spec.output_folder(run_id=run_id, home=home.home())
    if success and out.is_dir():
        return RunOutcome(run_id, 0, f"released to {out}", out, out / "report.html", area)
    if success and spec.audits.require_approval:
        return RunOutcome(run_id, 5, f"every gate passed; waiting for a named sign-off before export: "
                          f"synthdata approve {run_id} --by NAME", None, report if report.is_file() else None, area)
    code, message = classify()
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


def release_job(spec_file: str, progress: bool) -> dg.JobDefinition:
    """The release job of the spec recorded in a work area: what a re-execution rebuilds in this process
    (``dg.build_reconstructable_job`` needs a module-level function)."""
    spec = load_spec(Path(spec_file))
    return build_definitions([spec], progress=progress).resolve_job_def(build_release_graph(spec).job.name)


_ACTIVE = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED)


def resume_release(run_id: str, *, progress: bool = False) -> RunOutcome | None:
    """Re-execute Dagster run ``run_id`` (or the last re-execution of it) from where it stopped, in this process.

    A run whose process died (killed, machine restarted) is still "started" in Dagster's storage: it is marked
    failed first, unless a process still holds its work area (then BadInputError: it is running).  Training
    resumes from its checkpoint under the reservation the stopped run holds (charged once); steps that
    finished are not repeated.  Returns None when ``run_id`` is not a Dagster run of this instance (a run of
    the Python API: ``synthdata.api.resume`` continues those).
    """
    area = existing_run_area(run_id)
    spec = load_spec(area.spec)
    _use_instance()
    with dg.DagsterInstance.get() as instance:
        if not instance.has_run(run_id):
            return None
        if not (area.root / "prepared" / "prepared.json").is_file():
            raise BadInputError(f"run {run_id} never finished preparing its data: start a new release instead")
        # The newest of the run and its re-executions (a resume that stopped too is resumed from where it stopped)
        _, group = instance.get_run_group(run_id)
        (last,) = instance.get_runs(filters=dg.RunsFilter(run_ids=[r.run_id for r in group]), limit=1)
        if last.status == dg.DagsterRunStatus.SUCCESS:
            return _outcome(spec, run_id=run_id, success=True, classify=lambda: (1, "the release run failed"))
        if last.status in _ACTIVE:
            with area.working(wait=0.0):  # refused (exit 2) while a process still works in it
                instance.report_run_failed(last, "its process stopped; `synthdata resume` re-executes it from there")
        register_spec(spec)
        job = dg.build_reconstructable_job("pipelines.runner", "release_job",
                                           reconstructable_kwargs={"spec_file": str(area.spec), "progress": progress})
        # The tags the UI's own re-executions carry: they group the runs in the UI and in get_run_group
        lineage = {"dagster/parent_run_id": last.run_id, "dagster/root_run_id": run_id}
        with dg.execute_job(job, instance=instance, raise_on_error=False, tags=lineage,
                            reexecution_options=dg.ReexecutionOptions.from_failure(last.run_id, instance),
                            run_config={**_QUIET, "execution": {"config": {"in_process": {}}}}) as result:
            return _finished(spec, result, run_id=run_id)
