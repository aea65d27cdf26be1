"""DP-SGD training with Opacus: budget, step count, randomness, input checks, and that the noise is real."""

from __future__ import annotations

import io
import math
import pickle

import pytest
import torch
from opacus.accountants import PRVAccountant, RDPAccountant
from torch.utils.data import DataLoader, TensorDataset

from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.process import DenoisingLoss, GaussianDiffusion, denoising_objective
from synthdata.diffusion.samplers import ddim_sample
from synthdata.errors import BadInputError
from synthdata.privacy.randomness import dp_randomness
from synthdata.privacy.training import (
    TrainingPlan,
    make_private_units,
    poisson_schedule,
    train_non_private,
    train_private,
)

DIFFUSION = GaussianDiffusion(timesteps=100)
PLAN = TrainingPlan(epochs=2, batch_size=32, lr=1e-2, max_grad_norm=1.0, augmentation=2)


def mixture(n: int = 200, rows: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """n units of a 2-D, two-cluster mixture in [-1, 1]; each unit's rows share a cluster; some padding."""
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[-0.5, -0.5], [0.5, 0.5]])
    cluster = centers[torch.randint(0, 2, (n, 1), generator=g)]
    units = (cluster + 0.1 * torch.randn(n, rows, 2, generator=g)).clamp(-1, 1)
    mask = torch.ones(n, rows, dtype=torch.bool)
    mask[::3, 1:] = False
    return units.masked_fill(~mask.unsqueeze(-1), 0.0), mask


def fresh_model(seed: int = 0) -> MLPDenoiser:
    torch.manual_seed(seed)
    return MLPDenoiser(data_dim=2, hidden=32, depth=2, time_dim=16)


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


def test_train_private_spends_the_budget_it_reports(capsys: pytest.CaptureFixture[str]) -> None:
    units, mask = mixture()
    model = fresh_model()
    before = flat(model)
    rng_state = torch.get_rng_state()
    out = train_private(model=model, diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, epsilon=2.0, delta=1e-4)

    assert torch.equal(torch.get_rng_state(), rng_state), "DP training must not touch torch's global RNG"
    assert 0 < out.epsilon <= 2.0 * (1 + 1e-6)
    expected_steps = PLAN.epochs * len(DataLoader(TensorDataset(units, mask), batch_size=PLAN.batch_size))
    assert out.steps == expected_steps == 14
    assert out.sample_rate == pytest.approx(1 / 7)
    assert (out.private, out.dp_valid, out.accountant, out.grad_sample_mode) == (True, True, "prv", "bookkeeping")
    assert "OS entropy" in out.noise_source
    assert out.records_per_second == pytest.approx(200 * PLAN.epochs / out.seconds)
    assert math.isfinite(out.final_loss)
    assert not torch.equal(flat(model), before)

    # Recompute epsilon independently from (noise_multiplier, sample_rate, steps) with the same accountant.
    accountant = PRVAccountant()
    for _ in range(out.steps):
        accountant.step(noise_multiplier=out.noise_multiplier, sample_rate=out.sample_rate)
    assert accountant.get_epsilon(delta=1e-4) == pytest.approx(out.epsilon, rel=1e-9)

    err = capsys.readouterr().err
    assert "DP training" in err and "eps=" in err and "loss" not in err  # the bar never shows the private loss


def test_trained_model_is_a_plain_module_again() -> None:
    units, mask = mixture()
    model = fresh_model()
    train_private(model=model, diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, epsilon=2.0, delta=1e-4,
                  accountant="rdp", progress=False)
    for module in model.modules():
        assert not module._forward_hooks and not module._backward_hooks and not module._forward_pre_hooks
        assert "activations" not in module.__dict__
    for p in model.parameters():
        assert p.grad is None and not p.__dict__, f"Opacus left attributes {list(p.__dict__)}"
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    clone = fresh_model(seed=1)
    clone.load_state_dict(torch.load(buffer))
    assert torch.equal(flat(clone), flat(model))
    pickle.dumps(model)
    samples = ddim_sample(model=model, diffusion=DIFFUSION, shape=(10, 2), steps=5, generator=torch.Generator())
    assert samples.shape == (10, 2) and bool(torch.isfinite(samples).all())


