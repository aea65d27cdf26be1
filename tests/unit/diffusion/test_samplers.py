"""DDIM and DDPM samplers, checked against an exact (oracle) denoiser."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch
from torch import nn

from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.diffusion.samplers import (
    SAMPLERS,
    ddim_sample,
    ddim_timesteps,
    ddpm_sample,
)

POINT = torch.tensor([0.3, -0.5, 0.9])


class PointMassOracle(nn.Module):
    """The exact noise predictor for data that is always ``c``: eps = (x_t - sqrt(ab_t) c) / sqrt(1 - ab_t)."""

    def __init__(self, diffusion: GaussianDiffusion, c: torch.Tensor) -> None:
        super().__init__()
        self.ab = diffusion.alphas_cumprod
        self.c = c
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert not self.training, "samplers must put the model in eval mode"
        assert x.dim() == 2 and t.shape == x.shape[:1] and t.dtype == torch.long
        self.calls += 1
        ab = self.ab[t].unsqueeze(-1)
        return (x - ab.sqrt() * self.c) / (1 - ab).sqrt()


class CountingProgress:
    """A progress sink that keeps the total and the highest ``done`` it heard."""

    def __init__(self) -> None:
        self.total, self.done, self.calls = 0, 0, 0

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        self.total = total

    def advance(self, *, done: int, epsilon: Callable[[], float] | None = None) -> None:
        self.done, self.calls = max(self.done, done), self.calls + 1

    def finish(self) -> None:
        pass


def test_registry() -> None:
    assert SAMPLERS == {"ddim": ddim_sample, "ddpm": ddpm_sample}


def test_ddim_timesteps_trailing_spacing() -> None:
    ts = ddim_timesteps(timesteps=1000, steps=20)
    assert len(ts) == 20 and ts[0] == 999 and ts[-1] == 0
    assert all(a > b for a, b in zip(ts, ts[1:]))
    with pytest.raises(ValueError):
        ddim_timesteps(timesteps=10, steps=11)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_recovers_point_mass(eta: float) -> None:
    diffusion = GaussianDiffusion(timesteps=1000)
    oracle = PointMassOracle(diffusion, POINT)
    out = ddim_sample(model=oracle, diffusion=diffusion, shape=(64, 3), steps=20, eta=eta,
                      generator=torch.Generator().manual_seed(0))
    assert out.shape == (64, 3) and out.dtype == torch.float32
    assert torch.allclose(out, POINT.expand(64, 3), atol=1e-4)
    assert oracle.calls == 20


def test_ddpm_recovers_point_mass_without_clipping() -> None:
    diffusion = GaussianDiffusion(timesteps=200)
    oracle = PointMassOracle(diffusion, POINT)
    out = ddpm_sample(model=oracle, diffusion=diffusion, shape=(64, 3), generator=torch.Generator().manual_seed(0),
                      clip=None, batch_size=32)
    assert torch.allclose(out, POINT.expand(64, 3), atol=1e-3)
    assert oracle.calls == 2 * 200  # two chunks of 32, T steps each


def test_clip_bounds_the_output() -> None:
    diffusion = GaussianDiffusion(timesteps=100)
    oracle = PointMassOracle(diffusion, torch.tensor([3.0, -3.0, 0.0]))  # a point outside [-1, 1]
    for sampler in SAMPLERS.values():
        out = sampler(model=oracle, diffusion=diffusion, shape=(16, 3), generator=torch.Generator().manual_seed(1),
                      clip=1.0)
        assert float(out.abs().max()) <= 1.0 + 1e-5


@pytest.mark.parametrize("prediction", ["eps", "x0"])
def test_a_scaled_process_samples_records_in_data_space_clipped_at_the_data_range(prediction: str) -> None:
    """With ``scale`` 4 the process runs on 4 x the data; an exact denoiser of data that is always POINT (0.9 among
    them: 3.6 in the process, above 1) gives back POINT, neither 4 x POINT nor clipped at 1."""
    diffusion = GaussianDiffusion(timesteps=200, prediction=prediction, scale=4.0)
    oracle = PointMassOracle(diffusion, 4 * POINT)
    if prediction == "x0":
        oracle.forward = lambda x, t: (4 * POINT).expand_as(x)
    for sampler in SAMPLERS.values():
        out = sampler(model=oracle, diffusion=diffusion, shape=(16, 3), generator=torch.Generator().manual_seed(2))
        assert torch.allclose(out, POINT.expand(16, 3), atol=1e-3)


def test_ddim_chunking_matches_one_batch_and_restores_mode() -> None:
    torch.manual_seed(0)
    model = MLPDenoiser(data_dim=3, hidden=16, depth=2, time_dim=8)
    model.train()
    diffusion = GaussianDiffusion(timesteps=100)
    kwargs = dict(model=model, diffusion=diffusion, shape=(50, 3), steps=10, eta=0.0)
    whole = ddim_sample(**kwargs, generator=torch.Generator().manual_seed(5), batch_size=4096)
    chunked = ddim_sample(**kwargs, generator=torch.Generator().manual_seed(5), batch_size=7)
    assert torch.allclose(whole, chunked, atol=1e-5)
    assert model.training  # mode restored
    model.eval()
    ddpm_sample(model=model, diffusion=diffusion, shape=(5, 3), generator=torch.Generator().manual_seed(5))
    assert not model.training


def test_sampling_is_replayable_from_generator_and_leaves_global_rng_alone() -> None:
    diffusion = GaussianDiffusion(timesteps=50)
    oracle = PointMassOracle(diffusion, POINT)
    state = torch.get_rng_state()
    a = ddpm_sample(model=oracle, diffusion=diffusion, shape=(4, 3), generator=torch.Generator().manual_seed(9))
    b = ddpm_sample(model=oracle, diffusion=diffusion, shape=(4, 3), generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)


def test_empty_and_bad_shapes() -> None:
    diffusion = GaussianDiffusion(timesteps=10)
    oracle = PointMassOracle(diffusion, POINT)
    assert ddim_sample(model=oracle, diffusion=diffusion, shape=(0, 3), steps=5,
                       generator=torch.Generator()).shape == (0, 3)
    with pytest.raises(ValueError):
        ddim_sample(model=oracle, diffusion=diffusion, shape=(4,), generator=torch.Generator())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ddim_sample(model=oracle, diffusion=diffusion, shape=(4, 3), steps=5, generator=torch.Generator(),
                    batch_size=0)


def test_precision_auto_is_bfloat16_only_for_denoisers_that_sample_well_in_it_on_native_hardware() -> None:
    from synthdata.diffusion.denoisers import UNetDenoiser
    from synthdata.diffusion.samplers import precision_for

    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    unet = UNetDenoiser(channels=1, shape=(8, 8), base=4)
    assert precision_for(model=unet, requested="auto") == ("bfloat16" if native else "float32")
    assert precision_for(model=MLPDenoiser(data_dim=3, hidden=8, depth=1, time_dim=8), requested="auto") == "float32"
    assert precision_for(model=unet, requested="float32") == "float32"
    with pytest.raises(ValueError, match="precision"):
        ddim_sample(model=unet, diffusion=GaussianDiffusion(timesteps=50), shape=(2, 64), steps=2,
                    generator=torch.Generator(), precision="float16")


class _Recorder(nn.Module):
    """The point-mass oracle, noting the dtype its input arrives in and the autocast state around it."""

    def __init__(self, oracle: PointMassOracle) -> None:
        super().__init__()
        self.oracle, self.autocast = oracle, []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.autocast.append(torch.is_autocast_enabled("cpu"))
        return self.oracle(x, t).to(torch.bfloat16) if self.autocast[-1] else self.oracle(x, t)


def test_bfloat16_runs_only_the_network_in_autocast_and_returns_float32() -> None:
    diffusion = GaussianDiffusion(timesteps=100)
    model = _Recorder(PointMassOracle(diffusion, POINT))
    kwargs = dict(model=model, diffusion=diffusion, shape=(64, 3), steps=10, generator=torch.Generator().manual_seed(0))
    low = ddim_sample(**kwargs, precision="bfloat16")
    assert low.dtype == torch.float32 and all(model.autocast)
    model.autocast.clear()
    kwargs["generator"] = torch.Generator().manual_seed(0)
    full = ddim_sample(**kwargs, precision="float32")
    assert not any(model.autocast)
    # bfloat16 keeps ~3 significant digits of the network's output; the float32 updates keep the result close
    assert torch.allclose(low, full, atol=0.05) and torch.allclose(full, POINT.expand(64, 3), atol=1e-3)


class _ThreadNoter(nn.Module):
    """An MLP denoiser that notes, per forward call, its Python thread, torch's thread count and grad mode."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inner = MLPDenoiser(data_dim=3, hidden=16, depth=2, time_dim=8)
        self.seen: list[tuple[str, int, bool]] = []
        self.fail_after = fail_after

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen.append((threading.current_thread().name, torch.get_num_threads(), torch.is_grad_enabled()))
        if self.fail_after is not None and len(self.seen) > self.fail_after:
            raise RuntimeError("a batch failed")
        return self.inner(x, t)


