"""The Python API, mirroring the CLI: ``release(spec=...)`` runs the release steps in-process, and
``TableSynthesizer`` / ``Synthesizer`` (``synthdata.api.synthesizer``) fit once and sample many.

It runs the steps of ``synthdata.flow.steps`` directly (no Dagster run is recorded), against the same ``$SYNTHDATA_HOME`` work areas
and ledger as the CLI and the UI.  Errors are the CLI's: BadInputError, GateFailedError, BudgetRefusedError.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.base import AuditResult
from synthdata import home
from synthdata.flow import databases, generation, stages, steps
from synthdata.flow.steps import RELEASE, Run, Step, run_steps
from synthdata.config import ReleaseSpec
from synthdata.release_spec import load_spec
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
    run = Run(spec=load_spec(area.spec), area=area, open_ledger=lambda: default_ledger(home_folder=home.home()), run_id=run_id,
              approved_by=by)
    return _release(run, run_steps(run, steps=[steps.RELEASE[-1]])["export"])


def release(*, spec: ReleaseSpec | Path | str, progress: bool = True) -> Release:
    """Validate, train with DP, sample, audit and export; raises GateFailedError (report kept) on a failed gate,
    AwaitingApprovalError when the spec requires a sign-off (then call ``approve``).

    Privacy caveat: the run's private work area (``$SYNTHDATA_HOME/runs/<run_id>``) keeps the training and
    holdout splits and the model; delete it with ``synthdata purge RUN_ID`` when the release is done.
    """
    if not isinstance(spec, ReleaseSpec):
        spec = load_spec(Path(spec))
    stages.check_spec(spec=spec)
    run_id = f"api-{uuid.uuid4().hex[:12]}"
    return _finish(Run(spec=spec, area=RunArea(home.run_path(run_id)), open_ledger=lambda: default_ledger(home_folder=home.home()),
                       run_id=run_id, progress=progress))


def resume(*, run_id: str, progress: bool = True) -> Release:
    """Continue a run that stopped (killed, crashed, machine restarted) from where it stopped.

    Training resumes from its last checkpoint under the reservation the run holds in the ledger (charged
    once, for the epsilon of the whole run); steps that finished are not repeated.  Raises BadInputError
    when the run's work area is gone (purged) or it never got past ``prepare``.
    """
    area = existing_run_area(run_id)
    if not (area.prepared / "prepared.json").is_file():
        raise BadInputError(f"run {run_id} never finished preparing its data: start a new release instead")
    return _finish(Run(spec=load_spec(area.spec), area=area, open_ledger=lambda: default_ledger(home_folder=home.home()),
                       run_id=run_id, progress=progress, resume=True))


def generate(*, run_id: str, records: int, out: Path | str, seed: int | None = None, progress: bool = True) -> Release:
    """Sample ``records`` new records from run ``run_id``'s trained model, audit them against that run's real
    training and holdout splits, and export them to ``out`` only if every gate passes (``synthdata.flow.generation``).

    Spends no epsilon (sampling is post-processing of the DP model) and states the training run's guarantee.
    Raises GateFailedError (report kept in the generation's work area, ``<run_id>+gen<k>``) on a failed gate;
    its report says how many earlier samples of the model were audited and blocked: the gate decision is
    computed from private data outside the DP guarantee, so retrying until one passes is a choice made on it.
    """
    area, spec = generation.start(run_id=run_id, records=records, out=out, seed=seed)
    return _finish(Run(spec=spec, area=area, open_ledger=lambda: default_ledger(home_folder=home.home()),
                       run_id=area.root.name, progress=progress), only=RELEASE[2:])


def _finish(run: Run, *, only: Sequence[Step] = RELEASE) -> Release:
    """The release steps in order (``synthdata.flow.steps``); the report's path goes with a refusal."""
    try:
        summaries = run_steps(run, steps=only)
    except (GateFailedError, AwaitingApprovalError) as error:
        error.hint = f"report: {run.area.report}"
        raise
    return _release(run, summaries["export"])


def _release(run: Run, export: dict) -> Release:
    audits = [AuditResult.from_dict(r) for r in read_json(run.area.synthetic / "audit.json")["audits"]]
    return Release(run_id=run.run_id, out=Path(export["out"]), epsilon=read_json(run.area.model / "training.json")["epsilon"],
                   audits=audits)


def dp_audit(*, spec: ReleaseSpec | Path | str, canaries: int = 1000, progress: bool = True) -> dict:
    """Run only the empirical DP check (canary audit) for a spec, without releasing anything.

    It prepares the data (DP preprocessing if the schema needs it) and trains one throwaway model on the
    training split plus canaries with the spec's DP configuration: the spec's epsilon is charged to the
    dataset's budget, exactly as a release would be.  Returns the audit's counts and bounds.
    """
    if not isinstance(spec, ReleaseSpec):
        spec = load_spec(Path(spec))
    databases.refuse(modality=spec.dataset.modality, what="the canary audit (dp-audit)")
    stages.check_spec(spec=spec)
    run_id = f"dpaudit-{uuid.uuid4().hex[:12]}"
    area = RunArea(home.run_path(run_id))
    ledger = default_ledger(home_folder=home.home())
    stages.prepare(spec=spec.model_copy(update={"audits": spec.audits.model_copy(update={"canaries": None})}),
                   area=area, ledger=ledger, run_id=run_id)
    return {**stages.canary_audit(spec=spec, area=area, ledger=ledger, run_id=run_id, reservation=run_id,
                                  canaries=canaries, progress=progress), "run_id": run_id}


# The generator objects build on the functions above (their ``release`` is ``generate``): imported last.
from synthdata.api.synthesizer import Synthesizer, TableSynthesizer  # noqa: E402

__all__ = ["Release", "Synthesizer", "TableSynthesizer", "approve", "dp_audit", "generate", "release", "resume"]
