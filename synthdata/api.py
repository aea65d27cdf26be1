"""The Python API, mirroring the CLI: ``release(spec=...)`` runs the same stages in-process.

It runs the stages directly (no Dagster run is recorded), against the same ``$SYNTHDATA_HOME`` work areas
and ledger as the CLI and the UI.  Errors are the CLI's: BadInputError, GateFailedError, BudgetRefusedError.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from evaluation.base import AuditResult
from synthdata import home, publish, stages
from synthdata.config import ReleaseSpec, load_spec
from synthdata.errors import AwaitingApprovalError, BadInputError, GateFailedError
from synthdata.privacy.ledger import default_ledger
from synthdata.run_area import RunArea, existing_run_area, read_json


@dataclass(frozen=True)
class Release:
    """A finished release: where it went and what the audits said."""

    run_id: str
    out: Path
    epsilon: float
    audits: list[AuditResult]


def approve(*, run_id: str, by: str) -> Release:
    """Sign off a run whose gates passed (the spec required it) and export it; ``by`` names the person."""
    area = existing_run_area(run_id)
    spec = load_spec(area.spec)
    publish.approve(spec=spec, area=area, by=by)
    info = publish.export(spec=spec, area=area, run_id=run_id)
    training = read_json(area.model / "training.json")
    audits = [AuditResult.from_dict(r) for r in read_json(area.synthetic / "audit.json")["audits"]]
    return Release(run_id=run_id, out=Path(info["out"]), epsilon=training["epsilon"], audits=audits)


def release(*, spec: ReleaseSpec | Path | str, progress: bool = True) -> Release:
    """Validate, train with DP, sample, audit and export; raises GateFailedError (report kept) on a failed gate,
    AwaitingApprovalError when the spec requires a sign-off (then call ``approve``).

    Privacy caveat: the run's private work area (``$SYNTHDATA_HOME/runs/<run_id>``) keeps the training and
    holdout splits and the model; delete it with ``synthdata purge RUN_ID`` when the release is done.
    """
    if not isinstance(spec, ReleaseSpec):
        spec = load_spec(Path(spec))
    stages.validate(spec=spec)
    run_id = f"api-{uuid.uuid4().hex[:12]}"
    area = RunArea(home.run_dir(run_id))
    ledger = default_ledger(home_folder=home.home())
    stages.prepare(spec=spec, area=area, ledger=ledger, run_id=run_id)
    return _finish(spec=spec, area=area, ledger=ledger, run_id=run_id, progress=progress)


def resume(*, run_id: str, progress: bool = True) -> Release:
    """Continue a run that stopped (killed, crashed, machine restarted) from where it stopped.

    Training resumes from its last checkpoint under the reservation the run holds in the ledger (charged
    once, for the epsilon of the whole run); stages that finished are not repeated.  Raises BadInputError
    when the run's work area is gone (purged) or it never got past ``prepare``.
    """
    area = existing_run_area(run_id)
    if not (area.prepared / "prepared.json").is_file():
        raise BadInputError(f"run {run_id} never finished preparing its data: start a new release instead")
    spec = load_spec(area.spec)
    return _finish(spec=spec, area=area, ledger=default_ledger(home_folder=home.home()), run_id=run_id,
                   progress=progress)


def _finish(*, spec: ReleaseSpec, area: RunArea, ledger, run_id: str, progress: bool) -> Release:
    """The stages after ``prepare``, each skipped when its output is already in the work area."""
    if (area.model / "training.json").is_file():
        training = read_json(area.model / "training.json")
    else:
        training = stages.train(spec=spec, area=area, ledger=ledger, run_id=run_id, progress=progress)
    if spec.audits.canaries and not (area.model / "canary_audit.json").is_file():
        stages.canary_audit(spec=spec, area=area, ledger=ledger, run_id=run_id, progress=progress)
    if not (area.synthetic / "synthetic.json").is_file():
        stages.sample(spec=spec, area=area, progress=progress)
    results = publish.audit(spec=spec, area=area)
    try:
        info = publish.export(spec=spec, area=area, run_id=run_id)
    except (GateFailedError, AwaitingApprovalError) as error:
        error.hint = f"report: {area.report}"
        raise
    return Release(run_id=run_id, out=Path(info["out"]), epsilon=training["epsilon"], audits=results)


def dp_audit(*, spec: ReleaseSpec | Path | str, canaries: int = 1000, progress: bool = True) -> dict:
    """Run only the empirical DP check (canary audit) for a spec, without releasing anything.

    It prepares the data (DP preprocessing if the schema needs it) and trains one throwaway model on the
    training split plus canaries with the spec's DP configuration: the spec's epsilon is charged to the
    dataset's budget, exactly as a release would be.  Returns the audit's counts and bounds.
    """
    if not isinstance(spec, ReleaseSpec):
        spec = load_spec(Path(spec))
    stages.validate(spec=spec)
    run_id = f"dpaudit-{uuid.uuid4().hex[:12]}"
    area = RunArea(home.run_dir(run_id))
    ledger = default_ledger(home_folder=home.home())
    stages.prepare(spec=spec.model_copy(update={"audits": spec.audits.model_copy(update={"canaries": None})}),
                   area=area, ledger=ledger, run_id=run_id)
    return {**stages.canary_audit(spec=spec, area=area, ledger=ledger, run_id=run_id, reservation=run_id,
                                  canaries=canaries, progress=progress), "run_id": run_id}
