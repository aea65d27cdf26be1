"""The 2-process DP training runs that tests/unit/privacy/test_distributed.py checks.

A module on the tests' path (not the test file) so that the processes ``torch.multiprocessing`` spawns can
import ``_worker`` by name whatever pytest's import mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from synthdata.diffusion.process import GaussianDiffusion
from synthdata.errors import BadInputError
from synthdata.privacy import training
from synthdata.privacy.distributed import World
from synthdata.privacy.training import TrainingPlan, grad_sample_mode_for, train_private

DIFFUSION = GaussianDiffusion(timesteps=10, prediction="x0")
N_UNITS, ROWS, DIM = 40, 3, 16
NOISE_PLAN = TrainingPlan(epochs=10, batch_size=10, lr=1e-3, max_grad_norm=0.5, augmentation=2)  # q = 1/4, 40 steps
CLIP_PLAN = TrainingPlan(epochs=2, batch_size=N_UNITS, lr=1e-3, max_grad_norm=0.5, augmentation=1)  # q = 1
MODES = ("bookkeeping", "hooks")
STEPS = NOISE_PLAN.epochs * 4
EMPTY_PLAN = TrainingPlan(epochs=1, batch_size=2, lr=1e-3, max_grad_norm=0.5, augmentation=1)  # q = 1/20


class ZeroGradient(nn.Module):
    """Every gradient is exactly zero: the applied gradient is the DP noise alone."""

    def __init__(self, hooks: bool) -> None:
        super().__init__()
        self.lin = nn.Linear(DIM, DIM)
        self.norm = nn.LayerNorm(DIM) if hooks else None  # a non-ghost layer: Opacus' hooks path

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.lin(x)
        if self.norm is not None:
            out = self.norm(out)
        return 0.0 * out


class BiasOnly(nn.Module):
    """Predicts a learned constant (a Linear layer of zeros): a unit's gradient depends on its rows alone,
    not on the diffusion draws, so two runs over the same batch must give the same clipped sum."""

    def __init__(self, hooks: bool) -> None:
        super().__init__()
        self.lin = nn.Linear(DIM, DIM)
        self.norm = nn.LayerNorm(DIM) if hooks else None

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        zeros = torch.zeros_like(x)
        out = self.lin(zeros)
        return out + self.norm(zeros) if self.norm is not None else out


def dataset() -> tuple[torch.Tensor, torch.Tensor]:
    """Units of 1-3 rows; feature 0 is the unit's number / 100, feature 1 the row's / 10, the rest vary."""
    g = torch.Generator().manual_seed(3)
    units = torch.rand(N_UNITS, ROWS, DIM, generator=g) * 2 - 1
    units[:, :, 0] = torch.arange(N_UNITS).view(-1, 1) / 100
    units[:, :, 1] = torch.arange(ROWS).view(1, -1) / 10
    mask = torch.ones(N_UNITS, ROWS, dtype=torch.bool)
    mask[::2, 2] = False
    mask[::3, 1:] = False
    return units.masked_fill(~mask.unsqueeze(-1), 0.0), mask


class Recorder(torch.optim.SGD):
    """Stands in for Adam: records the gradient the DP optimizer hands it (noised, averaged over ranks) and
    leaves the weights alone, so every step sees the same model."""

    seen: ClassVar[list[torch.Tensor]] = []

    def __init__(self, params, lr: float) -> None:
        super().__init__(params, lr=lr)

    def step(self, closure=None):
        Recorder.seen.append(torch.cat([p.grad.detach().flatten().clone()
                                        for group in self.param_groups for p in group["params"]]))


def run_recorded(model: nn.Module, plan: TrainingPlan, world: World | None, *, quiet_noise: bool = False) -> dict:
    """``train_private`` with Adam replaced by :class:`Recorder` and every batch's units recorded; with
    ``quiet_noise`` the noise multiplier is 1e-6 and the accountant's check is bypassed (a NOT-DP arm that
    shows the clipped sum)."""
    units, mask = dataset()
    batches: list[tuple[torch.Tensor, torch.Tensor]] = []
    original_objective, original_adam = training.denoising_objective, torch.optim.Adam
    originals = (training.calibrate_noise, training._epsilon_spent)

    def objective(**kwargs):
        batches.append((kwargs["units"][:, :, :2].clone(), kwargs["mask"].clone()))
        return original_objective(**kwargs)

    Recorder.seen = []
    training.denoising_objective, torch.optim.Adam = objective, Recorder
    if quiet_noise:
        training.calibrate_noise = lambda **_: 1e-6
        training._epsilon_spent = lambda *_: 0.0
    try:
        out = train_private(model=model, diffusion=DIFFUSION, units=units, mask=mask, plan=plan, epsilon=2.0,
                            delta=1e-3, accountant="rdp", progress=False, world=world)
    finally:
        training.denoising_objective, torch.optim.Adam = original_objective, original_adam
        training.calibrate_noise, training._epsilon_spent = originals
    return {"grads": torch.stack(Recorder.seen), "batches": batches, "outcome": out,
            "mode": grad_sample_mode_for(model),
            "weights": torch.cat([p.detach().flatten().clone() for p in model.parameters()])}


def worker(world: World, out_dir: str) -> None:
    results: dict = {"refusals": []}
    units, mask = dataset()
    try:
        train_private(model=BiasOnly(False), diffusion=DIFFUSION, units=units, mask=mask, plan=CLIP_PLAN,
                      epsilon=2.0, delta=1e-3, progress=False, world=world, checkpoint=Path(out_dir) / "ck.pt")
    except BadInputError as err:
        results["refusals"].append(str(err))
    try:  # rank 1 holds other data: every rank must refuse
        train_private(model=BiasOnly(False), diffusion=DIFFUSION, units=units + world.rank, mask=mask,
                      plan=CLIP_PLAN, epsilon=2.0, delta=1e-3, accountant="rdp", progress=False, world=world)
    except RuntimeError as err:
        results["refusals"].append(str(err))
    results["empty"] = run_recorded(ZeroGradient(False), EMPTY_PLAN, world)
    for hooks, mode in zip((False, True), MODES):
        torch.manual_seed(world.rank)  # different initial weights per rank: DPDDP must broadcast rank 0's
        results[("noise", mode)] = run_recorded(ZeroGradient(hooks), NOISE_PLAN, world)
        torch.manual_seed(0)
        results[("clip", mode)] = run_recorded(BiasOnly(hooks), CLIP_PLAN, world, quiet_noise=True)
    torch.save(results, Path(out_dir) / f"rank{world.rank}.pt")
