"""The Gaussian diffusion process and its per-record training loss.

The process is a plain object built from a schedule; the network is passed in by whoever trains or samples.
The loss returns one value per record (privacy unit) so that DP-SGD can clip each record's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from synthdata.diffusion.schedules import cosine_alphas_cumprod


PREDICTIONS = ("eps", "x0")


class GaussianDiffusion:
    """Forward (noising) process ``x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps`` with a cosine schedule.

    ``prediction`` says what the network predicts: the noise (``"eps"``, as in DDPM and TabDDPM) or the
    clean data (``"x0"``).  x0-prediction is more robust for DP-trained networks: every parameter carries
    DP noise, and a small constant error in a predicted noise is multiplied by ``sqrt(1-ab)/sqrt(ab)``
    (hundreds at high t) when the sampler recovers ``x0`` from it, while an error in a predicted ``x0`` is not.

    **Conditioning.** With ``condition_dim = K > 0`` the last K features of every row are a *condition* (a
    class as a one-hot vector; all zeros means "no condition"), not data: they are never noised, the
    network sees them as they are and predicts only the first ``d - K`` features (the data part).  In
    training each row's condition is replaced by zeros with probability ``condition_dropout``, so one
    network learns both the conditional and the unconditional model, which classifier-free guidance
    (Ho & Salimans, 2021) combines when sampling.  The dropout coin is drawn from the training generator
    like the timesteps and the noise (OS entropy in a DP run), and it never depends on past losses.

    **Scale.** ``scale = s`` runs the process on ``s`` times the data part (``x_t = sqrt(ab_t) s x_0 +
    sqrt(1 - ab_t) eps``; an x0-predicting network predicts ``s x_0``), as Chen (2023, "On the Importance of Noise
    Scheduling for Diffusion Models") scales its inputs; the samplers divide their result by ``s``, so records
    stay in ``[-1, 1]`` outside the process.  A schedule is tuned for data that fill that range (images: standard
    deviation about 0.5); data that fill a small part of it (an ECG beat window in its declared +-2.5 mV: about
    0.07, the QRS complex a few samples) are drowned by the noise at most steps and weigh little in the loss, and
    a network trained on them learns little of their shape (``synthdata.modalities.signal.settings``).

    Attributes:
        timesteps: number of diffusion steps ``T``; timesteps are indexed ``0 .. T-1``.
        scale: ``s``, the factor the data part is multiplied by inside the process (1: none).
        condition_dim: ``K``, the width of the condition at the end of each row (0: unconditional).
        alphas_cumprod: float32 tensor ``(T,)`` of ``ab_t``.
        alphas_cumprod64: the same in float64, used by the samplers for their coefficients.
    """

    def __init__(self, *, timesteps: int = 1000, prediction: str = "eps", condition_dim: int = 0,
                 condition_dropout: float = 0.1, scale: float = 1.0) -> None:
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        if condition_dim < 0 or not 0.0 <= condition_dropout < 1.0:
            raise ValueError(f"condition_dim must be >= 0 and condition_dropout in [0, 1), got {condition_dim}, "
                             f"{condition_dropout}")
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
        self.timesteps = timesteps
        self.scale = float(scale)
        self.prediction = prediction
        self.condition_dim = condition_dim
        self.condition_dropout = condition_dropout if condition_dim else 0.0
        self.alphas_cumprod64 = cosine_alphas_cumprod(timesteps=timesteps)
        self.alphas_cumprod = self.alphas_cumprod64.to(torch.float32)
        self._sqrt_ab = self.alphas_cumprod64.sqrt().to(torch.float32)
        self._sqrt_one_minus_ab = (1 - self.alphas_cumprod64).sqrt().to(torch.float32)

    def settings(self) -> dict[str, int | float | str]:
        """What a denoiser trained on this process learned under, and a sampler must run again: the number of
        timesteps (the cosine schedule is fixed), the prediction, the data scale and the condition's width.
        (``condition_dropout`` acts in training only.)"""
        return {"timesteps": int(self.timesteps), "prediction": self.prediction, "scale": self.scale,
                "condition_dim": int(self.condition_dim)}

    def _coef(self, table: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """``table[t]`` with a trailing axis, on ``like``'s device and dtype, ready to broadcast."""
        return table.to(like.device)[t].to(like.dtype).unsqueeze(-1)

    def _check_t(self, t: Tensor, x: Tensor) -> None:
        if t.dtype != torch.long:
            raise TypeError(f"t must be a LongTensor, got {t.dtype}")
        if tuple(t.shape) != tuple(x.shape[:-1]):
            raise ValueError(f"t has shape {tuple(t.shape)}, expected {tuple(x.shape[:-1])} (x.shape[:-1])")

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(data, condition)`` parts of rows ``x``: the first ``d - K`` and the last ``K`` features."""
        width = x.shape[-1] - self.condition_dim
        if width < 1:
            raise ValueError(f"rows have {x.shape[-1]} features, not more than the condition's {self.condition_dim}")
        return x[..., :width], x[..., width:]

    def q_sample(self, *, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Noise clean rows ``x0`` to level ``t`` (shape ``x0.shape[:-1]``) with the given ``noise``: the data
        part becomes ``sqrt(ab_t) scale x0 + sqrt(1 - ab_t) noise``.

        ``noise`` has the data part's shape; a condition part is passed through unchanged.
        """
        self._check_t(t, x0)
        data, condition = self.split(x0)
        if noise.shape != data.shape:
            raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {tuple(data.shape)}")
        noised = (self._coef(self._sqrt_ab, t, data) * (self.scale * data)
                  + self._coef(self._sqrt_one_minus_ab, t, data) * noise)
        return torch.cat([noised, condition], dim=-1) if self.condition_dim else noised

    def draw_training_inputs(self, *, x0: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Draw ``t ~ U{0..T-1}`` for every entry of ``x0.shape[:-1]``, ``noise ~ N(0, I)`` for the data part
        and, with a condition, which rows lose it (probability ``condition_dropout``).

        All are drawn only from ``generator`` (never torch's global RNG) and never depend on past losses,
        as the privacy rules require.  Returns ``(x_t, t, noise)``.
        """
        t = torch.randint(0, self.timesteps, x0.shape[:-1], generator=generator, device=x0.device)
        data, _ = self.split(x0)
        noise = torch.randn(data.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        x_t = self.q_sample(x0=x0, t=t, noise=noise)
        if self.condition_dropout:
            keep = torch.rand(x0.shape[:-1], generator=generator, device=x0.device) >= self.condition_dropout
            x_t = torch.cat([x_t[..., : data.shape[-1]], x_t[..., data.shape[-1]:] * keep.unsqueeze(-1)], dim=-1)
        return x_t, t, noise

    def training_target(self, *, x0: Tensor, noise: Tensor) -> Tensor:
        """What the network is trained to output for the data part: the noise or the clean data (times ``scale``)."""
        return noise if self.prediction == "eps" else self.scale * self.split(x0)[0]

    def x0_and_eps(self, *, x_t: Tensor, output: Tensor, ab: float) -> tuple[Tensor, Tensor]:
        """The network's ``output`` at a level with cumulative alpha ``ab`` read as ``(x0, eps)``.

        ``x_t`` and ``output`` are data parts (no condition); ``x0`` is in the process's space (``scale`` times
        the data)."""
        if self.prediction == "eps":
            return (x_t - (1 - ab) ** 0.5 * output) / ab**0.5, output
        return output, (x_t - ab**0.5 * output) / (1 - ab) ** 0.5

    def predict_x0(self, *, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """Invert ``q_sample`` given a (predicted) noise: ``x0 = (x_t - sqrt(1 - ab_t) eps) / (sqrt(ab_t) scale)``."""
        self._check_t(t, x_t)
        return (x_t - self._coef(self._sqrt_one_minus_ab, t, x_t) * eps) / (self._coef(self._sqrt_ab, t, x_t)
                                                                              * self.scale)


def pack_target(*, noise: Tensor, weight: Tensor) -> Tensor:
    """Build the ``(..., d+1)`` target of :class:`DenoisingLoss`: the true noise plus a per-row weight.

    Args:
        noise: ``(B, L, d)`` noise that produced ``x_t``.
        weight: ``(B, L)`` row weights (1 for real rows, 0 for padding); any real dtype.
    """
    if tuple(weight.shape) != tuple(noise.shape[:-1]):
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected {tuple(noise.shape[:-1])}")
    return torch.cat([noise, weight.to(noise.dtype).unsqueeze(-1)], dim=-1)


class DenoisingLoss(nn.Module):
    """Per-record noise-prediction loss, usable as an Opacus ghost-clipping criterion.

    ``forward(prediction, target)`` takes ``prediction`` of shape ``(B, L, d)`` and ``target`` of shape
    ``(B, L, d+1)`` (see :func:`pack_target`): ``target[..., :d]`` is the true noise and ``target[..., d]``
    a per-row weight.  The loss of record ``b`` is

        ``sum_l w_bl * mean_d (prediction - noise)^2 / max(sum_l w_bl, tiny)``

    so padding rows (weight 0) contribute nothing, and a record whose rows were repeated for augmentation
    multiplicity gets the average over all its noise draws.  ``reduction`` is ``"none"`` (shape ``(B,)``),
    ``"mean"`` or ``"sum"``; Opacus switches it to ``"none"`` to get per-record losses.
    """

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        d = prediction.shape[-1]
        if prediction.dim() < 2 or target.shape != (*prediction.shape[:-1], d + 1):
            raise ValueError(
                f"target must have shape {(*prediction.shape[:-1], d + 1)} for prediction {tuple(prediction.shape)}, "
                f"got {tuple(target.shape)}"
            )
        noise, weight = target[..., :d], target[..., d]
        per_row = (prediction - noise).pow(2).mean(dim=-1)
        per_row = per_row.flatten(1) if per_row.dim() > 1 else per_row.unsqueeze(1)  # (B, rows)
        weight = weight.reshape(per_row.shape)
        tiny = torch.finfo(weight.dtype).tiny
        per_record = (per_row * weight).sum(dim=1) / weight.sum(dim=1).clamp(min=tiny)
        if self.reduction == "none":
            return per_record
        if self.reduction == "sum":
            return per_record.sum()
        if self.reduction == "mean":
            return per_record.mean()
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {self.reduction!r}")


def denoising_objective(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    criterion: Callable[[Tensor, Tensor], Tensor],
    units: Tensor,
    mask: Tensor,
    augmentation: int,
    generator: torch.Generator,
):
    """One training step's loss for a batch of privacy units (shared by the private and non-private trainers).

    ``units`` is ``(B, R, d)`` with ``mask`` ``(B, R)``.  Each unit's rows are repeated ``augmentation``
    (K) times along dim 1 (``(B, R*K, d)``: augmentation multiplicity), every entry gets its own timestep
    and noise from ``generator``, and ``criterion`` (a :class:`DenoisingLoss`, possibly wrapped by Opacus)
    averages each unit's weighted row losses, padding rows weighing 0.  So one unit yields one loss, hence
    one gradient to clip, however many rows and noise draws it has.  Returns what ``criterion`` returns.
    """
    x0 = units.repeat(1, augmentation, 1)
    weight = mask.repeat(1, augmentation).to(units.dtype)
    x_t, t, noise = diffusion.draw_training_inputs(x0=x0, generator=generator)
    target = diffusion.training_target(x0=x0, noise=noise)
    return criterion(model(x_t, t), pack_target(noise=target, weight=weight))
