"""Class conditioning: the condition part is never noised, is dropped at the stated rate in training, is
held fixed while sampling, and classifier-free guidance combines the two predictions as stated."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from synthdata.diffusion.process import GaussianDiffusion, denoising_objective, DenoisingLoss
from synthdata.diffusion.samplers import SAMPLERS, ddim_sample

CENTRES = torch.tensor([[0.3, -0.2], [-0.3, 0.2]])  # x0 of class 0 and class 1 (data part, d - K = 2)


class ClassOracle(nn.Module):
    """x0-prediction: the class's centre for a one-hot condition, their mean (0) without one."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == 4 and t.shape == x.shape[:-1]
        condition = x[..., 2:]
        return condition @ CENTRES  # all-zero condition -> 0


def test_q_sample_noises_only_the_data_part() -> None:
    diffusion = GaussianDiffusion(timesteps=100, prediction="x0", condition_dim=2)
    x0 = torch.tensor([[0.5, -0.5, 1.0, 0.0]]).repeat(6, 1)
    t = torch.full((6,), 99, dtype=torch.long)
    x_t = diffusion.q_sample(x0=x0, t=t, noise=torch.randn(6, 2))
    assert torch.equal(x_t[:, 2:], x0[:, 2:])
    assert not torch.allclose(x_t[:, :2], x0[:, :2])
    with pytest.raises(ValueError, match="noise"):
        diffusion.q_sample(x0=x0, t=t, noise=torch.randn(6, 4))
    assert torch.equal(diffusion.training_target(x0=x0, noise=torch.zeros(6, 2)), x0[:, :2])


def test_training_drops_the_condition_at_the_stated_rate_from_the_generator() -> None:
    diffusion = GaussianDiffusion(timesteps=100, prediction="x0", condition_dim=2, condition_dropout=0.25)
    x0 = torch.tensor([0.1, 0.2, 0.0, 1.0]).repeat(20_000, 1)
    x_t, t, noise = diffusion.draw_training_inputs(x0=x0, generator=torch.Generator().manual_seed(3))
    assert noise.shape == (20_000, 2) and t.shape == (20_000,)
    dropped = (x_t[:, 2:] == 0).all(dim=1).float().mean().item()
    assert 0.23 < dropped < 0.27
    kept = x_t[(x_t[:, 2:] != 0).any(dim=1), 2:]
    assert torch.equal(kept, x0[: len(kept), 2:])  # a kept condition is exact
    again, _, _ = diffusion.draw_training_inputs(x0=x0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again, x_t)  # only the generator decides


def test_objective_compares_the_data_part_only() -> None:
    diffusion = GaussianDiffusion(timesteps=50, prediction="x0", condition_dim=2, condition_dropout=0.0)
    class_rows = torch.cat([CENTRES, torch.eye(2)], dim=1)  # each class at its centre
    units = class_rows.unsqueeze(1)  # (2 units, 1 row, 4)
    loss = denoising_objective(model=ClassOracle(), diffusion=diffusion, criterion=DenoisingLoss(reduction="none"),
                               units=units, mask=torch.ones(2, 1, dtype=torch.bool), augmentation=3,
                               generator=torch.Generator().manual_seed(0))
    assert loss.shape == (2,) and float(loss.abs().max()) < 1e-12  # the oracle is exact on the data part


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
@pytest.mark.parametrize("guidance", [0.0, 1.0])
def test_sampling_holds_the_condition_and_applies_guidance(sampler: str, guidance: float) -> None:
    diffusion = GaussianDiffusion(timesteps=60, prediction="x0", condition_dim=2)
    condition = torch.eye(2)[torch.tensor([0, 1, 1, 0, 1])]
    out = SAMPLERS[sampler](model=ClassOracle(), diffusion=diffusion, shape=(5, 4), condition=condition,
                            guidance=guidance, generator=torch.Generator().manual_seed(1))
    assert out.shape == (5, 4)
    assert torch.equal(out[:, 2:], condition)
    # x0 = u + (1 + w)(c - u) with u = 0: the class centre scaled by (1 + w)
    assert torch.allclose(out[:, :2], (1 + guidance) * condition @ CENTRES, atol=1e-4)


def test_condition_is_required_exactly_when_declared() -> None:
    conditional = GaussianDiffusion(timesteps=10, condition_dim=2)
    with pytest.raises(ValueError, match="condition"):
        ddim_sample(model=ClassOracle(), diffusion=conditional, shape=(3, 4), steps=2, generator=torch.Generator())
    with pytest.raises(ValueError, match="condition"):
        ddim_sample(model=ClassOracle(), diffusion=GaussianDiffusion(timesteps=10), shape=(3, 4), steps=2,
                    condition=torch.zeros(3, 2), generator=torch.Generator())
    with pytest.raises(ValueError, match="guidance"):
        ddim_sample(model=ClassOracle(), diffusion=conditional, shape=(3, 4), steps=2, condition=torch.zeros(3, 2),
                    guidance=-1.0, generator=torch.Generator())