def test_ddim_batches_run_in_parallel_threads_with_the_same_records() -> None:
    diffusion = GaussianDiffusion(timesteps=100)
    kwargs = {"diffusion": diffusion, "shape": (50, 3), "steps": 4, "eta": 0.0, "batch_size": 7}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _ThreadNoter()
        sequential = ddim_sample(model=one, generator=torch.Generator().manual_seed(5), **kwargs)
        torch.set_num_threads(2)
        two = _ThreadNoter()
        progress = CountingProgress()
        parallel = ddim_sample(model=two, generator=torch.Generator().manual_seed(5), progress=progress, **kwargs)
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)
    assert {name for name, _, _ in one.seen} == {threading.current_thread().name}
    workers = {name for name, _, _ in two.seen}
    assert len(workers) == 2 and threading.current_thread().name not in workers
    assert {threads for _, threads, _ in two.seen} == {1}  # one torch thread per batch meanwhile
    assert not any(grad for _, _, grad in two.seen)  # no autograd in the pool's threads
    assert progress.done == progress.calls == progress.total == 8 * 4  # every step of every batch, once
    assert torch.allclose(sequential, parallel, atol=1e-5)


def test_ddim_parallel_batches_reraise_and_restore_threads() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with pytest.raises(RuntimeError, match="a batch failed"):
            ddim_sample(model=_ThreadNoter(fail_after=5), diffusion=GaussianDiffusion(timesteps=100), shape=(50, 3),
                        steps=4, batch_size=7, generator=torch.Generator().manual_seed(5))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_noisy_samplers_keep_one_batch_at_a_time() -> None:
    """DDPM and DDIM with eta > 0 draw noise at every step: batches in order keep a seed's noise in order."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for sampler, extra in ((ddim_sample, {"steps": 4, "eta": 1.0}), (ddpm_sample, {})):
            model = _ThreadNoter()
            sampler(model=model, diffusion=GaussianDiffusion(timesteps=20), shape=(20, 3), batch_size=7,
                    generator=torch.Generator().manual_seed(5), **extra)
            assert {name for name, _, _ in model.seen} == {threading.current_thread().name}
    finally:
        torch.set_num_threads(before)
