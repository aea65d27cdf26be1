"""The signal model as an ECG spec gets it: its preset's sampling settings, and a no-DP model trained with
them on a tiny two-class signal whose rare class differs by timing (an early previous beat, as an atrial
premature beat does) draws each class with its own timing."""

from __future__ import annotations

import pytest
import torch

from synthdata.config import ModelSpec
from synthdata.diffusion.denoisers.unet import UNetDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.diffusion.samplers import ddim_sample
from synthdata.privacy.training import TrainingPlan, train_non_private
from synthdata.release_spec import parse_spec

LENGTH = 32
BEAT, EARLY, LATE = 24.0, 14.0, 6.0  # the window's own beat; the previous beat of a rare and of a normal window


def ecg_model(preset: str = "fast", **model: object) -> ModelSpec:
    return parse_spec({"name": "own", "dataset": {"path": "recordings", "modality": "ecg",
                                                  "signal": {"sample_rate": 180, "amplitude": [-2.5, 2.5]}},
                       "privacy": {"epsilon": 3.0}, "model": {"preset": preset, **model},
                       "output": {"out": "out"}}).model


@pytest.mark.parametrize("preset", ["fast", "standard"])
def test_an_ecg_spec_samples_with_guidance_3_unless_it_says_otherwise(preset: str) -> None:
    """ECG's rare beat classes need guidance 3 (chosen on the signal benchmark's training windows); EEG keeps the
    default 1; a declared weight wins over the preset."""
    eeg = parse_spec({"name": "own", "dataset": {"path": "recordings", "modality": "eeg",
                                                 "signal": {"sample_rate": 80, "amplitude": [-150, 150]}},
                      "privacy": {"epsilon": 3.0}, "model": {"preset": preset}, "output": {"out": "out"}}).model
    assert (ecg_model(preset).guidance, eeg.guidance, ecg_model(preset, guidance=0.5).guidance) == (3.0, 1.0, 0.5)


def _windows(n: int, previous: float, generator: torch.Generator) -> torch.Tensor:
    """Beats as an ECG window in its declared range holds them: narrow peaks of a tenth of the range, small noise."""
    position = torch.arange(LENGTH, dtype=torch.float32)
    beats = sum(0.15 * torch.exp(-0.5 * ((position - centre) / 1.0) ** 2) for centre in (previous, BEAT))
    return beats.repeat(n, 1) + 0.005 * torch.randn(n, LENGTH, generator=generator)


def _early_share(windows: torch.Tensor) -> float:
    """Share of windows whose previous beat is nearer the rare class's place than the normal one's."""
    middle = (EARLY + LATE) / 2
    early = windows[:, int(middle):int(BEAT) - 4].max(dim=1).values
    late = windows[:, : int(middle)].max(dim=1).values
    return float((early > late).float().mean())


def test_a_no_dp_model_with_the_ecg_presets_sampling_draws_a_rare_class_with_its_timing() -> None:
    """160 windows, 8 of them rare (5%: record 100 has 2% supraventricular beats); the denoiser, process and
    sampler are the release's (U-Net, x0-prediction at the ECG preset's data scale, DDIM at its steps and
    guidance); trained without DP for 120 steps.  Fails when the class condition does not reach the samples
    (both classes then drawn alike), or is swapped."""
    spec = ecg_model()
    generator = torch.Generator().manual_seed(0)
    data = torch.cat([_windows(152, LATE, generator), _windows(8, EARLY, generator)])
    classes = torch.cat([torch.zeros(152), torch.ones(8)]).long()
    units = torch.cat([data, torch.eye(2)[classes]], dim=1).unsqueeze(1)
    torch.manual_seed(0)
    model = UNetDenoiser(channels=1, shape=(LENGTH,), classes=2, base=8)
    diffusion = GaussianDiffusion(timesteps=spec.timesteps, prediction=spec.prediction, condition_dim=2,
                                  condition_dropout=spec.condition_dropout, scale=float(spec.resolved("data_scale")))
    train_non_private(model=model, diffusion=diffusion, units=units, mask=torch.ones(160, 1, dtype=torch.bool),
                      plan=TrainingPlan(epochs=40, batch_size=64, lr=3e-3, max_grad_norm=1.0, augmentation=2),
                      seed=0, progress=False)
    drawn = {}
    for label in (0, 1):
        condition = torch.eye(2)[torch.full((100,), label)]
        drawn[label] = ddim_sample(model=model, diffusion=diffusion, shape=(100, LENGTH + 2),
                                   steps=int(spec.resolved("sample_steps")), condition=condition,
                                   guidance=float(spec.resolved("guidance")),
                                   generator=torch.Generator().manual_seed(1 + label))[:, :LENGTH]
    assert _early_share(data[classes == 1]) == 1.0 and _early_share(data[classes == 0]) == 0.0  # the task is sound
    assert _early_share(drawn[1]) >= 0.8
    assert _early_share(drawn[0]) <= 0.1