def test_dp_noise_is_fresh_unless_a_seed_is_given() -> None:
    units, mask = mixture()
    kwargs = dict(diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, epsilon=2.0, delta=1e-4,
                  accountant="rdp", progress=False)
    runs = {}
    for name, seed in [("os1", None), ("os2", None), ("seed7a", 7), ("seed7b", 7)]:
        model = fresh_model()  # same initial weights every time
        runs[name] = (train_private(model=model, reproducible_seed=seed, **kwargs), flat(model))
    assert not torch.equal(runs["os1"][1], runs["os2"][1])
    assert torch.equal(runs["seed7a"][1], runs["seed7b"][1])
    assert runs["os1"][0].dp_valid and not runs["seed7a"][0].dp_valid
    assert runs["os1"][0].noise_source != runs["seed7a"][0].noise_source
    assert "NOT differentially private" in runs["seed7a"][0].noise_source


def test_empty_poisson_batches_still_step_and_are_accounted() -> None:
    units, mask = mixture(n=10)
    model = fresh_model()
    model.eval()
    plan = TrainingPlan(epochs=3, batch_size=1, lr=1e-3, max_grad_norm=1.0, augmentation=2)
    out = train_private(model=model, diffusion=DIFFUSION, units=units, mask=mask, plan=plan, epsilon=5.0,
                        delta=1e-3, accountant="rdp", progress=False)
    # P(batch empty) = 0.9 ** 10 ~ 35 %: most runs see several empty batches; each is a full step.
    assert out.steps == 30 and 0 < out.epsilon <= 5.0
    assert bool(torch.isfinite(flat(model)).all())
    assert not model.training  # the caller's mode is restored


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("mode", ["bookkeeping", "ghost", "hooks"])
def test_an_empty_batch_step_adds_exactly_our_noise(mode: str) -> None:
    """What Opacus does with B = 0 (either way of clipping): zero clipped sum, plus noise drawn from OUR generator."""
    units, mask = mixture(n=10)
    model = fresh_model()
    rand = dp_randomness(reproducible_seed=3)
    plan = TrainingPlan(epochs=1, batch_size=1, lr=1e-3, max_grad_norm=0.5, augmentation=2)
    engine, dp_model, optimizer, criterion, _ = make_private_units(
        model=model, units=units, mask=mask, plan=plan, noise_multiplier=2.0, rand=rand, accountant="rdp",
        grad_sample_mode=mode,
    )
    replay = torch.Generator()
    replay.set_state(rand.noise.get_state())
    optimizer.zero_grad()
    loss = denoising_objective(model=dp_model, diffusion=DIFFUSION, criterion=criterion, units=units[:0],
                               mask=mask[:0], augmentation=2, generator=rand.diffusion)
    loss.backward()
    optimizer.step()
    assert optimizer.expected_batch_size == 1
    for p in model.parameters():
        expected = torch.normal(0.0, 2.0 * 0.5, size=p.shape, generator=replay) / optimizer.expected_batch_size
        assert torch.equal(p.grad, expected)
    assert engine.accountant.history == [(2.0, 0.1, 1)]
    dp_model._close()


def test_noise_is_calibrated_for_the_steps_actually_taken() -> None:
    # Opacus' make_private_with_epsilon calibrates for int(epochs / sample_rate) = 224 steps here ...
    assert int(3 / (1 / 75)) == 224
    # ... while its loader yields 75 batches per epoch: we calibrate for all 225.
    assert poisson_schedule(n_units=7500, batch_size=100, epochs=3) == (100, 1 / 75, 75, 225)
    assert poisson_schedule(n_units=50, batch_size=1000, epochs=2) == (50, 1.0, 1, 2)  # batch clamped to N


