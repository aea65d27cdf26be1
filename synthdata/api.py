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
from synthdata.errors import AwaitingApprovalError, GateFailedError
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
    training = stages.train(spec=spec, area=area, ledger=ledger, run_id=run_id, progress=progress)
    stages.sample(spec=spec, area=area)
    results = publish.audit(spec=spec, area=area)
    try:
        info = publish.export(spec=spec, area=area, run_id=run_id)
    except (GateFailedError, AwaitingApprovalError) as error:
        error.hint = f"report: {area.report}"
        raise
    return Release(run_id=run_id, out=Path(info["out"]), epsilon=training["epsilon"], audits=results)
