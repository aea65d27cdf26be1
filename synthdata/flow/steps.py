"""The release flow, written once: its ordered steps, what each reads and writes, and how to run them.

``prepared -> model -> synthetic -> audits -> export``.  The Dagster asset graph (``pipelines.factory``) makes
one asset per step (the audits become the blocking asset checks on ``synthetic``); the Python API
(``synthdata.api``) and ``synthdata resume`` run the same steps in-process with :func:`run_steps`, skipping
those whose output is already in the run's work area.  The data is read once per run, by ``prepared``.

Privacy: each step's summary is what Dagster may record as metadata, so it holds aggregates only (counts,
epsilon, the plan); private rows stay in the run's work area (``RunArea``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from synthdata.config import ReleaseSpec
from synthdata.flow import databases, publish, stages
from synthdata.privacy.ledger import Ledger
from synthdata.progress import Progress
from synthdata.run_area import RunArea, read_json

log = logging.getLogger("synthdata")


@dataclass(frozen=True)
class Run:
    """One run of the flow: its spec, private work area, ledger and how it reports progress."""

    spec: ReleaseSpec
    area: RunArea
    open_ledger: Callable[[], Ledger]  # opened when a step first needs it: a refused input leaves no ledger behind
    run_id: str
    progress: bool | Progress = False  # True: a bar on stderr; or a Progress (a Dagster asset's event log)
    say: Callable[[str], None] = field(default=lambda message: log.info(message))
    approved_by: str | None = None  # the export step records this sign-off first (``synthdata approve``)
    approved_via: str = "in-process"  # what recorded the sign-off (a Dagster approve run names itself)
    resume: bool = False  # a resumed run: steps (and the model step's parts) done earlier are not repeated

    @cached_property
    def ledger(self) -> Ledger:
        return self.open_ledger()


@dataclass(frozen=True)
class Step:
    """One step: ``run`` does it and returns its summary; ``done`` tells it finished in an earlier attempt;
    ``metadata`` names the summary's keys an orchestrator may record (aggregates only)."""

    name: str
    description: str
    run: Callable[[Run], dict[str, Any]]
    done: Callable[[Run], bool]
    metadata: Sequence[str] = ()
    check: bool = False  # the audits: asset checks on the previous step's output, not an asset


def _prepare(run: Run) -> dict[str, Any]:
    if databases.is_database(run.spec):
        return databases.prepare(spec=run.spec, area=run.area, ledger=lambda: run.ledger, run_id=run.run_id)
    return stages.prepare(spec=run.spec, area=run.area, ledger=lambda: run.ledger, run_id=run.run_id)


def _train(run: Run) -> dict[str, Any]:
    """DP training, then (when the spec asks for it) the canary audit's throwaway training."""
    spec, area = run.spec, run.area
    if run.resume and _trained(run):
        info = read_json(area.model / "training.json")
    elif databases.is_database(spec):
        info = databases.train(spec=spec, area=area, ledger=run.ledger, progress=run.progress)
    else:
        info = stages.train(spec=spec, area=area, ledger=run.ledger, run_id=run.run_id, progress=run.progress)
    if spec.audits.canaries and not (run.resume and (area.model / "canary_audit.json").is_file()):
        run.say(f"canary audit: training a throwaway model with {spec.audits.canaries} canaries")
        found = stages.canary_audit(spec=spec, area=area, ledger=run.ledger, run_id=run.run_id, progress=run.progress)
        info = {**read_json(area.model / "training.json"),  # its ledger figures now include the canary's charge
                "canary_epsilon_lower_bound": found["empirical_epsilon_lower_bound"],
                "canary_claimed_epsilon": found["claimed_epsilon"]}
    budget = info.get("ledger") or {}
    composition = budget.get("composition") or {}
    return {**info, "training_seconds": info.get("seconds"),
            "budget_total": budget.get("total"), "budget_remaining": budget.get("remaining"),
            "dataset_epsilon_naive_sum": composition.get("naive"),
            "dataset_epsilon_composed": composition.get("composed")}


def _trained(run: Run) -> bool:
    return (run.area.root / "model" / "training.json").is_file()


def _modelled(run: Run) -> bool:
    return _trained(run) and (not run.spec.audits.canaries or (run.area.root / "model" / "canary_audit.json").is_file())


def _sample(run: Run) -> dict[str, Any]:
    if databases.is_database(run.spec):
        return databases.sample(spec=run.spec, area=run.area, progress=run.progress)
    return stages.sample(spec=run.spec, area=run.area, progress=run.progress)


def _audit(run: Run) -> dict[str, Any]:
    results = publish.audit(spec=run.spec, area=run.area, on_progress=lambda name: run.say(f"audit: {name}"))
    run.say(f"audit report: {run.area.report}")
    return {"results": results}


def _export(run: Run) -> dict[str, Any]:
    if run.approved_by:
        publish.approve(spec=run.spec, area=run.area, by=run.approved_by, via=run.approved_via)
    return publish.export(spec=run.spec, area=run.area, run_id=run.area.root.name)


RELEASE: tuple[Step, ...] = (
    Step("prepared", "Train/holdout split by privacy unit, public encoding (DP where learned), encoded units.",
         _prepare, lambda run: (run.area.root / "prepared" / "prepared.json").is_file(),
         metadata=("units", "train_records", "holdout_records", "encoded_width", "epsilon_preprocessing",
                   "epsilon_marginals", "privacy_unit")),
    Step("model", "The denoiser trained with DP-SGD (Opacus); epsilon spent is charged to the ledger.",
         _train, _modelled,
         metadata=("epsilon", "epsilon_training", "delta_total", "noise_multiplier", "steps", "training_seconds",
                   "records_per_second", "device", "dp_valid", "budget_total", "budget_remaining", "dataset_epsilon_naive_sum",
                   "dataset_epsilon_composed", "canary_epsilon_lower_bound", "canary_claimed_epsilon")),
    Step("synthetic", "Synthetic records sampled from the trained denoiser (private until the gates pass).",
         _sample, lambda run: (run.area.root / "synthetic" / "synthetic.json").is_file(),
         metadata=("records", "sampler", "calibrated", "sampling_seconds", "device")),
    Step("audits", "Fidelity, utility and memorization audits of the synthetic data against real train and "
                   "holdout data; each gated audit is a blocking check.",
         _audit, lambda run: False, check=True),
    Step("export", "The released folder: synthetic data, manifest.json, reports (only if every gate passed, "
                   "and after a named sign-off when the spec requires one).",
         _export, lambda run: False, metadata=("out", "records", "files", "approved_by")),
)


def summary_metadata(step: Step, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The aggregates of a step's summary that an orchestrator records (keys the step names, when present)."""
    return {key: summary[key] for key in step.metadata if summary.get(key) is not None}


def run_steps(run: Run, *, steps: Sequence[Step] = RELEASE) -> dict[str, dict[str, Any]]:
    """Run ``steps`` in order in-process; a resumed run skips those already done in its work area.
    Errors propagate (BadInputError, GateFailedError, BudgetRefusedError, AwaitingApprovalError)."""
    summaries: dict[str, dict[str, Any]] = {}
    with run.area.working():  # a second process on the same work area is refused
        for step in steps:
            if run.resume and step.done(run):
                continue
            summaries[step.name] = step.run(run)
    return summaries
