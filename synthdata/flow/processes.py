"""A release's DP-SGD training across several processes on this machine (``model.processes``).

:func:`train_across_processes` starts ``processes`` workers (:func:`synthdata.privacy.distributed.spawn`: gloo on
the CPU, nccl with one GPU per worker) that run ONE DP-SGD training together through
:func:`synthdata.privacy.training.train_private` with a world: every worker holds the same prepared units,
partitions whole units (patients) by position, and rank 0 alone adds the noise and reports progress, so the
mechanism and the accountant's epsilon are the single-process plan's (the guarantees and caveats are
:mod:`synthdata.privacy.distributed`'s).  The workers start from the parent's model (its seeded initialisation,
after the public prior when there is one); rank 0 hands back the trained weights and the outcome through the
run's private work area.  Progress reaches the caller's :class:`synthdata.progress.Progress` through a queue.

No checkpoints across processes: a training killed part-way starts again from its first step when the run is
resumed, under the reservation it holds.  That costs no more epsilon: nothing the killed attempt computed
(weights, batches, noise) was kept or shown, so the released model is the output of one run of the mechanism.
"""

from __future__ import annotations

import dataclasses
import queue as queues
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from synthdata.errors import BadInputError, SynthdataError
from synthdata.export.manifest import write_json
from synthdata.modalities import get_modality
from synthdata.privacy.distributed import World, spawn
from synthdata.privacy.training import TrainingOutcome, TrainingPlan, train_private
from synthdata.progress import Progress, as_progress
from synthdata.release_spec import load_spec
from synthdata.run_area import RunArea, read_json

_INITIAL, _TRAINED, _OUTCOME, _ERROR = "ranks-initial.pt", "ranks-trained.pt", "ranks-outcome.json", "ranks-error-"


class _Forward:
    """Rank 0's :class:`Progress`: puts the calls on a queue for the parent (the accountant's epsilon read at
    most twice a second, and at the last step)."""

    def __init__(self, queue: Any) -> None:
        self.queue, self.total, self.sent = queue, 0, 0.0

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        self.total = total
        self.queue.put(("start", {"task": task, "total": total, "done": done, "elapsed": elapsed,
                                  "epsilon_target": epsilon_target}))

    def advance(self, *, done: int, epsilon: Callable[[], float] | None = None) -> None:
        now = time.monotonic()
        if done < self.total and now - self.sent < 0.5:
            return
        self.sent = now
        self.queue.put(("advance", {"done": done, "epsilon": None if epsilon is None else float(epsilon())}))

    def finish(self) -> None:
        self.queue.put(("finish", {}))


def _relay(queue: Any, progress: Progress, stop: threading.Event) -> None:
    """In the parent: rank 0's progress calls, replayed on ``progress``."""
    while not stop.is_set() or not queue.empty():
        try:
            kind, fields = queue.get(timeout=0.2)
        except queues.Empty:
            continue
        if kind == "advance":
            value = fields["epsilon"]
            progress.advance(done=fields["done"], epsilon=None if value is None else (lambda v=value: v))
        else:
            getattr(progress, kind)(**fields)


def _rank(world: World, area_root: str, plan: dict[str, Any], epsilon: float, delta: float, device: str,
          queue: Any) -> None:
    """One worker; a synthdata error's message is left for the parent in the work area (the worker's traceback
    is not for the user)."""
    area = RunArea(Path(area_root))
    try:
        _train_rank(world, area, plan, epsilon, delta, device, queue)
    except SynthdataError as error:
        write_json(area.model / f"{_ERROR}{world.rank}.json", {"message": error.message})
        raise


def _train_rank(world: World, area: RunArea, plan: dict[str, Any], epsilon: float, delta: float, device: str,
                queue: Any) -> None:
    """The release's model, diffusion and prepared units, trained with the other workers."""
    from synthdata.flow.stages import (
        diffusion_for,  # the release's diffusion process (imported here: stages imports us)
    )

    spec = load_spec(area.spec)
    prepared = read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    stored = torch.load(area.prepared / "units.pt", weights_only=True)
    model = modality.build_denoiser(codec=codec, model=spec.model)
    model.load_state_dict(torch.load(area.model / _INITIAL, weights_only=True))
    where = torch.device(device) if device == "cpu" else torch.device(device, world.rank)
    outcome = train_private(
        model=model, diffusion=diffusion_for(spec=spec, modality=modality, codec=codec), units=stored["data"],
        mask=stored["mask"], plan=TrainingPlan(**plan), epsilon=epsilon, delta=delta,
        accountant=spec.privacy.accountant, progress=_Forward(queue) if world.leader else False, device=where,
        world=world)
    if world.leader:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, area.model / _TRAINED)
        write_json(area.model / _OUTCOME, dataclasses.asdict(outcome))


def train_across_processes(*, area: RunArea, model: torch.nn.Module, plan: TrainingPlan, processes: int,
                           epsilon: float, delta: float, device: torch.device,
                           progress: bool | Progress) -> TrainingOutcome:
    """Train ``model`` (in place) with DP-SGD for (``epsilon``, ``delta``) across ``processes`` workers.

    ``area`` is the release's work area: its recorded spec and prepared units.
    Raises BadInputError when a worker fails (its error named) or fewer units than workers were prepared.
    """
    if device.type == "cuda" and torch.cuda.device_count() < processes:
        raise BadInputError(f"model.processes is {processes} on cuda, but torch sees {torch.cuda.device_count()} GPU(s):"
                            " one process per GPU")
    _clear(area)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, area.model / _INITIAL)
    queue = mp.get_context("spawn").Queue()
    stop = threading.Event()
    relay = threading.Thread(target=_relay, args=(queue, as_progress(progress), stop), daemon=True)
    relay.start()
    try:
        spawn(_rank, processes=processes, args=(str(area.root), dataclasses.asdict(plan), epsilon, delta, device.type,
                                                queue))
        model.load_state_dict(torch.load(area.model / _TRAINED, weights_only=True))
        outcome = TrainingOutcome(**read_json(area.model / _OUTCOME))
    except (mp.ProcessRaisedException, mp.ProcessExitedException):  # a worker failed or died: name why
        told = sorted(area.model.glob(f"{_ERROR}*.json"))
        cause = read_json(told[0])["message"] if told else "a worker stopped without saying why"
        raise BadInputError(f"DP-SGD across {processes} processes failed: {cause}") from None
    finally:
        stop.set()
        relay.join()
        _clear(area)
    return outcome


def _clear(area: RunArea) -> None:
    """Remove the hand-over files (initial and trained weights: private; outcome; worker errors)."""
    for path in (area.model / _INITIAL, area.model / _TRAINED, area.model / _OUTCOME, *area.model.glob(f"{_ERROR}*.json")):
        path.unlink(missing_ok=True)