def test_tiny_epsilon_update_is_noise_while_non_private_update_is_signal() -> None:
    """One full-batch step (q = 1).  Adam's first step moves every weight by about lr * sign(gradient), so
    the update's size says nothing; its direction does.  With a huge noise multiplier the signs of the DP
    update agree with the clean gradient's signs about half the time (pure noise); two non-private runs,
    with different diffusion draws, agree far more; a DP run with a large epsilon sits in between."""
    units, mask = mixture(n=200, rows=1)
    plan = TrainingPlan(epochs=1, batch_size=200, lr=1e-3, max_grad_norm=1.0, augmentation=8)

    def update(train) -> tuple[torch.Tensor, object]:
        model = fresh_model()
        before = flat(model)
        out = train(model)
        return flat(model) - before, out

    def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
        return (torch.sign(a) == torch.sign(b)).float().mean().item()

    common = dict(diffusion=DIFFUSION, units=units, mask=mask, plan=plan, progress=False)
    clean1, out_np = update(lambda m: train_non_private(model=m, seed=1, **common))
    clean2, _ = update(lambda m: train_non_private(model=m, seed=2, **common))
    noisy, out_dp = update(lambda m: train_private(model=m, epsilon=0.2, delta=1e-4, accountant="rdp", **common))
    mild, _ = update(lambda m: train_private(model=m, epsilon=50.0, delta=1e-4, accountant="rdp", **common))

    assert out_dp.steps == 1 and out_dp.sample_rate == 1.0 and out_dp.noise_multiplier > 10
    assert (out_np.private, out_np.epsilon, out_np.dp_valid, out_np.steps) == (False, None, False, 1)
    assert agreement(clean1, clean2) > 0.85
    assert abs(agreement(noisy, clean1) - 0.5) < 0.05
    assert agreement(mild, clean1) > 0.65


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epsilon": 0.0}, "epsilon must be a finite number > 0"),
        ({"epsilon": -1.0}, "epsilon must be a finite number > 0"),
        ({"epsilon": math.inf}, "epsilon must be a finite number > 0"),
        ({"epsilon": math.nan}, "epsilon must be a finite number > 0"),
        ({"epsilon": 0.01, "accountant": "rdp"}, "too small"),
        ({"delta": 0.0}, "delta must be in"),
        ({"delta": 1.0}, "delta must be in"),
        ({"delta": 0.01}, "not below 1/n"),
        ({"accountant": "gdp"}, "accountant must be one of"),
        ({"units": 5}, "at least 10 privacy units"),
        ({"empty_unit": True}, "1 privacy units have no rows"),
        ({"nan": True}, "non-finite"),
        ({"plan": TrainingPlan(epochs=0, batch_size=8, lr=1e-3, max_grad_norm=1.0, augmentation=1)}, "plan.epochs"),
        ({"plan": TrainingPlan(epochs=1, batch_size=8, lr=1e-3, max_grad_norm=0.0, augmentation=1)},
         "plan.max_grad_norm"),
    ],
)
def test_bad_inputs_are_refused_with_a_helpful_message(change: dict, message: str) -> None:
    units, mask = mixture(n=change.pop("units", 200))
    if change.pop("empty_unit", False):
        mask[4] = False
    if change.pop("nan", False):
        units[3, 0, 1] = math.nan
    kwargs = dict(model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, epsilon=1.0,
                  delta=1e-4, accountant="prv", progress=False)
    kwargs.update(change)
    with pytest.raises(BadInputError, match=message):
        train_private(**kwargs)


