"""A small convolutional network and its training loop, for the models the image audits fit on the fly.

Two audits fit networks inside the audit run: the feature encoder (``evaluation.images.encoder``) and the
utility classifiers (``evaluation.images.classifier``).  Both use :class:`ConvNet`: three 3x3 convolution
blocks (GroupNorm, SiLU; strides 1, 2, 2), average-pooled to a 4x4 grid and projected to ``width``
features.  GroupNorm, not BatchNorm, so an image's features never depend on the other images of its batch.
Images larger than ``MAX_SIDE`` pixels on their long side are first area-resampled to it, a public choice
that keeps the networks fast on CPU.

Threads: training and inference run on one thread (``one_thread``, also used by the image audits' own
matrix products).  The networks and matrices are small, and spinning OpenMP/BLAS threads slow down by 20x
when another process shares the cores (measured: 4 s against 87 s for the same encoder fit, two fits side
by side on two cores), as the pipeline and ``pytest -n 2`` do.

Randomness is public and reproducible: weights are initialised and noise drawn under ``seeded(seed)``, which
forks torch's global generator and restores it afterwards (the audits must not move the global stream),
and mini-batches are drawn from a ``numpy`` generator derived from the audit seed.

Privacy caveat: these networks are fitted on private images outside the DP guarantee.  They live only inside
an audit run and are never saved, released or logged; only aggregate scores computed with them are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import nn

MAX_SIDE = 64
BATCH = 64
EPOCHS = 12
MIN_STEPS = 60
MAX_STEPS = 400
LEARNING_RATE = 2e-3


def one_thread() -> threadpool_limits:
    """A context limiting OpenMP (torch's intra-op pool) and BLAS to one thread, restored on exit."""
    return threadpool_limits(limits=1)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Torch's CPU generator seeded with ``seed`` inside the block, its previous state restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def as_input(pixels: np.ndarray) -> torch.Tensor:
    """float32 tensor ``(n, C, H, W)``, area-resampled so that the long side is at most ``MAX_SIDE``."""
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    side = max(x.shape[-2:])
    if side > MAX_SIDE:
        scale = MAX_SIDE / side
        size = (max(1, round(x.shape[-2] * scale)), max(1, round(x.shape[-1] * scale)))
        x = F.interpolate(x, size=size, mode="area")
    return x


def _block(c_in: int, c_out: int, *, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(4, c_out), nn.SiLU())


class ConvNet(nn.Module):
    """Images ``(n, C, H, W)`` to ``(n, width)`` features: three conv blocks, 4x4 average pool, linear."""

    def __init__(self, *, channels: int, width: int = 64, base: int = 16) -> None:
        super().__init__()
        self.trunk = nn.Sequential(_block(channels, base, stride=1), _block(base, 2 * base, stride=2),
                                   _block(2 * base, 4 * base, stride=2), nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.project = nn.Linear(4 * base * 16, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.trunk(x))


class Decoder(nn.Module):
    """Features ``(n, width)`` back to images ``(n, C, H, W)``: one conv block at half resolution, then
    bilinear upsampling (the reconstruction is a training objective, it need not be sharp)."""

    def __init__(self, *, channels: int, size: tuple[int, int], width: int = 64, base: int = 16) -> None:
        super().__init__()
        self.size = size
        self.base = base
        self.expand = nn.Linear(width, 2 * base * 16)
        self.up = _block(2 * base, base, stride=1)
        self.out = nn.Conv2d(base, channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.expand(z).view(len(z), 2 * self.base, 4, 4)
        h = self.up(F.interpolate(h, size=(max(4, self.size[0] // 2), max(4, self.size[1] // 2)), mode="nearest"))
        return torch.tanh(F.interpolate(self.out(h), size=self.size, mode="bilinear", align_corners=False))


def train(*, parameters: list[nn.Parameter], loss: Callable[[torch.Tensor, np.ndarray], torch.Tensor],
          x: torch.Tensor, rng: np.random.Generator, epochs: int = EPOCHS) -> dict[str, float]:
    """Adam on mini-batches of ``x`` (``loss(batch, index)`` gives the batch's mean loss) for ``epochs``
    epochs, clamped to ``MIN_STEPS``..``MAX_STEPS`` steps.  Returns the step count, the mean loss of the last
    tenth of the steps and the seconds taken.  Call under ``seeded`` so that noise inside ``loss`` is seeded."""
    started = time.perf_counter()
    batch = min(BATCH, len(x))
    steps = int(np.clip(epochs * len(x) // batch, MIN_STEPS, MAX_STEPS))
    optimiser = torch.optim.Adam(parameters, lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
    recent: list[float] = []
    with one_thread():
        for step in range(steps):
            index = rng.choice(len(x), size=batch, replace=False)
            value = loss(x[torch.from_numpy(index)], index)
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            optimiser.step()
            schedule.step()
            if step >= steps - max(1, steps // 10):
                recent.append(float(value.detach()))
    return {"steps": steps, "final_loss": round(float(np.mean(recent)), 4),
            "seconds": round(time.perf_counter() - started, 2)}


@torch.no_grad()
def apply(model: nn.Module, x: torch.Tensor, *, chunk: int = 512) -> np.ndarray:
    """``model`` on ``x`` in chunks, in eval mode, as a float64 array."""
    model.eval()
    with one_thread():
        return np.concatenate([model(x[i:i + chunk]).double().numpy() for i in range(0, len(x), chunk)])
