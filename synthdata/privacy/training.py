"""DP-SGD training of a denoiser with Opacus (Poisson sampling, per-unit clipping, Gaussian noise).

What the guarantee covers: ``train_private`` makes the trained weights (epsilon, delta)-differentially
private with respect to adding or removing ONE item of ``units`` (one privacy unit: a patient with all
their rows, or a single row when each unit holds one row).  It says nothing about:

* anything derived from the data outside this function (schema bounds, category sets, encodings): the
  caller must declare those public or pay for them with DP elsewhere;
* correlated units (the same person appearing in two units is protected only at twice the budget);
* the training loss returned as ``final_loss``: it is NOT privatised and is for local diagnostics only; do
  not publish it (progress reports, :mod:`synthdata.progress`, carry steps, epsilon and time, never a loss);
* runs with ``reproducible_seed`` set: those replay their DP noise from a recorded seed and are NOT DP;
* the randomness itself: see :mod:`synthdata.privacy.randomness` (OS-entropy-seeded Mersenne Twister,
  not a CSPRNG; Opacus ``secure_mode`` is unavailable).

Per-unit gradient norms come from ghost clipping when every parameterised layer is one Opacus computes
ghost norms for (Linear, Embedding), and from per-sample gradients (Opacus' hooks) otherwise (the U-Net's
convolutions): ghost clipping falls back to per-sample gradients for other layers and still pays its
second backward pass (see :func:`grad_sample_mode_for`).  A model of ``nn.Linear`` layers only (the table
MLP) gets its clipped sum in one backward pass (``bookkeeping``: Opacus' ghost norms and coefficients,
the clipped sum from the layer inputs and output gradients the first pass saw).  All clip each unit's
gradient to the same norm; the guarantee is the same.

Across processes (``world``, :mod:`synthdata.privacy.distributed`): whole units are partitioned across
ranks, each rank Poisson-samples its own units at the global rate, rank 0 alone adds the noise, and the
ranks' gradients are averaged, so the mechanism and the accounting are the single-process ones; that
module states its caveats (every rank trusted, same data on every rank).

``train_non_private`` is the epsilon = infinity arm of the benchmarks, and pretrains on declared-public data
(``model.pretrain``).  It gives no privacy guarantee at all and never trains on private data.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.accountants.utils import get_noise_multiplier
from opacus.data_loader import DPDataLoader
from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
from opacus.optimizers import (
    DistributedDPOptimizer,
    DistributedDPOptimizerFastGradientClipping,
    DPOptimizer,
)
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from synthdata.diffusion.process import (
    DenoisingLoss,
    GaussianDiffusion,
    denoising_objective,
)
from synthdata.errors import BadInputError
from synthdata.privacy import bookkeeping
from synthdata.privacy.checkpoint import (
    STREAMS,
    Checkpoint,
    RunIdentity,
    data_fingerprint,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
)
from synthdata.privacy.distributed import World, check_same_run, local_units
from synthdata.privacy.ema import WeightAverage, ema_decay
from synthdata.privacy.randomness import DPRandomness, dp_randomness
from synthdata.progress import Progress, as_progress

MIN_UNITS = 10
ACCOUNTANTS = ("prv", "rdp")
#: The layers Opacus' ghost clipping computes per-unit norms for without per-sample gradients.
GHOST_NORM_LAYERS = (nn.Linear, nn.Embedding)
CHECKPOINT_SECONDS = 30.0  # default checkpoint interval when no step count is given


@dataclass(frozen=True)
class TrainingPlan:
    """How to train: ``batch_size`` is the EXPECTED Poisson batch size (clamped to the number of units);
    ``augmentation`` is the number of (timestep, noise) draws averaged per record before clipping.

    ``ema`` (keyword only): None trains and returns the last iterate; a share in (0, 1] keeps an exponential
    moving average of the weights whose time constant is that share of the run's steps
    (:mod:`synthdata.privacy.ema`), and the trained model holds the average.  Privacy: the average is
    post-processing of the DP-SGD iterates (the accountant already counts every one of them as released), so
    it costs no epsilon and changes nothing in the guarantee."""

    epochs: int
    batch_size: int
    lr: float
    max_grad_norm: float
    augmentation: int
    ema: float | None = field(default=None, kw_only=True)


def plan_record(plan: TrainingPlan) -> dict[str, Any]:
    """The plan as a checkpoint's identity records it: without ``ema`` when it is off, so a run without an
    average has the identity (and resumes the checkpoints) it had before the average existed."""
    record = asdict(plan)
    if record["ema"] is None:
        del record["ema"]
    return record


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training run did.  ``epsilon`` is the accountant's figure after the last step; ``dp_valid``
    is False for non-private runs and for DP runs whose randomness was replayable.  ``seconds`` is the wall
    time of the training loop (noise calibration excluded) and ``records_per_second`` is
    ``N * epochs / seconds`` (privacy units processed).  ``final_loss`` (mean loss over the last epoch) is a
    non-private diagnostic: keep it out of published artefacts."""

    private: bool
    epsilon: float | None
    delta: float | None
    noise_multiplier: float | None
    sample_rate: float
    steps: int
    epochs: int
    accountant: str | None
    grad_sample_mode: str | None
    noise_source: str
    dp_valid: bool
    seconds: float
    records_per_second: float
    final_loss: float