def test_empty_units_when_asked_count_in_the_sampling_rate_and_give_no_gradient() -> None:
    """``empty_units=True`` (the relational generator: a patient without a row in one table) keeps them as units:
    the schedule is that of all N units, and an empty unit's loss and gradient are zero."""
    units, mask = mixture(n=200)
    mask[::4] = False  # 50 units without a row
    units = units.masked_fill(~mask.unsqueeze(-1), 0.0)
    out = train_private(model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, epsilon=2.0,
                        delta=1e-4, progress=False, empty_units=True)
    _, rate, _, steps = poisson_schedule(n_units=200, batch_size=PLAN.batch_size, epochs=PLAN.epochs)
    assert (out.sample_rate, out.steps) == (rate, steps) and 0 < out.epsilon <= 2.0 * (1 + 1e-6)
    model = fresh_model()
    loss = denoising_objective(model=model, diffusion=DIFFUSION, criterion=DenoisingLoss(reduction="none"),
                               units=units[:2], mask=mask[:2], augmentation=2,
                               generator=torch.Generator().manual_seed(0))
    assert float(loss[0]) == 0.0 and float(loss[1]) > 0  # unit 0 is empty, unit 1 is not
    grads = torch.autograd.grad(loss[0], list(model.parameters()), allow_unused=True)
    assert all(g is None or not g.any() for g in grads)


def test_rdp_epsilon_matches_independent_accountant() -> None:
    units, mask = mixture()
    out = train_private(model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, epsilon=1.0,
                        delta=1e-4, accountant="rdp", progress=False)
    accountant = RDPAccountant()
    accountant.history = [(out.noise_multiplier, out.sample_rate, out.steps)]
    assert accountant.get_epsilon(delta=1e-4) == pytest.approx(out.epsilon, rel=1e-12)
    assert 0.99 <= out.epsilon <= 1.0  # calibrated tightly, not far below the target


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("mode", ["bookkeeping", "ghost", "hooks"])
def test_each_unit_contributes_one_clipped_gradient(mode: str) -> None:
    """Without noise, Opacus' gradient must equal sum_i min(1, C / |g_i|) g_i / expected_batch, where g_i is
    the gradient of unit i's loss averaged over all its real rows and augmentation draws."""
    units, mask = mixture(n=10, rows=3)
    model = fresh_model()
    reference = fresh_model()  # same initial weights, never wrapped by Opacus
    rand = dp_randomness(reproducible_seed=5)
    plan = TrainingPlan(epochs=1, batch_size=2, lr=1e-3, max_grad_norm=0.05, augmentation=3)
    _, dp_model, optimizer, criterion, _ = make_private_units(
        model=model, units=units, mask=mask, plan=plan, noise_multiplier=0.0, rand=rand, accountant="rdp",
        grad_sample_mode=mode,
    )
    replay = torch.Generator()
    replay.set_state(rand.diffusion.get_state())
    batch_units, batch_mask = units[:6], mask[:6]
    optimizer.zero_grad()
    denoising_objective(model=dp_model, diffusion=DIFFUSION, criterion=criterion, units=batch_units,
                        mask=batch_mask, augmentation=3, generator=rand.diffusion).backward()
    optimizer.step()
    dp_model._close()

    losses = denoising_objective(model=reference, diffusion=DIFFUSION, criterion=DenoisingLoss(reduction="none"),
                                 units=batch_units, mask=batch_mask, augmentation=3, generator=replay)
    params = list(reference.parameters())
    expected = [torch.zeros_like(p) for p in params]
    clipped = 0
    for i in range(6):
        grads = torch.autograd.grad(losses[i], params, retain_graph=True)
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        coef = min(1.0, 0.05 / (float(norm) + 1e-6))
        clipped += coef < 1
        for acc, g in zip(expected, grads):
            acc += coef * g
    assert clipped >= 3  # the bound was active, so the test is about clipping
    assert optimizer.expected_batch_size == 2
    for p, acc in zip(model.parameters(), expected):
        assert torch.allclose(p.grad, acc / 2, rtol=1e-4, atol=1e-7)


