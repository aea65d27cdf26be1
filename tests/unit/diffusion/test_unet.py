"""The U-Net (1-D windows and 2-D images): shapes, DP compatibility, rows that never mix, the class condition,
and per-UNIT gradients under Opacus."""

from __future__ import annotations

import math

import pytest
import torch
from opacus import GradSampleModule
from opacus.validators import ModuleValidator

from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.denoisers.unet import UNetDenoiser
from synthdata.diffusion.process import (
    DenoisingLoss,
    GaussianDiffusion,
    denoising_objective,
)
from synthdata.privacy.randomness import dp_randomness
from synthdata.privacy.training import (
    TrainingPlan,
    grad_sample_mode_for,
    make_private_units,
    train_private,
)

SHAPES = {"1d": (50,), "2d": (10, 12)}


def model(shape: tuple[int, ...], seed: int = 0, **kw) -> UNetDenoiser:
    torch.manual_seed(seed)
    return UNetDenoiser(channels=kw.pop("channels", 2), shape=shape, base=8, **kw)


def width(net: UNetDenoiser) -> int:
    return net.data_dim + net.classes


@pytest.mark.parametrize("shape", [(45,), (9, 13)], ids=["1d", "2d"])
def test_shapes_and_odd_sizes(shape) -> None:
    net = model(shape)
    d = 2 * math.prod(shape)
    x, t = torch.randn(3, 4, d), torch.randint(0, 100, (3, 4))
    assert net(x, t).shape == (3, 4, d)
    assert net(x[:, 0], t[:, 0]).shape == (3, d)
    with pytest.raises(ValueError, match="features"):
        net(torch.randn(3, d + 1), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
def test_every_layer_is_dp_compatible(shape) -> None:
    net = model(shape, classes=3)
    assert ModuleValidator.validate(net, strict=False) == []
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d))
                   for m in net.modules())
    assert not list(net.buffers())


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
def test_rows_of_a_unit_never_mix_and_flat_input_matches(shape) -> None:
    net = model(shape)
    x, t = torch.randn(4, 3, width(net)), torch.randint(0, 100, (4, 3))
    out = net(x, t)
    changed = x.clone()
    changed[0, 1] += 3.0
    assert torch.allclose(net(changed, t)[0, 0], out[0, 0], atol=1e-6)  # row 0 does not see row 1
    assert not torch.allclose(net(changed, t)[0, 1], out[0, 1])
    assert torch.allclose(net(x[:, 2], t[:, 2]), out[:, 2], atol=1e-5)  # one row alone: same output


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
def test_class_condition_changes_the_output_and_zero_means_unconditional(shape) -> None:
    net = model(shape, classes=3)
    with torch.no_grad():
        for p in net.class_embed.parameters():
            p.normal_()  # a trained embedding; a fresh one is small
    data, t = torch.randn(5, net.data_dim), torch.randint(0, 100, (5,))
    one_hot = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1]), 3).float()
    conditional = net(torch.cat([data, one_hot], dim=1), t)
    other = net(torch.cat([data, one_hot.roll(1, dims=1)], dim=1), t)
    assert conditional.shape == (5, net.data_dim)
    assert not torch.allclose(conditional, other)
    plain = model(shape, classes=0)
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("class_embed")})
    assert torch.allclose(net(torch.cat([data, torch.zeros(5, 3)], dim=1), t), plain(data, t), atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
def test_opacus_per_sample_gradients_are_per_unit(shape) -> None:
    """Opacus' per-sample gradient of unit b equals the gradient of unit b's own loss (all its rows)."""
    net = model(shape, classes=2)
    x, t = torch.randn(3, 2, width(net)), torch.randint(0, 100, (3, 2))
    target = torch.randn(3, 2, net.data_dim)
    gsm = GradSampleModule(net, loss_reduction="sum")
    ((gsm(x, t) - target) ** 2).mean(dim=(1, 2)).sum().backward()
    for b in range(3):
        reference = model(shape, classes=2)
        ((reference(x[b:b + 1], t[b:b + 1]) - target[b:b + 1]) ** 2).mean().backward()
        for (name, p), q in zip(net.named_parameters(), reference.parameters()):
            assert torch.allclose(p.grad_sample[b], q.grad, atol=1e-5, rtol=1e-4), name


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
def test_trains_with_dp_sgd_on_units_of_several_rows_with_a_condition(shape) -> None:
    net = model(shape, classes=2)
    before = [p.detach().clone() for p in net.parameters()]
    data = (0.3 * torch.randn(40, 2, net.data_dim)).clamp(-1, 1)
    labels = torch.nn.functional.one_hot(torch.randint(0, 2, (40, 2)), 2).float()
    mask = torch.ones(40, 2, dtype=torch.bool)
    mask[::4, 1] = False
    diffusion = GaussianDiffusion(timesteps=50, prediction="x0", condition_dim=2)
    out = train_private(model=net, diffusion=diffusion, units=torch.cat([data, labels], dim=-1), mask=mask,
                        plan=TrainingPlan(epochs=1, batch_size=10, lr=1e-3, max_grad_norm=1.0, augmentation=2),
                        epsilon=4.0, delta=1e-3, progress=False)
    assert 0 < out.epsilon <= 4.0 * (1 + 1e-6) and out.steps == 4
    assert out.grad_sample_mode == "hooks"  # convolutions: per-sample gradients, not ghost clipping
    changed = {name for (name, p), q in zip(net.named_parameters(), before) if not torch.equal(p, q)}
    assert "class_embed.weight" in changed and "input.weight" in changed


def test_ghost_clipping_only_for_models_of_linear_layers() -> None:
    assert grad_sample_mode_for(MLPDenoiser(data_dim=4, hidden=8, depth=1, time_dim=8)) == "bookkeeping"
    assert grad_sample_mode_for(model((50,))) == "hooks"


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
def test_the_trainers_wrapping_clips_each_units_gradient_over_all_its_rows(shape) -> None:
    """Without noise, the trainer's U-Net step (hooks, mean loss) adds sum_i min(1, C / |g_i|) g_i / batch, where
    g_i is the gradient of unit i's loss over ALL its rows: a subject's windows share one clipped gradient."""
    net, reference = model(shape, classes=2), model(shape, classes=2)
    data = (0.3 * torch.randn(6, 3, net.data_dim)).clamp(-1, 1)
    units = torch.cat([data, torch.nn.functional.one_hot(torch.randint(0, 2, (6, 3)), 2).float()], dim=-1)
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[::2, 2] = False
    diffusion = GaussianDiffusion(timesteps=50, prediction="x0", condition_dim=2)
    rand = dp_randomness(reproducible_seed=5)
    plan = TrainingPlan(epochs=1, batch_size=3, lr=1e-3, max_grad_norm=0.05, augmentation=2)
    _, dp_model, optimizer, criterion, _ = make_private_units(
        model=net, units=units, mask=mask, plan=plan, noise_multiplier=0.0, rand=rand, accountant="rdp")
    replay = torch.Generator()
    replay.set_state(rand.diffusion.get_state())
    optimizer.zero_grad()
    denoising_objective(model=dp_model, diffusion=diffusion, criterion=criterion, units=units, mask=mask,
                        augmentation=2, generator=rand.diffusion).backward()
    optimizer.step()
    dp_model._close()

    losses = denoising_objective(model=reference, diffusion=diffusion, criterion=DenoisingLoss(reduction="none"),
                                 units=units, mask=mask, augmentation=2, generator=replay)
    params = list(reference.parameters())
    expected, clipped = [torch.zeros_like(q) for q in params], 0
    for i in range(6):
        grads = torch.autograd.grad(losses[i], params, retain_graph=True)
        coef = min(1.0, 0.05 / (float(torch.sqrt(sum(g.pow(2).sum() for g in grads))) + 1e-6))
        clipped += coef < 1
        for acc, g in zip(expected, grads):
            acc += coef * g
    assert clipped >= 3  # the bound was active
    for (name, p), acc in zip(net.named_parameters(), expected):
        assert torch.allclose(p.grad, acc / optimizer.expected_batch_size, rtol=1e-4, atol=1e-7), name


@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 4, 5, 6)], ids=["1d", "2d"])
def test_fast_upsampling_equals_nearest_interpolation(shape) -> None:
    from synthdata.diffusion.denoisers.unet import _upsample

    x = torch.randn(*shape, requires_grad=True)
    for size in (tuple(2 * s for s in shape[2:]), tuple(2 * s + 1 for s in shape[2:])):
        expected = torch.nn.functional.interpolate(x, size=size, mode="nearest")
        assert torch.equal(_upsample(x, size), expected)
    grad, = torch.autograd.grad(_upsample(x, tuple(2 * s for s in shape[2:])).sum(), x)
    assert torch.equal(grad, torch.full_like(x, 2.0 ** (len(shape) - 2)))  # each value used 2^dims times


