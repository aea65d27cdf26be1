"""Per-step cost of DP training for the signal and image benchmarks: time and peak memory of one step.

``step_costs`` times training steps on one fixed batch of a run's prepared units, each mode in a fresh
process (so each mode's peak memory is its own):

* a DP step with Opacus ghost clipping (``synthdata.privacy.training.make_private_units``, mode
  ``ghost``): ghost norms for ``nn.Linear`` layers only; the U-Net's convolutions fall back to per-sample
  gradients, computed in the first of ghost clipping's two backward passes;
* a DP step with per-sample gradients for every layer (mode ``hooks``, one backward pass);
* a non-DP step (plain Adam).

The trainer picks one of the two DP modes per model (``grad_sample_mode_for``: ghost for all-Linear
models, hooks otherwise); the table marks its choice.

Memory is read from ``/proc/self/status`` (Linux): the peak RSS is reset once the model and batch are built
(``clear_refs``), so ``added_mib`` is what the steps needed on top.  ``ru_maxrss`` would not do: a spawned
child inherits its parent's high-water mark across ``exec``.  The steps use replayable random streams: a
timing run, not a DP run.
"""

from __future__ import annotations

import math
import multiprocessing
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from synthdata import home
from synthdata.flow import stages
from synthdata.config import ReleaseSpec
from synthdata.modalities import get_modality
from synthdata.privacy.ledger import Ledger
from synthdata.privacy.randomness import DPRandomness, dp_randomness
from synthdata.privacy.training import TrainingPlan
from synthdata.run_area import RunArea, read_json

STEP_MODES = ("DP, ghost clipping", "DP, hooks (per-sample gradients)", "no DP")
GRAD_SAMPLE_MODES = {STEP_MODES[0]: "ghost", STEP_MODES[1]: "hooks"}


@dataclass(frozen=True)
class StepCost:
    """Mean wall seconds per training step on one fixed batch, and memory: ``peak_mib`` is the peak RSS of a
    fresh process over the steps, ``added_mib`` that peak minus its RSS once model and batch were built (the
    memory a step needs beyond the model; NaN where the peak cannot be reset)."""

    mode: str
    batch: int
    seconds: float
    peak_mib: float
    added_mib: float


def step_costs(*, spec: ReleaseSpec, area: RunArea, steps: int = 5, threads: int | None = None) -> list[StepCost]:
    """Time ``steps`` training steps (after one warm-up step) of every mode in ``STEP_MODES``, each in its own
    process (with ``threads`` torch threads, default torch's), on the first ``expected batch size`` units of
    ``area``'s prepared data."""
    context = multiprocessing.get_context("spawn")
    costs = []
    for mode in STEP_MODES:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            costs.append(pool.submit(_measure_steps, mode=mode, spec=spec, root=area.root, steps=steps,
                                     threads=threads).result())
    return costs


def prepared_area(*, spec: ReleaseSpec, run_id: str, ledger_file: Path) -> RunArea:
    """Only ``stages.prepare`` (for step costs of another setting), charged to a throwaway ledger; never trained."""
    area = RunArea(home.run_dir(run_id))
    stages.prepare(spec=spec, area=area, ledger=Ledger(path=ledger_file), run_id=run_id)
    return area


def _proc_mib(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak since exec or the last reset) of this process, MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return math.nan


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux ``clear_refs`` 5); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _measure_steps(*, mode: str, spec: ReleaseSpec, root: Path, steps: int, threads: int | None) -> StepCost:
    """Runs in a fresh process: build the denoiser and one batch, then time ``mode``'s steps."""
    if threads:
        torch.set_num_threads(threads)
    from synthdata.diffusion.process import denoising_objective

    area = RunArea(root)
    modality = get_modality(read_json(area.prepared / "prepared.json")["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    stored = torch.load(area.prepared / "units.pt", weights_only=True)
    plan = stages.training_plan(spec)
    batch = min(plan.batch_size, stored["data"].shape[0])
    units, mask = stored["data"][:batch].contiguous(), stored["mask"][:batch]
    torch.manual_seed(spec.seed)
    diffusion = stages.diffusion_for(spec=spec, modality=modality, codec=codec)
    rand = dp_randomness(reproducible_seed=spec.seed)  # a timing run: replayable, not DP
    model, optimizer, criterion = _wrapped(mode=mode, model=modality.build_denoiser(codec=codec, model=spec.model),
                                           units=units, mask=mask, plan=plan, rand=rand)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        denoising_objective(model=model, diffusion=diffusion, criterion=criterion, units=units, mask=mask,
                            augmentation=plan.augmentation, generator=rand.diffusion).backward()
        optimizer.step()

    baseline = _proc_mib("VmRSS")
    reset = _reset_peak_rss()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        step()  # warm-up (allocator, Adam state, Opacus' first-call setup)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        seconds = (time.perf_counter() - start) / steps
    peak = _proc_mib("VmHWM")
    return StepCost(mode=mode, batch=batch, seconds=seconds, peak_mib=peak,
                    added_mib=peak - baseline if reset else math.nan)


def _wrapped(*, mode: str, model: torch.nn.Module, units: torch.Tensor, mask: torch.Tensor, plan: TrainingPlan,
             rand: DPRandomness) -> tuple[torch.nn.Module, torch.optim.Optimizer, Callable]:
    """``(model, optimizer, criterion)`` of one mode: wrapped by the trainer's ``make_private_units`` with
    ghost clipping or with hooks, or plain.  The noise multiplier (1.0) does not change a step's cost."""
    from synthdata.diffusion.process import DenoisingLoss
    from synthdata.privacy.training import make_private_units

    model.train()
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    if mode in GRAD_SAMPLE_MODES:
        _, model, optimizer, criterion, _ = make_private_units(
            model=model, units=units, mask=mask, plan=plan, noise_multiplier=1.0, rand=rand, accountant="prv",
            grad_sample_mode=GRAD_SAMPLE_MODES[mode])
        return model, optimizer, criterion
    return model, torch.optim.Adam(model.parameters(), lr=plan.lr), DenoisingLoss()
