"""Samplers that turn a trained noise-prediction model into synthetic records.

Sampling reads only the trained model, never the private data, so it is post-processing of the DP
training run and spends no privacy budget.  Its randomness comes from the ``generator`` the caller passes
(the release's recorded seed), which makes a release's synthetic data replayable from its model.

Model contract: ``model(x_t, t)`` with ``x_t`` of shape ``(n, d)`` and ``t`` a ``(n,)`` LongTensor returns
the predicted noise ``(n, d)``.  Data live in ``[-1, 1]``; ``clip`` clamps each predicted ``x0`` to
``[-clip, clip]`` (``None`` disables it).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from synthdata.diffusion.process import GaussianDiffusion


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _check_common(shape: tuple[int, int], clip: float | None, batch_size: int) -> None:
    if len(shape) != 2 or shape[0] < 0 or shape[1] < 1:
        raise ValueError(f"shape must be (n, d) with n >= 0 and d >= 1, got {shape!r}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be > 0 or None, got {clip!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")


def _x0_and_eps(
    *, model: nn.Module, diffusion: GaussianDiffusion, x: Tensor, t: int, ab: float, clip: float | None
) -> tuple[Tensor, Tensor]:
    """Predicted ``x0`` (clipped) and the noise consistent with it, at integer timestep ``t``."""
    t_vec = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    x0, eps = diffusion.x0_and_eps(x_t=x, output=model(x, t_vec), ab=ab)
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
    return x0, eps


def _noise_like(x: Tensor, generator: torch.Generator) -> Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def ddim_timesteps(*, timesteps: int, steps: int) -> list[int]:
    """``steps`` timesteps evenly spaced from ``T-1`` down to 0 ("trailing" spacing: starts at pure noise)."""
    if not 1 <= steps <= timesteps:
        raise ValueError(f"steps must be in [1, {timesteps}], got {steps!r}")
    if steps == 1:
        return [timesteps - 1]
    grid = torch.linspace(timesteps - 1, 0, steps, dtype=torch.float64).round().long()
    return [int(t) for t in torch.unique_consecutive(grid)]


@torch.no_grad()
def ddim_sample(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int],
    steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator,
    clip: float | None = 1.0,
    batch_size: int = 4096,
) -> Tensor:
    """DDIM (Song et al., 2021) with ``steps`` steps; ``eta=0`` is deterministic given the initial noise.

    The initial noise for all ``n`` records is drawn at once, so with ``eta=0`` the result does not depend
    on ``batch_size`` (up to float rounding).  Returns a float32 ``(n, d)`` tensor on the model's device.
    """
    _check_common(shape, clip, batch_size)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta!r}")
    ab_table = diffusion.alphas_cumprod64.tolist()
    ts = ddim_timesteps(timesteps=diffusion.timesteps, steps=steps)
    device = _device_of(model)
    out = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
    with _eval_mode(model):
        for start in range(0, shape[0], batch_size):
            x = out[start : start + batch_size]
            for i, t in enumerate(ts):
                ab = ab_table[t]
                ab_prev = ab_table[ts[i + 1]] if i + 1 < len(ts) else 1.0
                x0, eps = _x0_and_eps(model=model, diffusion=diffusion, x=x, t=t, ab=ab, clip=clip)
                sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
                x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
                if sigma > 0:
                    x = x + sigma * _noise_like(x, generator)
            out[start : start + batch_size] = x
    return out


@torch.no_grad()
def ddpm_sample(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int],
    generator: torch.Generator,
    clip: float | None = 1.0,
    batch_size: int = 4096,
) -> Tensor:
    """Ancestral DDPM sampling (Ho et al., 2020) over all ``T`` steps with the posterior variance.

    Each step draws ``x_{t-1} ~ N(mean(x_t, x0_hat), beta_t (1 - ab_{t-1}) / (1 - ab_t))``; the last step
    (t = 0) adds no noise.  Returns a float32 ``(n, d)`` tensor on the model's device.
    """
    _check_common(shape, clip, batch_size)
    ab_table = diffusion.alphas_cumprod64.tolist()
    device = _device_of(model)
    out = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
    with _eval_mode(model):
        for start in range(0, shape[0], batch_size):
            x = out[start : start + batch_size]
            for t in range(diffusion.timesteps - 1, -1, -1):
                ab = ab_table[t]
                ab_prev = ab_table[t - 1] if t > 0 else 1.0
                beta = 1 - ab / ab_prev
                x0, _ = _x0_and_eps(model=model, diffusion=diffusion, x=x, t=t, ab=ab, clip=clip)
                coef_x0 = math.sqrt(ab_prev) * beta / (1 - ab)
                coef_xt = math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)
                x = coef_x0 * x0 + coef_xt * x
                if t > 0:
                    x = x + math.sqrt(beta * (1 - ab_prev) / (1 - ab)) * _noise_like(x, generator)
            out[start : start + batch_size] = x
    return out


SAMPLERS: dict[str, Callable[..., Tensor]] = {"ddim": ddim_sample, "ddpm": ddpm_sample}
