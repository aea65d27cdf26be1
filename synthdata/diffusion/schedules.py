"""Noise schedules: pure functions from a few numbers to a tensor of cumulative signal levels.

A schedule is returned as ``alphas_cumprod`` (often written alpha-bar): entry ``t`` is the fraction of the
signal's variance left in ``x_t``, so ``x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps``.  Everything else a
diffusion process needs (betas, posterior coefficients) is derived from it.
"""

from __future__ import annotations

import math

import torch


def cosine_alphas_cumprod(*, timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule of Nichol & Dhariwal (2021), "Improved Denoising Diffusion Probabilistic Models".

    ``f(u) = cos(((u / T) + s) / (1 + s) * pi / 2) ** 2``; each step's ``beta_t = 1 - f(t+1) / f(t)`` is
    capped at ``max_beta`` (so the last step does not destroy the signal in one go) and
    ``alphas_cumprod = cumprod(1 - beta)``.

    Args:
        timesteps: number of diffusion steps ``T`` (>= 1).
        s: small offset that keeps ``beta_0`` from being vanishingly small.
        max_beta: cap on each ``beta_t``, in (0, 1).

    Returns:
        A float64 tensor of shape ``(T,)``, strictly decreasing, every entry in (0, 1).
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"s must be a finite number > 0, got {s!r}")
    if not 0 < max_beta < 1:
        raise ValueError(f"max_beta must be in (0, 1), got {max_beta!r}")

    u = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((u + s) / (1 + s) * (math.pi / 2)) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(min=0.0, max=max_beta)
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    if not bool((betas > 0).all()):
        # Only possible for absurdly large T, where float64 can no longer tell neighbouring steps apart.
        raise ValueError(f"timesteps={timesteps} is too large for a strictly decreasing cosine schedule")
    return alphas_cumprod
