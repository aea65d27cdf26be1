"""Cosine schedule and the forward process of GaussianDiffusion."""

from __future__ import annotations

import pytest
import torch

from synthdata.diffusion.process import GaussianDiffusion
from synthdata.diffusion.schedules import cosine_alphas_cumprod


@pytest.mark.parametrize("timesteps", [1, 10, 100, 1000, 4000])
def test_cosine_schedule_is_strictly_decreasing_in_unit_interval(timesteps: int) -> None:
    ab = cosine_alphas_cumprod(timesteps=timesteps)
    assert ab.dtype == torch.float64 and ab.shape == (timesteps,)
    assert bool((ab > 0).all()) and bool((ab < 1).all())
    assert bool((ab[1:] < ab[:-1]).all())


def test_cosine_schedule_ends_near_pure_noise_and_starts_near_clean() -> None:
    ab = cosine_alphas_cumprod(timesteps=1000)
    assert ab[0] > 0.999 and ab[-1] < 1e-4


@pytest.mark.parametrize("kwargs", [{"timesteps": 0}, {"timesteps": 10, "s": 0.0}, {"timesteps": 10, "max_beta": 1.0}])
def test_cosine_schedule_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        cosine_alphas_cumprod(**kwargs)


def test_diffusion_attributes() -> None:
    diffusion = GaussianDiffusion(timesteps=50)
    assert diffusion.timesteps == 50
    assert diffusion.alphas_cumprod.dtype == torch.float32 and diffusion.alphas_cumprod.shape == (50,)


def test_q_sample_moments_at_small_and_large_t() -> None:
    diffusion = GaussianDiffusion(timesteps=1000)
    generator = torch.Generator().manual_seed(0)
    n, c = 40_000, 0.7
    x0 = torch.full((n, 1), c)
    noise = torch.randn(n, 1, generator=generator)
    for step in (0, 500, 999):
        t = torch.full((n,), step, dtype=torch.long)
        x_t = diffusion.q_sample(x0=x0, t=t, noise=noise)
        ab = float(diffusion.alphas_cumprod64[step])
        assert abs(x_t.mean().item() - ab**0.5 * c) < 0.02
        assert abs(x_t.var().item() - (1 - ab)) < 0.03
    small = diffusion.q_sample(x0=x0, t=torch.zeros(n, dtype=torch.long), noise=noise)
    assert (small - c).abs().max() < 0.1  # barely noised
    large = diffusion.q_sample(x0=x0, t=torch.full((n,), 999, dtype=torch.long), noise=noise)
    assert abs(large.mean().item()) < 0.02 and abs(large.std().item() - 1) < 0.02  # pure noise


def test_q_sample_checks_shapes() -> None:
    diffusion = GaussianDiffusion(timesteps=10)
    x0 = torch.zeros(4, 3, 2)
    with pytest.raises(ValueError):
        diffusion.q_sample(x0=x0, t=torch.zeros(4, dtype=torch.long), noise=torch.zeros_like(x0))
    with pytest.raises(TypeError):
        diffusion.q_sample(x0=x0, t=torch.zeros(4, 3), noise=torch.zeros_like(x0))


def test_draw_training_inputs_uses_only_the_given_generator() -> None:
    diffusion = GaussianDiffusion(timesteps=100)
    x0 = torch.rand(64, 3, 5) * 2 - 1
    global_state = torch.get_rng_state()
    x_a, t_a, n_a = diffusion.draw_training_inputs(x0=x0, generator=torch.Generator().manual_seed(3))
    x_b, t_b, n_b = diffusion.draw_training_inputs(x0=x0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), global_state)
    assert torch.equal(x_a, x_b) and torch.equal(t_a, t_b) and torch.equal(n_a, n_b)
    assert t_a.shape == (64, 3) and t_a.dtype == torch.long
    assert int(t_a.min()) >= 0 and int(t_a.max()) < 100
    assert torch.allclose(x_a, diffusion.q_sample(x0=x0, t=t_a, noise=n_a))


def test_timesteps_are_uniform() -> None:
    diffusion = GaussianDiffusion(timesteps=10)
    _, t, noise = diffusion.draw_training_inputs(x0=torch.zeros(50_000, 1), generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(t.flatten(), minlength=10).float() / t.numel()
    assert bool(((counts - 0.1).abs() < 0.01).all())
    assert abs(noise.mean().item()) < 0.02 and abs(noise.std().item() - 1) < 0.02


def test_predict_x0_inverts_q_sample() -> None:
    diffusion = GaussianDiffusion(timesteps=1000)
    generator = torch.Generator().manual_seed(2)
    x0 = torch.rand(32, 4, generator=generator) * 2 - 1
    x_t, t, noise = diffusion.draw_training_inputs(x0=x0, generator=generator)
    t = t.clamp(max=900)  # at the very last steps sqrt(ab) ~ 1e-4 amplifies float32 rounding
    x_t = diffusion.q_sample(x0=x0, t=t, noise=noise)
    assert torch.allclose(diffusion.predict_x0(x_t=x_t, t=t, eps=noise), x0, atol=1e-3)


def test_a_scaled_process_noises_and_targets_scale_times_the_data() -> None:
    plain, scaled = GaussianDiffusion(timesteps=1000, prediction="x0"), GaussianDiffusion(timesteps=1000, prediction="x0",
                                                                                          scale=4.0)
    generator = torch.Generator().manual_seed(5)
    x0 = (torch.rand(32, 6, generator=generator) * 2 - 1) * 0.1  # data filling a tenth of [-1, 1]
    noise = torch.randn(32, 6, generator=generator)
    t = torch.randint(0, 900, (32,), generator=generator)
    assert torch.allclose(scaled.q_sample(x0=x0, t=t, noise=noise), plain.q_sample(x0=4 * x0, t=t, noise=noise))
    assert torch.allclose(scaled.training_target(x0=x0, noise=noise), 4 * x0)
    assert torch.allclose(scaled.predict_x0(x_t=scaled.q_sample(x0=x0, t=t, noise=noise), t=t, eps=noise), x0,
                          atol=1e-4)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError):
            GaussianDiffusion(timesteps=10, scale=bad)