def test_bookkeeping_back_propagates_no_weight_gradient_it_then_recomputes() -> None:
    """Book-keeping writes each layer's clipped gradient sum itself, so its backward pass must stop at the layer
    outputs: autograd computing the unclipped weight gradients too cost a third of a DP step of the table MLP
    (0.43 s against 0.38 s on 1,024 demo-slice units, one thread).  A hook on every parameter counts the
    gradients autograd computed for it; the clipped gradient itself is checked in the test above."""
    units, mask = mixture(n=10, rows=3)
    model = fresh_model()
    rand = dp_randomness(reproducible_seed=5)
    plan = TrainingPlan(epochs=1, batch_size=2, lr=1e-3, max_grad_norm=0.05, augmentation=3)
    _, dp_model, optimizer, criterion, _ = make_private_units(
        model=model, units=units, mask=mask, plan=plan, noise_multiplier=0.0, rand=rand, accountant="rdp",
        grad_sample_mode="bookkeeping",
    )
    computed = []
    handles = [p.register_hook(lambda g: computed.append(g.shape)) for p in model.parameters()]
    optimizer.zero_grad()
    denoising_objective(model=dp_model, diffusion=DIFFUSION, criterion=criterion, units=units[:6],
                        mask=mask[:6], augmentation=3, generator=rand.diffusion).backward()
    for handle in handles:
        handle.remove()
    dp_model._close()
    assert computed == []
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.parameters())


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("mode", ["bookkeeping", "ghost", "hooks"])
def test_a_batch_in_several_passes_is_one_step_with_one_noise_draw(mode: str, monkeypatch) -> None:
    """A Poisson batch larger than PASS_ROWS runs in passes: each unit is clipped once, the clipped sums add
    up, the noise is drawn once (from our generator) and the accountant counts one step."""
    from synthdata.privacy import training

    monkeypatch.setattr(training, "PASS_ROWS", 2 * 3 * 3)  # 2 units of 3 rows, 3 draws each: 3 passes of 6 units
    units, mask = mixture(n=10, rows=3)
    model, reference = fresh_model(), fresh_model()
    rand = dp_randomness(reproducible_seed=5)
    plan = TrainingPlan(epochs=1, batch_size=2, lr=1e-3, max_grad_norm=0.05, augmentation=3)
    engine, dp_model, optimizer, criterion, _ = make_private_units(
        model=model, units=units, mask=mask, plan=plan, noise_multiplier=2.0, rand=rand, accountant="rdp",
        grad_sample_mode=mode,
    )
    draws, noise = torch.Generator(), torch.Generator()
    draws.set_state(rand.diffusion.get_state())
    noise.set_state(rand.noise.get_state())
    training._step(model=dp_model, diffusion=DIFFUSION, optimizer=optimizer, criterion=criterion, units=units[:6],
                   mask=mask[:6], augmentation=3, generator=rand.diffusion)
    dp_model._close()

    params = list(reference.parameters())
    expected = [torch.zeros_like(p) for p in params]
    for start in (0, 2, 4):  # the same passes, the same draws
        losses = denoising_objective(model=reference, diffusion=DIFFUSION,
                                     criterion=DenoisingLoss(reduction="none"), units=units[start:start + 2],
                                     mask=mask[start:start + 2], augmentation=3, generator=draws)
        for i in range(2):
            grads = torch.autograd.grad(losses[i], params, retain_graph=True)
            norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
            for acc, g in zip(expected, grads):
                acc += min(1.0, 0.05 / (float(norm) + 1e-6)) * g
    for p, acc in zip(model.parameters(), expected):
        drawn = torch.normal(0.0, 2.0 * 0.05, size=p.shape, generator=noise)
        assert torch.allclose(p.grad, (acc + drawn) / 2, rtol=1e-4, atol=1e-6)
    assert engine.accountant.history == [(2.0, 0.2, 1)]
