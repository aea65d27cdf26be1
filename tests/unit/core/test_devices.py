"""``model.device``: auto resolves to the GPU only where torch sees one; cuda without one is refused (exit 2);
a model trained on the resolved device samples."""

from __future__ import annotations

import pydantic
import pytest
import torch

from synthdata.config import ModelSpec
from synthdata.devices import resolve_device
from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.diffusion.samplers import ddim_sample
from synthdata.errors import BadInputError
from synthdata.privacy.training import TrainingPlan, train_private

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


def test_the_spec_field() -> None:
    assert ModelSpec().device == "auto" and ModelSpec(device="cpu").device == "cpu"
    with pytest.raises(pydantic.ValidationError):
        ModelSpec(device="tpu")


@NO_GPU
def test_auto_is_the_cpu_here_and_cuda_is_refused() -> None:
    assert resolve_device(requested="auto") == torch.device("cpu")
    assert resolve_device(requested="cpu") == torch.device("cpu")
    with pytest.raises(BadInputError, match="model.device is cuda") as refused:
        resolve_device(requested="cuda")
    assert refused.value.exit_code == 2 and "Nothing was charged" in refused.value.message


def test_auto_is_cuda_where_torch_sees_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(requested="auto") == torch.device("cuda")
    assert resolve_device(requested="cuda") == torch.device("cuda")
    with pytest.raises(BadInputError):
        resolve_device(requested="gpu")


def test_a_model_trained_on_the_resolved_device_samples() -> None:
    device = resolve_device(requested="auto")
    g = torch.Generator().manual_seed(0)
    units = (0.3 * torch.randn(100, 1, 2, generator=g)).clamp(-1, 1)
    torch.manual_seed(0)
    model = MLPDenoiser(data_dim=2, hidden=16, depth=1, time_dim=8)
    diffusion = GaussianDiffusion(timesteps=50)
    out = train_private(model=model, diffusion=diffusion, units=units, mask=torch.ones(100, 1, dtype=torch.bool),
                        plan=TrainingPlan(epochs=1, batch_size=25, lr=1e-2, max_grad_norm=1.0, augmentation=1),
                        epsilon=3.0, delta=1e-3, accountant="rdp", progress=False, device=device)
    assert out.dp_valid and all(p.device.type == device.type for p in model.parameters())
    sample = ddim_sample(model=model, diffusion=diffusion, shape=(64, 2), steps=5,
                         generator=torch.Generator().manual_seed(1))
    assert sample.shape == (64, 2) and sample.device.type == device.type and bool(torch.isfinite(sample).all())
