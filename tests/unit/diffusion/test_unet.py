"""The 1-D U-Net: shapes, DP compatibility, rows that never mix, and per-UNIT gradients under Opacus."""

from __future__ import annotations

import pytest
import torch
from opacus import GradSampleModule
from opacus.validators import ModuleValidator

from synthdata.diffusion.denoisers.unet1d import UNet1DDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.privacy.training import TrainingPlan, train_private


def model(seed: int = 0, **kw) -> UNet1DDenoiser:
    torch.manual_seed(seed)
    return UNet1DDenoiser(channels=kw.pop("channels", 2), length=kw.pop("length", 50), base=8, **kw)


def test_shapes_and_odd_lengths() -> None:
    net = model(length=45)
    x, t = torch.randn(3, 4, 90), torch.randint(0, 100, (3, 4))
    assert net(x, t).shape == (3, 4, 90)
    assert net(x[:, 0], t[:, 0]).shape == (3, 90)
    with pytest.raises(ValueError, match="features"):
        net(torch.randn(3, 91), torch.zeros(3, dtype=torch.long))


def test_every_layer_is_dp_compatible() -> None:
    net = model()
    assert ModuleValidator.validate(net, strict=False) == []
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in net.modules())
    assert not list(net.buffers())


def test_rows_of_a_unit_never_mix_and_flat_input_matches() -> None:
    net = model()
    x, t = torch.randn(4, 3, 100), torch.randint(0, 100, (4, 3))
    out = net(x, t)
    changed = x.clone()
    changed[0, 1] += 3.0
    assert torch.allclose(net(changed, t)[0, 0], out[0, 0], atol=1e-6)  # row 0 does not see row 1
    assert not torch.allclose(net(changed, t)[0, 1], out[0, 1])
    assert torch.allclose(net(x[:, 2], t[:, 2]), out[:, 2], atol=1e-5)  # one window alone: same output


def test_opacus_per_sample_gradients_are_per_unit() -> None:
    """Opacus' per-sample gradient of unit b equals the gradient of unit b's own loss (all its rows)."""
    net = model()
    x, t = torch.randn(3, 2, 100), torch.randint(0, 100, (3, 2))
    target = torch.randn(3, 2, 100)
    gsm = GradSampleModule(net, loss_reduction="sum")
    ((gsm(x, t) - target) ** 2).mean(dim=(1, 2)).sum().backward()
    for b in range(3):
        reference = model()
        ((reference(x[b:b + 1], t[b:b + 1]) - target[b:b + 1]) ** 2).mean().backward()
        for (name, p), q in zip(net.named_parameters(), reference.parameters()):
            assert torch.allclose(p.grad_sample[b], q.grad, atol=1e-5, rtol=1e-4), name


def test_trains_with_dp_sgd_on_units_of_several_windows() -> None:
    net = model()
    before = [p.detach().clone() for p in net.parameters()]
    units = (0.3 * torch.randn(40, 2, 100)).clamp(-1, 1)
    mask = torch.ones(40, 2, dtype=torch.bool)
    mask[::4, 1] = False
    out = train_private(model=net, diffusion=GaussianDiffusion(timesteps=50, prediction="x0"), units=units, mask=mask,
                        plan=TrainingPlan(epochs=1, batch_size=10, lr=1e-3, max_grad_norm=1.0, augmentation=2),
                        epsilon=4.0, delta=1e-3, progress=False)
    assert 0 < out.epsilon <= 4.0 * (1 + 1e-6) and out.steps == 4
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
