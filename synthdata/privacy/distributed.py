"""DP-SGD across processes (``torch.distributed``): which privacy units a rank trains on, and the launcher.

:func:`synthdata.privacy.training.train_private` takes a :class:`World` and then runs ONE DP-SGD run across
its processes (gloo on the CPU, nccl on GPUs), with Opacus' distributed DP optimizer:

* **Units, never rows, are partitioned.**  Each rank trains on the units ``rank, rank + size, ...`` of the
  ``(N, R, d)`` units tensor (:func:`local_units`), each unit with all its rows: a unit's per-unit gradient
  is computed and clipped on one rank, so it is clipped once and counted once in the summed gradient.
* **Poisson sampling stays Poisson over the whole dataset.**  Every rank draws each of ITS units'
  inclusion independently with the global rate ``q`` (Opacus' ``UniformWithReplacementSampler`` over the
  rank's units, from the rank's own OS-entropy generator), so every unit of the dataset is in a step's batch
  independently with probability ``q``: the sampled Gaussian mechanism the accountant composes.  The
  partition is by position, fixed before training and independent of the data's values.
  Opacus' own ``DistributedUniformWithReplacementSampler`` is NOT used: it skips a step when a rank's local
  batch is empty (its ``if len(selected_examples) > 0: yield``), so ranks would fall out of step (a hang in
  the gradient all-reduce, or steps summed across different iterations) and fewer steps would run than the
  noise was calibrated for.  Ours yields empty local batches, which step like any other.
* **The noise is added once per step.**  Opacus' ``DistributedDPOptimizer`` (or its ghost-clipping
  variant) adds Gaussian noise of std ``sigma * C`` on rank 0 only, divides each rank's sum by the
  per-rank expected batch ``B / size`` and averages over ranks: the update is ``(sum of clipped gradients +
  N(0, sigma^2 C^2)) / B``, the single-process plan's mechanism (``B`` the expected batch over all ranks).
* **The accountant** of every rank sees the global sample rate and every step; rank 0's is reported.

Privacy caveats, stated outright: the guarantee is the single-process one (same unit, same ``q``, same
steps, same noise) only when every rank holds the SAME units tensor, plan and budget (checked at the start
by :func:`check_same_run`, which compares shapes, counts and a sum over the values, not the bytes) and
every rank's process is trusted: a rank sees the gradients of its own units before noise, and rank 0 alone
knows the noise.  The per-rank OS-entropy caveat of :mod:`synthdata.privacy.randomness` applies to each.
The exchanged gradients travel unencrypted over the process group's transport (loopback for
:func:`spawn`); across machines, run it on a private network.  Only rank 0 reports progress; the caller
saves the model, the ledger entry and anything else from rank 0 only (all ranks hold the same weights).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor


@dataclass(frozen=True)
class World:
    """This process's place in an initialised ``torch.distributed`` process group: ``rank`` of ``size``."""

    rank: int
    size: int

    @classmethod
    def current(cls) -> World:
        """The default process group's rank and size.

        Raises:
            RuntimeError: ``torch.distributed`` has no initialised process group.
        """
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("training across processes needs an initialised torch.distributed process group "
                               "(see synthdata.privacy.distributed.spawn)")
        return cls(rank=dist.get_rank(), size=dist.get_world_size())

    @property
    def leader(self) -> bool:
        """Rank 0: the one that adds the noise, reports progress and writes what is saved."""
        return self.rank == 0


def local_units(*, n_units: int, world: World) -> Tensor:
    """The positions of the units this rank trains on: ``rank, rank + size, ...`` (whole units, never rows).

    The ranks' sets are disjoint and together cover ``range(n_units)``."""
    if world.size > n_units:
        raise ValueError(f"{world.size} processes for {n_units} privacy units: each process needs at least one")
    return torch.arange(world.rank, n_units, world.size)


def check_same_run(*, world: World, units: Tensor, mask: Tensor, settings: dict[str, Any]) -> None:
    """Refuse to train unless every rank holds the same units (shape, row count, sum of values) and the same
    ``settings`` (plan, budget, noise multiplier, schedule; the trainer adds the model's parameter shapes and
    buffer sums, since Opacus' DPDDP broadcasts rank 0's parameters but not buffers): otherwise the partition
    or the noise would not be the single-process plan's.  A collective: every rank must call it."""
    mine = {
        "shape": tuple(units.shape), "rows": int(mask.sum()),
        "sum": float(units.detach().double().sum()), "settings": settings,
    }
    everyone: list[Any] = [None] * world.size
    dist.all_gather_object(everyone, mine)
    different = [rank for rank, theirs in enumerate(everyone) if theirs != everyone[0]]
    if different:
        raise RuntimeError(f"ranks {different} hold other data or settings than rank 0: "
                           "every process must train on the same units with the same plan and budget")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a process group on this machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(rank: int, size: int, port: int, backend: str, threads: int, timeout: float, fn: Callable[..., None],
            args: tuple) -> None:
    torch.set_num_threads(threads)
    dist.init_process_group(backend=backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size,
                            timeout=timedelta(seconds=timeout))
    try:
        fn(World(rank=rank, size=size), *args)
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., None], *, processes: int, args: tuple = (), backend: str | None = None,
          threads: int | None = None, timeout: float = 1800.0) -> None:
    """Run ``fn(world, *args)`` in ``processes`` new processes on this machine, joined in a process group
    over 127.0.0.1 (gloo on the CPU, nccl when CUDA is available, unless ``backend`` says otherwise).

    ``fn`` must be importable by the spawned processes (a module-level function); it returns nothing (write
    results to files from rank 0).  ``threads`` per process defaults to the machine's cores shared out;
    ``timeout`` (seconds) is how long a collective waits for the other ranks before failing (a rank that died
    or fell out of step), torch's default 30 minutes.
    Raises what ``torch.multiprocessing.spawn`` raises when a process fails (``ProcessRaisedException``).
    """
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    threads = threads or max(1, (os.cpu_count() or 1) // processes)
    mp.spawn(_worker, args=(processes, free_port(), backend, threads, timeout, fn, args), nprocs=processes, join=True)
