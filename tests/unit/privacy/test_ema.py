"""The weights' moving average (``TrainingPlan.ema``, ``synthdata.privacy.ema``): the closed form, what both
trainers return with it, that it changes neither the trajectory nor the privacy accounting, and that off it
leaves nothing behind."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from synthdata.config import ModelSpec
from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.errors import BadInputError
from synthdata.modalities.image.settings import PRESETS as IMAGE_PRESETS
from synthdata.modalities.signal.settings import ECG_PRESETS
from synthdata.modalities.signal.settings import PRESETS as SIGNAL_PRESETS
from synthdata.modalities.table.settings import PRESETS as TABLE_PRESETS
from synthdata.privacy import ema as ema_module
from synthdata.privacy import training
from synthdata.privacy.ema import WeightAverage, ema_decay
from synthdata.privacy.training import (
    TrainingPlan,
    plan_record,
    train_non_private,
    train_private,
)

DIFFUSION = GaussianDiffusion(timesteps=50)
BUDGET = {"epsilon": 3.0, "delta": 1e-4, "accountant": "rdp"}


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (0.5 * torch.randn(60, 1, 2, generator=g)).clamp(-1, 1), torch.ones(60, 1, dtype=torch.bool)


def fresh_model() -> MLPDenoiser:
    torch.manual_seed(0)
    return MLPDenoiser(data_dim=2, hidden=8, depth=1, time_dim=8)


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


def closed_form(iterates: list[torch.Tensor], decay: float) -> torch.Tensor:
    """sum_s (1 - b) b^(t - s) theta_s / (1 - b^t), in float64."""
    t = len(iterates)
    total = sum((1 - decay) * decay ** (t - s) * theta.double() for s, theta in enumerate(iterates, start=1))
    return total / (1 - decay**t)


def test_the_average_is_the_debiased_closed_form_of_the_iterates() -> None:
    layer = nn.Linear(2, 1)
    average = WeightAverage(model=layer, decay=0.7)
    iterates = []
    for value in (5.0, -1.0, 2.0, 0.5):
        with torch.no_grad():
            for p in layer.parameters():
                p.fill_(value)
        iterates.append(torch.cat([p.detach().flatten().clone() for p in layer.parameters()]))
        average.update()
        got = torch.cat([average.shadow[name].flatten() for name, _ in layer.named_parameters()])
        assert torch.allclose(got.double(), closed_form(iterates, 0.7), atol=1e-6)
    # By hand for the four values: the first update copies the first iterate (no weight on the initial weights).
    expected = (0.3 * 0.7**3 * 5 + 0.3 * 0.7**2 * -1 + 0.3 * 0.7 * 2 + 0.3 * 0.5) / (1 - 0.7**4)
    assert average.shadow["weight"][0, 0].item() == pytest.approx(expected, abs=1e-6)
    assert ema_decay(share=0.1, total_steps=200) == pytest.approx(0.95)
    assert ema_decay(share=0.01, total_steps=50) == 0.0  # under a step: the last iterate


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """The iterate after every step, as the average sees it."""
    iterates: list[torch.Tensor] = []
    update = WeightAverage.update

    def record(self: WeightAverage) -> None:
        iterates.append(torch.cat([p.detach().flatten().clone() for p in self._params.values()]))
        update(self)

    monkeypatch.setattr(WeightAverage, "update", record)
    return iterates


@pytest.mark.parametrize("private", [True, False])
def test_the_trained_model_holds_the_average_and_the_trajectory_is_unchanged(
    monkeypatch: pytest.MonkeyPatch, private: bool
) -> None:
    units, mask = data()
    plain = TrainingPlan(epochs=2, batch_size=20, lr=1e-2, max_grad_norm=1.0, augmentation=1)  # 3 x 2 = 6 steps
    averaged = TrainingPlan(epochs=2, batch_size=20, lr=1e-2, max_grad_norm=1.0, augmentation=1, ema=0.5)

    def run(plan: TrainingPlan) -> tuple[nn.Module, training.TrainingOutcome]:
        model = fresh_model()
        if private:
            outcome = train_private(model=model, diffusion=DIFFUSION, units=units, mask=mask, plan=plan,
                                    reproducible_seed=7, progress=False, **BUDGET)
        else:
            outcome = train_non_private(model=model, diffusion=DIFFUSION, units=units, mask=mask, plan=plan,
                                        seed=7, progress=False)
        return model, outcome

    last, last_outcome = run(plain)
    iterates = _recording(monkeypatch)
    model, outcome = run(averaged)
    assert len(iterates) == outcome.steps == 6
    assert torch.equal(iterates[-1], flat(last)), "keeping the average changed the training run"
    decay = ema_decay(share=0.5, total_steps=6)  # 2/3
    assert decay == pytest.approx(2 / 3)
    assert torch.allclose(flat(model).double(), closed_form(iterates, decay), atol=1e-6)
    assert not torch.allclose(flat(model), flat(last), atol=1e-4), "the average is not the last iterate"
    assert (outcome.epsilon, outcome.noise_multiplier, outcome.steps) == (
        last_outcome.epsilon, last_outcome.noise_multiplier, last_outcome.steps), "the average is post-processing"
    assert all(p.grad is None for p in model.parameters())


def test_without_an_average_nothing_is_kept_and_the_identity_is_as_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a weight average was made for a plan without one")

    monkeypatch.setattr(ema_module.WeightAverage, "__init__", refuse)
    units, mask = data()
    plan = TrainingPlan(epochs=2, batch_size=20, lr=1e-2, max_grad_norm=1.0, augmentation=1)
    assert plan_record(plan) == {"epochs": 2, "batch_size": 20, "lr": 1e-2, "max_grad_norm": 1.0, "augmentation": 1}
    saved = []
    save = training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint", lambda path, state: (saved.append(state), save(path, state)))
    train_private(model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=plan, progress=False,
                  checkpoint=tmp_path / "checkpoint.pt", checkpoint_every=2, **BUDGET)
    train_non_private(model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=plan, seed=1,
                      progress=False)
    assert saved and all(state.ema is None for state in saved)
    with pytest.raises(TypeError):
        TrainingPlan(2, 20, 1e-2, 1.0, 1, 0.1)  # keyword only


@pytest.mark.parametrize("value", [0, 1.5, -0.1, True, math.nan])
def test_a_bad_share_is_refused(value: float) -> None:
    units, mask = data()
    plan = TrainingPlan(epochs=1, batch_size=20, lr=1e-2, max_grad_norm=1.0, augmentation=1, ema=value)
    with pytest.raises(BadInputError, match="plan.ema"):
        train_non_private(model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=plan, seed=1,
                          progress=False)


def test_table_presets_keep_no_average() -> None:
    from synthdata.flow.stages import training_plan

    class Spec:  # what training_plan reads of a release spec
        def __init__(self, model: ModelSpec) -> None:
            self.model = model

    for name in TABLE_PRESETS:
        assert "ema" not in TABLE_PRESETS[name]
        assert training_plan(Spec(ModelSpec(preset=name).filled(presets=TABLE_PRESETS))).ema is None
    for presets in (SIGNAL_PRESETS, ECG_PRESETS, IMAGE_PRESETS):
        for name in presets:
            filled = ModelSpec(preset=name).filled(presets=presets)
            assert training_plan(Spec(filled)).ema == presets[name].get("ema")
            assert training_plan(Spec(filled.model_copy(update={"ema": 0.0}))).ema is None  # 0 turns it off


def test_the_privacy_statement_says_the_release_is_the_average_and_costs_nothing() -> None:
    from evaluation.report.content import _privacy_statement
    from synthdata.flow.publish import privacy_statement

    prepared = {"modality": "ecg", "privacy_unit": "one window", "preprocessing_columns": []}
    training_json = {"dp_valid": True, "epsilon": 10.0, "delta_total": 1e-5, "epsilon_training": 9.0,
                     "epsilon_preprocessing": 1.0, "delta_preprocessing": 1e-6, "accountant": "prv",
                     "composition": "basic", "noise_source": "os", "noise_multiplier": 1.1, "steps": 200,
                     "sample_rate": 0.2, "plan": {"epochs": 40, "ema": 0.1}}
    statement = privacy_statement(spec=None, prepared=prepared, training=training_json)
    assert "time constant 10% of the 200 steps" in statement["weight_average"]
    assert statement["epsilon"] == 10.0
    shown = " ".join(_privacy_statement(statement, internal=False).paragraphs)
    assert "exponential moving average of the DP-SGD iterates" in shown and "no extra ε" in shown
    off = privacy_statement(spec=None, prepared=prepared, training={**training_json, "plan": {"epochs": 40,
                                                                                            "ema": None}})
    assert "weight_average" not in off
    assert "moving average" not in " ".join(_privacy_statement(off, internal=False).paragraphs)
