"""A trained denoiser as it is saved: its weights with the diffusion settings it was trained under.

A denoiser is right only for the process it learned.  A sampler that runs another number of timesteps, another
prediction, another data scale or another condition width draws wrong records and says nothing (a model trained
at data scale 1 and sampled at 4 gives records a quarter of their size, and the reverse four times, clipped).
So the settings travel with the weights in one record (``trained_record``), and ``trained_weights`` hands the
weights only to a process with the same settings: a file without them, or with others, is refused with a
``BadInputError`` naming the spec's setting, never sampled under a guess.  The record holds tensors and plain
values only (``torch.load(weights_only=True)`` reads it).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from synthdata.diffusion.process import GaussianDiffusion
from synthdata.errors import BadInputError

#: Each setting of ``GaussianDiffusion.settings`` by the name a steward knows it under.
SETTING_NAMES = {"timesteps": "model.timesteps", "prediction": "model.prediction", "scale": "model.data_scale",
                 "condition_dim": "the class condition's width (the number of declared classes)"}


def trained_record(*, model: nn.Module, diffusion: GaussianDiffusion) -> dict[str, Any]:
    """What to save of a trained ``model``: its weights on the CPU and ``diffusion``'s settings."""
    return {"weights": {name: value.detach().cpu() for name, value in model.state_dict().items()},
            "diffusion": diffusion.settings()}


def trained_weights(record: Any, *, diffusion: GaussianDiffusion, source: str) -> dict[str, Tensor]:
    """The weights of a saved ``record`` (from ``source``, named in errors) for sampling with ``diffusion``.

    Raises:
        BadInputError: the record does not say which settings it was trained under (a file saved before they
            were kept with the weights), or ``diffusion`` differs from them in any setting.
    """
    settings = record.get("diffusion") if isinstance(record, dict) else None
    if not isinstance(settings, dict) or not isinstance(record.get("weights"), dict):
        raise BadInputError(
            f"{source} does not record the diffusion settings its model was trained under "
            f"({', '.join(list(SETTING_NAMES.values())[:3])}): it was saved before they were kept with the weights, "
            "and sampling it under today's defaults could draw wrong records. Train the model again")
    wanted = diffusion.settings()
    differ = [name for name, value in wanted.items() if settings.get(name) != value]
    if differ:
        said = "; ".join(f"{SETTING_NAMES[name]} {_shown(settings.get(name))} when trained, {_shown(wanted[name])} now"
                         for name in differ)
        raise BadInputError(f"{source} was trained under other diffusion settings than the spec asks to sample with "
                            f"({said}): sampling it so would draw wrong records. Set them back to what it was "
                            "trained under (a run's recorded spec: spec.yaml in its work area)")
    return record["weights"]


def _shown(value: Any) -> str:
    return "unrecorded" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
