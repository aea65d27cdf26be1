"""The Python API, mirroring the CLI: ``release(spec=...)`` runs the same stages in-process.

It runs the stages directly (no Dagster run is recorded), against the same ``$SYNTHDATA_HOME`` work areas
and ledger as the CLI and the UI.  Errors are the CLI's: BadInputError, GateFailedError, BudgetRefusedError.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from evaluation.base import AuditResult
from synthdata import home, stages
from synthdata.config import ReleaseSpec, load_spec
from synthdata.errors import GateFailedError
from synthdata.privacy.ledger import Ledger


@dataclass(frozen=True)
class Release:
    """A finished release: where it went and what the audits said."""

    run_id: str
    out: Path
    epsilon: float
    audits: list[AuditResult]


def release(*, spec: ReleaseSpec | Path | str, progress: bool = True) -> Release:
    """Validate, train with DP, sample, audit and export; raises GateFailedError (report kept) on a failed gate.

    Privacy caveat: the run's private work area (``$SYNTHDATA_HOME/runs/<run_id>``) keeps the training and
    holdout splits and the model; delete it with ``synthdata purge RUN_ID`` when the release is done.
    """
    if not isinstance(spec, ReleaseSpec):
        spec = load_spec(Path(spec))
    stages.validate(spec=spec)
    run_id = f"api-{uuid.uuid4().hex[:12]}"
    area = stages.RunArea(home.run_dir(run_id))
    ledger = Ledger(path=home.home() / "ledger.sqlite")
    stages.prepare(spec=spec, area=area, ledger=ledger, run_id=run_id)
    training = stages.train(spec=spec, area=area, ledger=ledger, run_id=run_id, progress=progress)
    stages.sample(spec=spec, area=area)
    results = stages.audit(spec=spec, area=area)
    try:
        info = stages.export(spec=spec, area=area, run_id=run_id)
    except GateFailedError as error:
        error.hint = f"report: {area.report}"
        raise
    return Release(run_id=run_id, out=Path(info["out"]), epsilon=training["epsilon"], audits=results)