def _check_data(units: Tensor, mask: Tensor, *, empty_units: bool = False) -> tuple[Tensor, Tensor]:
    if not (torch.is_tensor(units) and torch.is_tensor(mask)):
        raise BadInputError("units and mask must be torch tensors")
    if units.dim() != 3 or not units.is_floating_point():
        raise BadInputError(f"units must be a float tensor of shape (units, rows, features), got {units.dim()}-D")
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(units.shape[:2]):
        raise BadInputError(f"mask must be a bool tensor of shape {tuple(units.shape[:2])} (units, rows)")
    if units.shape[0] < MIN_UNITS:
        raise BadInputError(f"DP training needs at least {MIN_UNITS} privacy units, got {units.shape[0]}")
    empty = int((~mask.any(dim=1)).sum())
    if empty and not empty_units:
        raise BadInputError(f"{empty} privacy units have no rows (mask all False); drop them before training")
    # Padding values never reach the loss (weight 0) but must not be NaN (0 * NaN = NaN): zero them.
    units = units.to(torch.float32).masked_fill(~mask.unsqueeze(-1), 0.0)
    if not bool(torch.isfinite(units).all()):
        raise BadInputError("units contains non-finite values (NaN or infinity) in real rows")
    return units.contiguous(), mask


def _device_for(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """``device`` as a ``torch.device``; None: where the model's parameters are (the CPU for a model without)."""
    if device is not None:
        return torch.device(device)
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _check_plan(plan: TrainingPlan) -> None:
    for name in ("epochs", "batch_size", "augmentation"):
        value = getattr(plan, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInputError(f"plan.{name} must be an integer >= 1, got {value!r}")
    for name in ("lr", "max_grad_norm"):
        value = getattr(plan, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise BadInputError(f"plan.{name} must be a finite number > 0, got {value!r}")
    if plan.ema is not None and (isinstance(plan.ema, bool) or not isinstance(plan.ema, (int, float))
                                 or not 0 < plan.ema <= 1):
        raise BadInputError(f"plan.ema must be None or a share of the steps in (0, 1], got {plan.ema!r}")


def _weight_average(model: nn.Module, plan: TrainingPlan, total_steps: int) -> WeightAverage | None:
    """The plan's moving average over ``model`` (the plain module), or None when the plan keeps none."""
    if plan.ema is None:
        return None
    return WeightAverage(model=model, decay=ema_decay(share=float(plan.ema), total_steps=total_steps))


def _check_budget(epsilon: float, delta: float, accountant: str, n_units: int) -> None:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (
        math.isfinite(epsilon) and epsilon > 0
    ):
        raise BadInputError(f"epsilon must be a finite number > 0, got {epsilon!r}")
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise BadInputError(f"delta must be in (0, 1), got {delta!r}")
    if delta >= 1 / n_units:
        raise BadInputError(f"delta={delta:g} is not below 1/n for n={n_units} privacy units; use a smaller delta")
    if accountant not in ACCOUNTANTS:
        raise BadInputError(f"accountant must be one of {ACCOUNTANTS}, got {accountant!r}")


def poisson_schedule(*, n_units: int, batch_size: int, epochs: int) -> tuple[int, float, int, int]:
    """``(batch_size, sample_rate, steps_per_epoch, total_steps)`` exactly as Opacus will run them.

    Opacus sets ``sample_rate = 1 / len(data_loader)`` and its Poisson sampler yields ``int(1 / sample_rate)``
    batches per epoch.  ``make_private_with_epsilon`` calibrates the noise for ``int(epochs / sample_rate)``
    steps, which float rounding can make one step short (e.g. 75 batches x 3 epochs -> 224, not 225), so we
    calibrate for the steps we actually take.
    """
    batch = min(batch_size, n_units)
    sample_rate = 1 / math.ceil(n_units / batch)
    steps_per_epoch = len(UniformWithReplacementSampler(num_samples=n_units, sample_rate=sample_rate))
    return batch, sample_rate, steps_per_epoch, epochs * steps_per_epoch


def _epsilon_spent(engine: PrivacyEngine, delta: float) -> float:
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        # "Optimal order is the largest alpha": the RDP bound (also used to size PRV's domain) stays a valid
        # upper bound, just possibly a loose one; nothing a user could act on.  ``divide``: with every unit in
        # every batch (sample rate 1) PRV takes log(1 - q) = -inf, which its formula handles exactly.
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(engine.get_epsilon(delta))


@functools.lru_cache(maxsize=64)
def calibrate_noise(*, epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str) -> float:
    """The smallest noise multiplier (to within 0.5 % of epsilon) whose ``steps`` Poisson-subsampled Gaussian
    steps at ``sample_rate`` spend at most ``(epsilon, delta)`` under ``accountant``.  A pure function of
    public numbers, so it is cached (a PRV or RDP binary search takes seconds)."""
    try:
        with warnings.catch_warnings(), np.errstate(divide="ignore"):  # see _epsilon_spent
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            return get_noise_multiplier(
                target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate, steps=steps,
                accountant=accountant, epsilon_tolerance=min(0.01, 0.005 * epsilon),
            )
    except ValueError as err:
        raise BadInputError(
            f"epsilon={epsilon:g} is too small for {steps} DP-SGD steps with the {accountant} accountant ({err}); "
            "raise epsilon or train fewer epochs"
        ) from err


@dataclass
class LoopState:
    """Where the training loop is: ``steps`` done, the current epoch's (non-private) loss sum and count,
    and the seconds of training so far (across resumptions)."""

    steps: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    seconds: float = 0.0


#: Row evaluations (units x rows per unit x augmentation) per forward/backward pass.  A larger Poisson batch
#: is processed in passes of at most this many, its clipped gradients summed before one noisy step: the same
#: step as one pass (the noise is added once, the accountant sees one step), at a fraction of the memory.
PASS_ROWS = 8192


def _step(*, model: nn.Module, diffusion: GaussianDiffusion, optimizer: torch.optim.Optimizer,
          criterion: Callable[[Tensor, Tensor], Tensor], units: Tensor, mask: Tensor, augmentation: int,
          generator: torch.Generator) -> float:
    """One optimizer step on one batch of units, in passes of at most ``PASS_ROWS`` row evaluations;
    returns the batch's mean loss (not private: for local diagnostics only, never shown or logged).

    Under DP every pass but the last is an Opacus skipped step: each unit's gradient is clipped in its own
    pass and the clipped sums accumulate, then the last step adds the noise once and counts once.  Without
    DP each pass's mean loss is weighed by its share of the batch, so the gradient is the batch's mean."""
    private = isinstance(optimizer, DPOptimizer)
    per_pass = max(1, PASS_ROWS // max(1, units.shape[1] * augmentation))
    bounds = list(range(0, units.shape[0], per_pass)) or [0]
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for i, start in enumerate(bounds):
        last = i == len(bounds) - 1
        part = slice(start, start + per_pass)
        if private:
            optimizer.signal_skip_step(do_skip=not last)
            if i:
                optimizer.zero_grad(set_to_none=True)  # clears p.grad; the accumulated sum is kept
        loss = denoising_objective(model=model, diffusion=diffusion, criterion=criterion, units=units[part],
                                   mask=mask[part], augmentation=augmentation, generator=generator)
        if private:
            loss.backward()  # per-unit norms, clipping coefficients, clipped sum of this pass
            optimizer.step()  # skipped passes accumulate; the last adds noise, divides, counts the step
        else:
            (loss * (units[part].shape[0] / max(units.shape[0], 1))).backward()
        total += float(loss.detach()) * units[part].shape[0]
    if not private:
        optimizer.step()
    return total / units.shape[0] if units.shape[0] else math.nan


def _run_epochs(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[Tensor, Tensor], Tensor],
    plan: TrainingPlan,
    generator: torch.Generator,
    total_steps: int,
    progress: Progress,
    desc: str,
    spent: Callable[[], float] | None = None,
    epsilon_target: float | None = None,
    device: torch.device | None = None,
    start: LoopState | None = None,
    on_resume: Callable[[], None] | None = None,
    after_step: Callable[[LoopState], None] | None = None,
    average: WeightAverage | None = None,
) -> tuple[int, float, float]:
    """The training loop shared by both trainers: returns ``(steps, final_loss, seconds)``.

    ``start`` resumes at a step offset (a restored checkpoint): the epoch it falls in runs only its
    remaining steps.  Batches are drawn independently (Poisson), so this is the same run.  ``on_resume``
    is called once, right after the resumed epoch's iterator is made (it draws a seed from the sampling
    generator, which the caller restores afterwards).  ``average`` (the weights' moving average) takes in
    the iterate after every step, before ``after_step`` sees the state (so a checkpoint holds both).
    """
    state = dataclasses.replace(start) if start is not None else LoopState()
    steps_per_epoch = total_steps // plan.epochs
    first_epoch, offset = divmod(state.steps, steps_per_epoch)
    earlier = state.seconds
    final_loss = math.nan
    progress.start(task=desc, total=total_steps, done=state.steps, elapsed=earlier, epsilon_target=epsilon_target)
    try:
        with warnings.catch_warnings():
            # Opacus' hooks on the first layers fire on outputs only (their inputs need no grad): harmless.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            start_time = time.perf_counter()
            for epoch in range(first_epoch, plan.epochs):
                batches = iter(loader)
                if epoch == first_epoch and offset:
                    if on_resume is not None:
                        on_resume()
                    batches = itertools.islice(batches, steps_per_epoch - offset)
                else:
                    state.loss_sum, state.loss_count = 0.0, 0
                for units_b, mask_b in batches:
                    if device is not None:
                        units_b, mask_b = units_b.to(device), mask_b.to(device)
                    loss = _step(model=model, diffusion=diffusion, optimizer=optimizer, criterion=criterion,
                                 units=units_b, mask=mask_b, augmentation=plan.augmentation, generator=generator)
                    state.steps += 1
                    if average is not None:
                        average.update()
                    if units_b.shape[0]:  # a Poisson batch may be empty: it still stepped (noise only)
                        state.loss_sum += loss * units_b.shape[0]
                        state.loss_count += units_b.shape[0]
                    progress.advance(done=state.steps, epsilon=spent)  # never the loss: see synthdata.progress
                    if after_step is not None:
                        state.seconds = earlier + time.perf_counter() - start_time
                        after_step(state)
                if state.loss_count:
                    final_loss = state.loss_sum / state.loss_count
            seconds = earlier + time.perf_counter() - start_time
    finally:
        progress.finish()
    if state.steps != total_steps:
        raise RuntimeError(f"trained {state.steps} steps but planned {total_steps}")
    return state.steps, final_loss, seconds


def grad_sample_mode_for(model: nn.Module) -> str:
    """``"bookkeeping"`` when every layer with trainable parameters of its own is ``nn.Linear`` (one backward
    pass: :mod:`synthdata.privacy.bookkeeping`; a DP step of the table MLP on 1,024 demo-slice units, one
    thread, median of 3: 0.435 s against 0.502 s for Opacus' two-pass ghost step and 0.272 s without DP;
    0.38-0.40 s since its backward pass stops at the layer outputs),
    ``"ghost"`` when they are all in ``GHOST_NORM_LAYERS``, else ``"hooks"``.  Ghost clipping gets a Linear
    layer's per-unit norm without its per-unit gradient, but for any other layer it computes the per-sample gradients anyway and then still runs its second backward
    pass.  Measured on one batch (``python -m evaluation.benchmarks.signal`` / ``image``), a ghost step of
    the U-Net costs 1.21 s against 1.07 s with hooks (BreastMNIST 28 x 28), 7.6 against 6.1 s (64 x 64), 0.55
    against 0.44 s (EEG windows)."""
    for module in model.modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if own and not isinstance(module, GHOST_NORM_LAYERS):
            return "hooks"
    return "bookkeeping" if bookkeeping.applies_to(model) else "ghost"


def make_private_units(
    *,
    model: nn.Module,
    units: Tensor,
    mask: Tensor,
    plan: TrainingPlan,
    noise_multiplier: float,
    rand: DPRandomness,
    accountant: str,
    grad_sample_mode: str | None = None,
    world: World | None = None,
):
    """Wrap model, Adam, data loader and loss with Opacus (Poisson sampling, one clipped gradient per unit).

    ``grad_sample_mode`` is ``"bookkeeping"``, ``"ghost"`` or ``"hooks"``; None picks
    :func:`grad_sample_mode_for` the model.
    Returns ``(engine, dp_model, dp_optimizer, criterion, dp_loader)``: with ghost clipping the criterion is
    Opacus' wrapper of :class:`DenoisingLoss` (its backward runs both passes), with hooks a plain
    mean-reduced :class:`DenoisingLoss` (Opacus scales the per-unit gradients back by the batch size).
    Checks that Opacus really draws its Poisson batches from ``rand.sampling`` and its gradient noise from
    ``rand.noise``: with ``secure_mode`` off, ``DPDataLoader.from_data_loader`` takes our DataLoader's
    generator and the optimizer takes ``noise_generator``; neither may fall back to torch's global RNG,
    which the recorded seed drives (model initialisation).

    With a ``world`` (training across processes, :mod:`synthdata.privacy.distributed`) the model is wrapped in
    Opacus' ``DifferentiallyPrivateDistributedDataParallel`` (rank 0's initial weights broadcast), the
    optimizer is Opacus' distributed one (noise on rank 0 only, gradients averaged over ranks) and the loader
    Poisson-samples this rank's units (:func:`synthdata.privacy.distributed.local_units`) at the global rate,
    empty local batches included.  ``units`` and ``mask`` are the whole dataset on every rank.
    """
    with warnings.catch_warnings():
        # The caveat this warning states is in our privacy statement (DPRandomness.source).
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant=accountant)
    batch = min(plan.batch_size, units.shape[0])
    mode = grad_sample_mode or grad_sample_mode_for(model)
    if mode not in ("bookkeeping", "ghost", "hooks"):
        raise ValueError(f"grad_sample_mode must be 'bookkeeping', 'ghost' or 'hooks', got {mode!r}")
    if mode == "bookkeeping" and not bookkeeping.applies_to(model):
        raise ValueError("bookkeeping clipping needs a model of nn.Linear layers only")
    wrapped = engine.make_private(
        # A DPDDP module makes Opacus pick its distributed optimizer; the full-data loader below sets the
        # global sample rate, the accountant's, and the per-rank expected batch (B / size) the optimizer divides by.
        module=DPDDP(model) if world is not None else model,
        optimizer=torch.optim.Adam(model.parameters(), lr=plan.lr),
        data_loader=DataLoader(TensorDataset(units, mask), batch_size=batch, generator=rand.sampling),
        criterion=DenoisingLoss(),
        noise_multiplier=noise_multiplier,
        max_grad_norm=plan.max_grad_norm,
        grad_sample_mode="hooks" if mode == "hooks" else "ghost",
        poisson_sampling=True,
        noise_generator=rand.noise,
    )
    if mode == "hooks":  # Opacus returns no criterion outside ghost clipping
        (dp_model, optimizer, dp_loader), criterion = wrapped, DenoisingLoss()
    else:
        dp_model, optimizer, criterion, dp_loader = wrapped
        if mode == "bookkeeping":
            criterion = bookkeeping.OnePassCriterion(criterion, dp_model=dp_model, optimizer=optimizer)
    if world is not None:
        # Not Opacus' DistributedUniformWithReplacementSampler: it skips empty local batches (ranks fall out of
        # step).  This rank's units, each drawn with the global rate, every step yielded (see distributed.py).
        mine = local_units(n_units=units.shape[0], world=world)
        dp_loader = DPDataLoader(TensorDataset(units[mine], mask[mine]), sample_rate=dp_loader.sample_rate,
                                 generator=rand.sampling)
        expected = int(units.shape[0] * dp_loader.sample_rate) / world.size
        if not (
            isinstance(optimizer, (DistributedDPOptimizer, DistributedDPOptimizerFastGradientClipping))
            and optimizer.expected_batch_size == expected
            and (optimizer.rank, optimizer.world_size) == (world.rank, world.size)
        ):
            _strip_opacus(dp_model, model)
            raise RuntimeError("Opacus did not make the distributed DP optimizer the noise was planned for")
    sampler = dp_loader.batch_sampler
    if not (
        isinstance(sampler, UniformWithReplacementSampler)
        and sampler.generator is rand.sampling
        and dp_loader.generator is rand.sampling
        and optimizer.generator is rand.noise
        and not optimizer.secure_mode
    ):
        _strip_opacus(dp_model, model)
        raise RuntimeError("Opacus did not wire our sampling and noise generators as expected")
    return engine, dp_model, optimizer, criterion, dp_loader


def _strip_opacus(dp_model, model: nn.Module) -> None:
    """Remove Opacus' hooks and the attributes it put on parameters and layers, leaving a plain module."""
    dp_model._close()  # removes hooks; deletes grad_sample, _norm_sample, _forward_counter, ...
    for p in model.parameters():
        p.grad = None
        if hasattr(p, "summed_grad"):
            del p.summed_grad
    for module in model.modules():
        for attr in ("activations", "max_batch_len"):
            if attr in module.__dict__:
                delattr(module, attr)
        if not module._backward_hooks:
            module._is_full_backward_hook = None  # lets plain backward hooks be registered again


def train_private(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    units: Tensor,
    mask: Tensor,
    plan: TrainingPlan,
    epsilon: float,
    delta: float,
    accountant: str = "prv",
    reproducible_seed: int | None = None,
    progress: bool | Progress = True,
    checkpoint: Path | None = None,
    checkpoint_every: int | None = None,
    device: torch.device | str | None = None,
    world: World | None = None,
    grad_sample_mode: str | None = None,
    empty_units: bool = False,
) -> TrainingOutcome:
    """Train ``model`` in place with DP-SGD so the weights are (epsilon, delta)-DP per privacy unit.

    Args:
        model: the denoiser; its (data-independent) initial weights come from the caller.  On return it
            holds the trained weights, has no Opacus hooks left and keeps its train/eval mode.
        diffusion: the forward process that noises the data.
        units: ``(N, R, d)`` float tensor, one item per privacy unit, rows padded to ``R``; values in the
            data space ``[-1, 1]``.
        mask: ``(N, R)`` bool, True for real rows.  Every unit needs at least one real row, unless
            ``empty_units``.
        plan: epochs, expected batch size, learning rate, clipping norm, augmentation multiplicity, and
            ``ema``: the model returned holds a moving average of the DP-SGD iterates (post-processing: the
            same guarantee and epsilon; a checkpoint carries the average).
        epsilon, delta: the training budget; delta must be below ``1 / N``.
        accountant: ``"prv"`` (tighter) or ``"rdp"``.
        reproducible_seed: None for a DP-valid run; an integer replays the run and voids the guarantee.
        progress: where the loop reports its progress (step, epsilon spent so far, time; never the loss):
            True a bar on stderr, False nothing, or a :class:`synthdata.progress.Progress`.
        checkpoint: a file in the run's private work area.  If it exists (a run of the same data, plan,
            budget and randomness) was killed), training resumes from it: model, optimizer and accountant
            history are restored (and, for replayable runs only, the random streams) and only the
            remaining steps run, so the outcome (steps, epsilon) is that of an uninterrupted run.  While training, the state is
            saved there; the file is deleted when training completes.  See
            :mod:`synthdata.privacy.checkpoint` for why it is private and how long it is kept.
        checkpoint_every: save every this many steps; None saves whenever ``CHECKPOINT_SECONDS`` of
            training have passed since the last save.  Ignored without ``checkpoint``.
        device: where the model and its batches are (``synthdata.devices.resolve_device``); None keeps the
            model's current device.  The model stays there on return.  The gradient noise and the diffusion
            draws come from generators on that device (OS-entropy seeded all the same), Poisson sampling from
            one on the CPU.
        world: train across the processes of an initialised ``torch.distributed`` group
            (:mod:`synthdata.privacy.distributed`): every rank calls this with the same arguments (the whole
            ``units`` and ``mask``; ``device`` its own, e.g. ``cuda:<rank>``); each trains on its share of
            the units, rank 0 adds the noise once per step, and all end with the same weights and outcome.
            Only rank 0 reports ``progress``.  ``checkpoint`` is refused with a world (not built yet).
        grad_sample_mode: how per-unit gradient norms are computed (``"bookkeeping"``, ``"ghost"`` or
            ``"hooks"``); None picks :func:`grad_sample_mode_for` the model.  The clipping, noise and guarantee
            are the same in every mode; only the cost differs (ghost norms of a unit of R rows cost R^2 per
            layer, per-sample gradients in-by-out: hooks are cheaper for units of thousands of rows).
        empty_units: accept units without a real row (mask all False).  Such a unit is a privacy unit with
            nothing in this training set (a patient without a row in one table of a database): its loss is 0,
            its gradient zero, and it counts in ``N``, so the sampling rate and the steps are a function of the
            number of units the caller declares (e.g. every patient) rather than of how many have rows.

    Poisson sampling picks each unit independently with rate ``1 / ceil(N / batch)``; each unit's loss
    (averaged over its rows and ``augmentation`` noise draws) gives one gradient, clipped to
    ``max_grad_norm`` (ghost clipping or per-sample gradients, :func:`grad_sample_mode_for`); Gaussian
    noise of std ``noise_multiplier * max_grad_norm`` from an unrecorded generator is added to the sum.  The noise is calibrated for exactly the
    ``epochs * ceil(N / batch)`` steps taken, empty batches included.  See the module docstring for what
    the guarantee does not cover.

    Raises:
        BadInputError: bad data, plan or budget (checked before any training), a budget too small for
            the accountant to certify, or a checkpoint made for another run (other data, plan, budget or
            randomness) or unreadable.
        RuntimeError: Opacus did not run what the noise was calibrated for (wrong generators, step count,
            or spent epsilon above target).  The model was modified and must be discarded.  With a
            ``world``, also when the ranks hold other data or settings than rank 0 (before training).
    """
    units, mask = _check_data(units, mask, empty_units=empty_units)
    _check_plan(plan)
    n_units = units.shape[0]
    _check_budget(epsilon, delta, accountant, n_units)
    if world is not None and checkpoint is not None:
        raise BadInputError("checkpoints are not supported when training across processes yet; "
                            "train in one process to checkpoint")
    _, sample_rate, steps_per_epoch, total_steps = poisson_schedule(
        n_units=n_units, batch_size=plan.batch_size, epochs=plan.epochs
    )
    noise_multiplier = calibrate_noise(
        epsilon=float(epsilon), delta=float(delta), sample_rate=sample_rate, steps=total_steps, accountant=accountant
    )
    if world is not None:
        local_units(n_units=n_units, world=world)  # at least one unit per rank
        check_same_run(world=world, units=units, mask=mask, settings={
            "plan": asdict(plan), "epsilon": float(epsilon), "delta": float(delta), "accountant": accountant,
            "noise_multiplier": float(noise_multiplier), "sample_rate": sample_rate, "total_steps": total_steps,
            "model": [tuple(p.shape) for p in model.parameters()],  # weights: DPDDP broadcasts rank 0's
            "buffers": [float(b.detach().double().sum()) for b in model.buffers()],  # these it does not
        })
        if not world.leader:
            progress = False

    if checkpoint_every is not None and (
        isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1
    ):
        raise BadInputError(f"checkpoint_every must be an integer >= 1 or None, got {checkpoint_every!r}")

    device = _device_for(model, device)
    model.to(device)
    rand = dp_randomness(reproducible_seed=reproducible_seed, device=device,
                         rank=world.rank if world is not None else 0)
    identity = RunIdentity(
        plan=plan_record(plan), epsilon=float(epsilon), delta=float(delta), accountant=accountant,
        noise_multiplier=float(noise_multiplier), sample_rate=float(sample_rate), total_steps=total_steps,
        n_units=n_units, data_fingerprint=data_fingerprint(units, mask), noise_source=rand.source,
        diffusion=diffusion.settings(),
    ) if checkpoint is not None else None
    resumed = load_checkpoint(checkpoint, expected=identity) if checkpoint is not None else None
    mode = grad_sample_mode or grad_sample_mode_for(model)
    was_training, dp_model = model.training, None
    model.train()
    try:
        if resumed is not None:
            try:  # weights before make_private: Opacus wraps the module, its state-dict keys change
                model.load_state_dict(resumed.model)
            except RuntimeError as err:
                raise BadInputError(f"checkpoint {checkpoint} holds another model architecture") from err
        engine, dp_model, optimizer, criterion, dp_loader = make_private_units(
            model=model, units=units, mask=mask, plan=plan, noise_multiplier=noise_multiplier, rand=rand,
            accountant=accountant, grad_sample_mode=mode, world=world,
        )
        if len(dp_loader) != steps_per_epoch or dp_loader.sample_rate != sample_rate:
            raise RuntimeError("Opacus' Poisson schedule differs from the one the noise was calibrated for")
        start, on_resume = LoopState(), None
        average = _weight_average(model, plan, total_steps)  # over the plain module: Opacus' wrapper shares its tensors
        if resumed is not None:
            optimizer.load_state_dict(resumed.optimizer)
            engine.accountant.history = list(resumed.history)
            start = LoopState(steps=resumed.steps, loss_sum=resumed.loss_sum, loss_count=resumed.loss_count,
                              seconds=resumed.seconds)
            if average is not None:
                if resumed.ema is None or int(resumed.ema["steps"]) != resumed.steps:
                    raise BadInputError(f"checkpoint {checkpoint} is inconsistent (no moving average of the "
                                        "weights for its steps); delete it to start over")
                average.load_state_dict(resumed.ema)
            if resumed.generators:  # replayable runs only; DP-valid ones go on with fresh OS entropy
                for name in STREAMS:
                    getattr(rand, name).set_state(resumed.generators[name])
                # Making the epoch's iterator draws a seed from the sampling stream: restore it after that.
                on_resume = functools.partial(rand.sampling.set_state, resumed.generators["sampling"])
        after_step = None
        if checkpoint is not None:
            after_step = _checkpointer(
                path=checkpoint, identity=identity, model=model, optimizer=optimizer, engine=engine, rand=rand,
                total_steps=total_steps, every=checkpoint_every, last_seconds=start.seconds, average=average,
            )
        steps, final_loss, seconds = _run_epochs(
            model=dp_model, diffusion=diffusion, loader=dp_loader, optimizer=optimizer, criterion=criterion,
            plan=plan, generator=rand.diffusion, total_steps=total_steps, progress=as_progress(progress),
            desc="DP training", spent=lambda: _epsilon_spent(engine, delta), epsilon_target=float(epsilon),
            device=device, start=start, on_resume=on_resume, after_step=after_step, average=average,
        )
    finally:
        if dp_model is not None:
            _strip_opacus(dp_model, model)
        model.train(was_training)
    if average is not None:
        average.copy_to(model)  # the average of the DP iterates: post-processing, no privacy cost

    accounted = sum(entry[2] for entry in engine.accountant.history)
    spent = _epsilon_spent(engine, delta)
    if accounted != total_steps or not spent <= epsilon * (1 + 1e-6):
        raise RuntimeError(f"privacy accounting mismatch: {accounted} steps accounted, epsilon {spent:.6g}")
    if checkpoint is not None:
        remove_checkpoint(checkpoint)  # private state (noise generator, unfinished model): keep final weights only
    return TrainingOutcome(
        private=True, epsilon=float(spent), delta=float(delta), noise_multiplier=float(noise_multiplier),
        sample_rate=sample_rate, steps=steps, epochs=plan.epochs, accountant=accountant,
        grad_sample_mode=mode, noise_source=rand.source, dp_valid=rand.dp_valid,
        seconds=seconds, records_per_second=n_units * plan.epochs / seconds, final_loss=final_loss,
    )


def _checkpointer(
    *,
    path: Path,
    identity: RunIdentity,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    engine: PrivacyEngine,
    rand: DPRandomness,
    total_steps: int,
    every: int | None,
    last_seconds: float,
    average: WeightAverage | None = None,
) -> Callable[[LoopState], None]:
    """A hook for ``_run_epochs`` that saves a checkpoint every ``every`` steps (or every
    ``CHECKPOINT_SECONDS`` of training), never after the last step (training is about to finish); the
    weights' moving average, when the plan keeps one, goes with it."""
    last = [last_seconds]

    def after_step(state: LoopState) -> None:
        if state.steps >= total_steps:
            return
        due = state.steps % every == 0 if every is not None else state.seconds - last[0] >= CHECKPOINT_SECONDS
        if not due:
            return
        save_checkpoint(path, Checkpoint(
            identity=identity, steps=state.steps,
            model={k: v.detach().clone() for k, v in model.state_dict().items()},
            optimizer=optimizer.state_dict(), history=list(engine.accountant.history),
            # Never a DP-valid run's streams: a stored state is a recorded seed (see synthdata.privacy.checkpoint).
            generators={} if rand.dp_valid else {name: getattr(rand, name).get_state() for name in STREAMS},
            loss_sum=state.loss_sum, loss_count=state.loss_count, seconds=state.seconds,
            ema=average.state_dict() if average is not None else None,
        ))
        last[0] = state.seconds

    return after_step


def train_non_private(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    units: Tensor,
    mask: Tensor,
    plan: TrainingPlan,
    seed: int,
    progress: bool | Progress = True,
    device: torch.device | str | None = None,
) -> TrainingOutcome:
    """Epsilon = infinity baseline: the same objective and loop, no clipping, no noise, shuffled batches.

    It gives NO privacy guarantee: benchmarks use it as the no-DP arm, and a release only to pretrain on
    DECLARED-PUBLIC data (``model.pretrain``, checked to share no record with the private data), never on
    private data.
    ``plan.max_grad_norm`` is ignored; shuffling and diffusion draws are seeded from ``seed``.  ``progress`` and
    ``device`` as in :func:`train_private`; ``plan.ema`` as there (the model ends with the average).
    """
    units, mask = _check_data(units, mask)
    _check_plan(plan)
    n_units = units.shape[0]
    batch = min(plan.batch_size, n_units)
    device = _device_for(model, device)
    model.to(device)
    rand = dp_randomness(reproducible_seed=seed, device=device)
    loader = DataLoader(TensorDataset(units, mask), batch_size=batch, shuffle=True, generator=rand.sampling)
    was_training = model.training
    total_steps = plan.epochs * len(loader)
    average = _weight_average(model, plan, total_steps)
    model.train()
    try:
        steps, final_loss, seconds = _run_epochs(
            model=model, diffusion=diffusion, loader=loader,
            optimizer=torch.optim.Adam(model.parameters(), lr=plan.lr), criterion=DenoisingLoss(), plan=plan,
            generator=rand.diffusion, total_steps=total_steps, progress=as_progress(progress),
            desc="non-private training", device=device, average=average,
        )
    finally:
        for p in model.parameters():
            p.grad = None
        model.train(was_training)
    if average is not None:
        average.copy_to(model)
    return TrainingOutcome(
        private=False, epsilon=None, delta=None, noise_multiplier=None, sample_rate=batch / n_units,
        steps=steps, epochs=plan.epochs, accountant=None, grad_sample_mode=None,
        noise_source=f"none: non-private baseline, no DP noise and no guarantee (seed {seed})", dp_valid=False,
        seconds=seconds, records_per_second=n_units * plan.epochs / seconds, final_loss=final_loss,
    )
