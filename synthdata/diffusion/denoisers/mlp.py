"""A TabDDPM-style MLP noise predictor for rows of numbers.

Every parameterised layer is an ``nn.Linear`` and there are no buffers or normalisation layers, so Opacus
ghost clipping computes exact per-record gradient norms for every parameter, and no statistic is shared
between the records of a batch (BatchNorm would break the per-record privacy accounting).  Each Linear is
applied once per forward pass (ghost clipping refuses tied parameters).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_embedding(t: Tensor, *, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal embedding of integer timesteps: ``t`` of shape ``(...)`` -> ``(..., dim)``; no parameters."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.to(torch.float32).unsqueeze(-1) * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class _ResidualBlock(nn.Module):
    """``h + Linear(SiLU(h))``: one hidden layer with a skip connection."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.act = nn.SiLU()
        self.linear = nn.Linear(hidden, hidden)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.linear(self.act(h))


class MLPDenoiser(nn.Module):
    """Predicts the noise in ``x_t`` from ``x_t`` and its timestep ``t``.

    Layout (TabDDPM): sinusoidal embedding of ``t`` -> Linear -> SiLU -> Linear (time MLP), added once to
    the input Linear's output; ``depth`` residual blocks ``h + Linear(SiLU(h))``; SiLU -> output Linear.
    Adding the time embedding once (not per block) halves the FLOPs per row, which matters twice under
    ghost clipping (two backward passes).

    ``forward(x, t)`` accepts ``x`` of shape ``(..., data_dim)`` and ``t`` of shape ``x.shape[:-1]``, e.g.
    ``(n, d)`` rows or ``(B, L, d)`` rows grouped by privacy unit (each row has its own timestep).

    ``condition_dim = K > 0``: each row also carries a K-wide condition after its data (the diffusion
    process's ``condition_dim``, e.g. a parent row's encoding): ``x`` is ``(..., data_dim + K)``, the input
    layer reads all of it and the output is the data part's ``(..., data_dim)``.
    """

    def __init__(self, *, data_dim: int, hidden: int = 256, depth: int = 3, time_dim: int = 128,
                 condition_dim: int = 0) -> None:
        super().__init__()
        if data_dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(f"data_dim, hidden and depth must be >= 1, got {data_dim}, {hidden}, {depth}")
        if time_dim < 2 or time_dim % 2:
            raise ValueError(f"time_dim must be an even number >= 2, got {time_dim}")
        if condition_dim < 0:
            raise ValueError(f"condition_dim must be >= 0, got {condition_dim}")
        self.data_dim = data_dim
        self.condition_dim = condition_dim
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.input = nn.Linear(data_dim + condition_dim, hidden)
        self.blocks = nn.ModuleList(_ResidualBlock(hidden) for _ in range(depth))
        self.out_act = nn.SiLU()
        self.output = nn.Linear(hidden, data_dim)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if x.shape[-1] != self.data_dim + self.condition_dim:
            raise ValueError(f"x has {x.shape[-1]} features, the denoiser expects {self.data_dim + self.condition_dim}")
        if tuple(t.shape) != tuple(x.shape[:-1]):
            raise ValueError(f"t has shape {tuple(t.shape)}, expected {tuple(x.shape[:-1])}")
        h = self.input(x) + self._time(t)
        for block in self.blocks:
            h = block(h)
        return self.output(self.out_act(h))

    def _time(self, t: Tensor) -> Tensor:
        """The time MLP's output per row.  When sampling (no gradient) every row of a step shares its
        timestep: it is computed once and broadcast, a quarter of the sampler's work at the default width.
        With gradients each row keeps its own evaluation (per-record gradients need per-record activations)."""
        if not torch.is_grad_enabled() and t.numel() > 1:
            first = t.reshape(-1)[:1]
            if bool((t == first).all()):
                return self.time_mlp(timestep_embedding(first, dim=self.time_dim)).expand(*t.shape, -1)
        return self.time_mlp(timestep_embedding(t, dim=self.time_dim))
