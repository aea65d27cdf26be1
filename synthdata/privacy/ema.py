"""An exponential moving average (EMA) of a denoiser's weights over its training steps.

Diffusion models are sampled from an average of their last iterates rather than from the last one (DDPM, Ho
et al. 2020; under DP-SGD, DPDM, Dockhorn et al. 2022): the noisy per-step updates average out.  The plan's
``ema`` is the average's time constant as a SHARE of the run's steps, so one setting fits runs of 100 and of
10,000 steps: the decay is ``1 - 1 / (ema * total_steps)`` (:func:`ema_decay`), and the last ``ema`` of the
steps carry about 63% of the weight (twice that share about 86%).

The average is debiased as Adam's moments are: after ``t`` updates it is
``sum_s (1 - b) b^(t - s) theta_s / (1 - b^t)`` over the iterates ``theta_1 .. theta_t`` after each step, so
the initial (untrained) weights carry no weight at all and the first update copies the first iterate.

Privacy: the average is a function of the DP-SGD iterates only, which the accountant already treats as
released (it composes every step), so it is post-processing: the guarantee, its epsilon and its unit are
those of the run without it.  Its state is private state of the run's work area, as the iterate is; a
checkpoint carries it (:mod:`synthdata.privacy.checkpoint`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn


def ema_decay(*, share: float, total_steps: int) -> float:
    """The per-step decay whose time constant is ``share`` of ``total_steps`` (0 when that is under a step:
    the average is then the last iterate)."""
    if not (0 < share <= 1) or total_steps < 1:
        raise ValueError(f"ema share must be in (0, 1] and total_steps >= 1, got {share!r}, {total_steps!r}")
    return max(0.0, 1.0 - 1.0 / (share * total_steps))


class WeightAverage:
    """The debiased EMA of ``model``'s floating-point parameters (buffers are not averaged: the denoisers
    have none; :meth:`copy_to` leaves a model's buffers as they are).

    Keep it over the plain module, not an Opacus wrapper: its parameters are the same tensors, and the keys
    are the plain module's parameter names."""

    def __init__(self, *, model: nn.Module, decay: float) -> None:
        if not (isinstance(decay, float) and 0.0 <= decay < 1.0):
            raise ValueError(f"decay must be a float in [0, 1), got {decay!r}")
        self.decay = decay
        self.steps = 0
        self._params = {name: p for name, p in model.named_parameters() if p.is_floating_point()}
        self.shadow = {name: p.detach().clone() for name, p in self._params.items()}

    def weight(self) -> float:
        """The weight the next update gives the current iterate: ``(1 - b) / (1 - b^t)`` at update ``t``."""
        t = self.steps + 1
        return 1.0 if self.decay == 0.0 else (1.0 - self.decay) / -math.expm1(t * math.log(self.decay))

    @torch.no_grad()
    def update(self) -> None:
        """Fold the model's current weights (the iterate after a step) into the average."""
        weight = self.weight()
        for name, param in self._params.items():
            self.shadow[name].lerp_(param.detach(), weight)
        self.steps += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Put the average into ``model``'s parameters (the module it was made for, or one of its architecture)."""
        params = dict(model.named_parameters())
        for name, value in self.shadow.items():
            params[name].copy_(value)

    def state_dict(self) -> dict[str, Any]:
        """``{"decay", "steps", "shadow": {name: tensor}}``: plain containers (``torch.load(weights_only=True)``)."""
        return {"decay": float(self.decay), "steps": int(self.steps),
                "shadow": {name: value.detach().clone() for name, value in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; ValueError if it was made with another decay or other parameters."""
        if not math.isclose(float(state["decay"]), self.decay, rel_tol=1e-12, abs_tol=0.0):
            raise ValueError(f"the average was kept with decay {state['decay']!r}, not {self.decay!r}")
        shadow: dict[str, Tensor] = state["shadow"]
        if set(shadow) != set(self.shadow) or any(shadow[k].shape != self.shadow[k].shape for k in shadow):
            raise ValueError("the average was kept over other parameters")
        with torch.no_grad():
            for name, value in shadow.items():
                self.shadow[name].copy_(value)
        self.steps = int(state["steps"])