@pytest.mark.parametrize("shape", [(2, 3, 5, 12), (2, 3, 5, 8, 6)], ids=["1d", "2d"])
def test_the_space_to_depth_stem_is_an_exact_permutation(shape) -> None:
    from synthdata.diffusion.denoisers.unet import patchify, unpatchify

    x = torch.randn(*shape)
    blocks = patchify(x, 2)
    assert blocks.shape == (*shape[:2], shape[2] * 2 ** (len(shape) - 3), *(n // 2 for n in shape[3:]))
    assert torch.equal(unpatchify(blocks, 2), x)
    assert torch.equal(torch.sort(blocks.flatten()).values, torch.sort(x.flatten()).values)
    if len(shape) == 5:  # 2-D: pixel-unshuffle's channel order
        assert torch.equal(blocks[0, 0], torch.nn.functional.pixel_unshuffle(x[0, 0], 2))
    else:  # 1-D: channel c * 2 + j holds positions 2i + j of channel c
        assert torch.equal(blocks[0, 0, 1 * 2 + 1], x[0, 0, 1, 1::2])


PATCHED = {"1d": (45,), "2d": (64, 64)}


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("shape", PATCHED.values(), ids=PATCHED)
def test_a_patched_model_keeps_rows_apart_and_its_per_unit_gradients_exact(shape) -> None:
    """With a 2-wide stem (64 x 64 images run at 32 x 32): odd sizes are padded and cropped, rows of a unit
    never mix, and the grouped-convolution per-unit gradients equal each unit's own gradient."""
    net = model(shape, classes=2, channels=1, patch=2)
    assert net.input.in_channels == (1 + len(shape)) * 2 ** len(shape)
    x, t = torch.randn(3, 2, width(net)), torch.randint(0, 100, (3, 2))
    out = net(x, t)
    changed = x.clone()
    changed[0, 1, 0] += 3.0  # the first pixel of row 1
    assert torch.allclose(net(changed, t)[0, 0], out[0, 0], atol=1e-6)
    target = torch.randn(3, 2, net.data_dim)
    gsm = GradSampleModule(net, loss_reduction="sum")
    ((gsm(x, t) - target) ** 2).mean(dim=(1, 2)).sum().backward()
    for b in range(3):
        reference = model(shape, classes=2, channels=1, patch=2)
        ((reference(x[b:b + 1], t[b:b + 1]) - target[b:b + 1]) ** 2).mean().backward()
        for (name, p), q in zip(net.named_parameters(), reference.parameters()):
            assert torch.allclose(p.grad_sample[b], q.grad, atol=1e-5, rtol=1e-4), name
    with pytest.raises(ValueError, match="patch"):
        model((3, 40), patch=2)


@pytest.mark.parametrize(("size", "stride", "kernel"), [((16, 16), 1, 3), ((9, 9), 2, 3), ((5, 7), 2, 3),
                                                        ((6, 6), 1, 1)])
def test_both_per_unit_gradient_recipes_of_a_2d_convolution_agree(size, stride, kernel, monkeypatch) -> None:
    """Small images take one matrix product per kernel offset, larger ones the grouped convolution: the same sums."""
    from synthdata.diffusion.denoisers import row_conv

    torch.manual_seed(3)
    layer = row_conv.RowConv(dims=2, channels_in=5, channels_out=6, stride=stride, kernel=kernel).double()
    x = torch.randn(4, 3, 5, *size, dtype=torch.float64)
    grads = torch.randn_like(layer(x))
    products = row_conv.row_conv_grad_sample(layer, [x], grads)
    monkeypatch.setattr(row_conv, "OFFSET_PRODUCTS_UP_TO", 0)
    grouped = row_conv.row_conv_grad_sample(layer, [x], grads)
    for p in (layer.weight, layer.bias):
        assert products[p].shape == (4, *p.shape)
        assert torch.allclose(products[p], grouped[p], atol=1e-10)
