"""One-run canary audit (Steinke, Nasr & Jagielski 2023): the bound, the canaries, and that it tells a
broken trainer from a DP one on tiny data."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import scipy.stats
import torch

from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.errors import BadInputError
from synthdata.privacy.canary import (
    epsilon_lower_bound,
    guess_and_count,
    inclusion_bits,
    make_canaries,
    max_certifiable_epsilon,
    p_value_dp_audit,
    run_canary_audit,
)
from synthdata.privacy.training import TrainingOutcome, TrainingPlan

WIDTH = 32  # wide enough that random corners are far apart (about 16 coordinates differ)
DIFFUSION = GaussianDiffusion(timesteps=100)
# Many small non-private steps memorise every included canary; the same plan under DP-SGD at epsilon 1.
PLAN = TrainingPlan(epochs=300, batch_size=64, lr=3e-3, max_grad_norm=1.0, augmentation=4)
# delta small against 1/(2m): the paper's delta term is alpha * delta * 2m, which must stay well below
# 1 - confidence or it swamps imperfect evidence.
DELTA = 1e-8
# Under (epsilon, delta)-DP the theorem says the bound exceeds epsilon with probability at most
# 1 - CONFIDENCE: the DP test below then fails falsely in at most 1 run in 1,000.
CONFIDENCE = 0.999


def clusters(n: int = 200, rows: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """n units near two cluster centres (+-0.5 in every coordinate) of [-1, 1]^WIDTH; some padding."""
    g = torch.Generator().manual_seed(0)
    centers = torch.stack([torch.full((WIDTH,), -0.5), torch.full((WIDTH,), 0.5)])
    cluster = centers[torch.randint(0, 2, (n, 1), generator=g)]
    units = (cluster + 0.1 * torch.randn(n, rows, WIDTH, generator=g)).clamp(-1, 1)
    mask = torch.ones(n, rows, dtype=torch.bool)
    mask[::3, 1:] = False
    return units.masked_fill(~mask.unsqueeze(-1), 0.0), mask


def build_model() -> MLPDenoiser:
    torch.manual_seed(0)
    return MLPDenoiser(data_dim=WIDTH, hidden=128, depth=2, time_dim=16)


def appendix_p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """The paper's Appendix D code, verbatim apart from names."""
    q = 1 / (1 + math.exp(-eps))
    beta = scipy.stats.binom.sf(v - 1, r, q)
    alpha, s = 0.0, 0.0
    for i in range(1, v + 1):
        s = s + scipy.stats.binom.pmf(v - i, r, q)
        if s > i * alpha:
            alpha = s / i
    return min(beta + alpha * delta * 2 * m, 1)


@pytest.mark.parametrize("m,r,v,eps,delta", [(1000, 1000, 1000, 5.8, 0.0), (1000, 100, 90, 1.5, 1e-5),
                                              (500, 400, 300, 0.7, 1e-6), (200, 20, 3, 0.1, 0.0)])
def test_p_value_matches_the_papers_code(m: int, r: int, v: int, eps: float, delta: float) -> None:
    ours = p_value_dp_audit(canaries=m, guesses=r, correct=v, epsilon=eps, delta=delta)
    assert ours == pytest.approx(appendix_p_value(m, r, v, eps, delta), rel=1e-9, abs=1e-15)


def test_epsilon_lower_bound_known_values_and_shape() -> None:
    # The paper's headline figure: 1,000 canaries all guessed right, delta 0, 95 %: about 6 (5.8).
    assert max_certifiable_epsilon(canaries=1000, guesses=1000, delta=0.0) == pytest.approx(5.81, abs=0.01)
    # Chance level rejects nothing.
    assert epsilon_lower_bound(canaries=1000, guesses=1000, correct=500, delta=0.0) == 0.0
    assert epsilon_lower_bound(canaries=1000, guesses=100, correct=40, delta=0.0) == 0.0
    # The bound is the edge of the rejection region.
    eps = epsilon_lower_bound(canaries=1000, guesses=200, correct=170, delta=1e-6)
    p = lambda e: p_value_dp_audit(canaries=1000, guesses=200, correct=170, epsilon=e, delta=1e-6)
    assert p(eps) < 0.05 <= p(eps + 1e-3)
    # Monotone in the number right, strictly once above chance.
    bounds = [epsilon_lower_bound(canaries=1000, guesses=1000, correct=v, delta=0.0) for v in range(500, 1001, 50)]
    assert bounds[0] == 0.0 and bounds[1] > 0.0 and all(a < b for a, b in itertools.pairwise(bounds))
    # delta > 0 and higher confidence both lower it.
    assert epsilon_lower_bound(canaries=1000, guesses=1000, correct=950, delta=1e-4) < bounds[-2]
    assert epsilon_lower_bound(canaries=1000, guesses=1000, correct=950, delta=0.0, confidence=0.99) < bounds[-2]
    # A delta of the order of 1/m can void imperfect evidence (the delta term alone reaches 1 - confidence).
    level = 1 - 0.05 / 6
    assert epsilon_lower_bound(canaries=1000, guesses=400, correct=390, delta=0.0, confidence=level) > 2.5
    assert epsilon_lower_bound(canaries=1000, guesses=400, correct=390, delta=1e-3, confidence=level) == 0.0
    with pytest.raises(BadInputError):
        epsilon_lower_bound(canaries=10, guesses=20, correct=5, delta=0.0)
    with pytest.raises(BadInputError):
        epsilon_lower_bound(canaries=10, guesses=5, correct=6, delta=0.0)


def test_canaries_and_inclusion_bits() -> None:
    data, mask = make_canaries(count=300, rows=3, width=WIDTH, generator=torch.Generator().manual_seed(0))
    assert data.shape == (300, 3, WIDTH) and mask.shape == (300, 3)
    assert bool(mask[:, 0].all()) and not bool(mask[:, 1:].any())
    assert bool((data[:, 0].abs() == 1).all()) and bool((data[:, 1:] == 0).all())
    assert torch.unique(data[:, 0], dim=0).shape[0] == 300
    with pytest.raises(BadInputError):
        make_canaries(count=10, rows=1, width=3, generator=torch.Generator())
    assert torch.equal(inclusion_bits(count=64, seed=3), inclusion_bits(count=64, seed=3))
    fresh = [inclusion_bits(count=64, seed=None) for _ in range(2)]
    assert not torch.equal(fresh[0], fresh[1])  # OS entropy: equal with probability 2^-64
    assert 0 < int(fresh[0].sum()) < 64


def test_guesses_take_the_top_as_in_and_the_bottom_as_out() -> None:
    scores = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    included = torch.tensor([True, False, True, False, True, False])
    assert guess_and_count(scores=scores, included=included, guesses=2) == 2  # in: 0 (right); out: 5 (right)
    assert guess_and_count(scores=scores, included=included, guesses=4) == 2  # + in: 1 (wrong); out: 4 (wrong)


def test_audit_rejects_a_delta_that_is_not_below_one_over_n() -> None:
    units, mask = clusters(n=20)
    with pytest.raises(BadInputError, match="delta"):
        run_canary_audit(units=units, mask=mask, build_model=build_model, diffusion=DIFFUSION, plan=PLAN,
                         epsilon=1.0, delta=1 / 100, canaries=100)
    with pytest.raises(BadInputError, match="trainer"):
        run_canary_audit(units=units, mask=mask, build_model=build_model, diffusion=DIFFUSION, plan=PLAN,
                         epsilon=1.0, delta=1e-8, canaries=100, trainer="nonsense")


def test_audit_catches_the_broken_trainer() -> None:
    """No clipping, no noise, claimed epsilon 1: the canaries are memorised and the bound is far above 1."""
    units, mask = clusters()
    result = run_canary_audit(units=units, mask=mask, build_model=build_model, diffusion=DIFFUSION, plan=PLAN,
                              epsilon=1.0, delta=DELTA, canaries=500, trainer="broken", confidence=CONFIDENCE)
    assert result.empirical_epsilon_lower_bound > 2.0, result
    assert not result.passed
    assert "BROKEN" in result.trainer and result.training_epsilon_spent is None
    assert result.training_units == 200 + result.included
    assert result.empirical_epsilon_lower_bound <= result.max_certifiable_epsilon
    assert json.loads(json.dumps(result.to_dict()))["canaries"] == 500


def test_audit_passes_the_dp_trainer() -> None:
    """DP-SGD at epsilon 1 on the same data: the bound stays <= 1.

    Not a tuned expectation: by the paper's Theorem 1 the bound exceeds the true epsilon with probability at
    most 1 - CONFIDENCE = 0.001 (after the union bound over guess counts), so this fails falsely in at most
    one run in a thousand; in practice the one-run audit of DP-SGD lands near 0.
    """
    units, mask = clusters()
    result = run_canary_audit(units=units, mask=mask, build_model=build_model, diffusion=DIFFUSION, plan=PLAN,
                              epsilon=1.0, delta=DELTA, canaries=500, trainer="dp", confidence=CONFIDENCE)
    assert result.passed and result.empirical_epsilon_lower_bound <= 1.0, result
    assert result.training_epsilon_spent is not None and result.training_epsilon_spent <= 1.0 + 1e-6
    assert result.max_certifiable_epsilon > 3.0  # the design could have shown a leak


def test_a_trainer_that_learns_nothing_shows_no_leak() -> None:
    """A custom trainer that leaves the model untouched: scores carry no membership signal, so the bound is
    0 unless chance strikes (probability <= 1 - CONFIDENCE); also checks what the trainer is handed."""
    units, mask = clusters()
    seen = {}

    def idle_trainer(*, model, diffusion, units, mask, plan, epsilon, delta, accountant, progress) -> TrainingOutcome:
        seen.update(n=units.shape[0], corners=int((units[:, 0].abs() == 1).all(dim=1).sum()), epsilon=epsilon)
        return TrainingOutcome(
            private=False, epsilon=None, delta=None, noise_multiplier=None, sample_rate=1.0, steps=0, epochs=0,
            accountant=None, grad_sample_mode=None, noise_source="none", dp_valid=False, seconds=0.0,
            records_per_second=0.0, final_loss=math.nan,
        )

    result = run_canary_audit(units=units, mask=mask, build_model=build_model, diffusion=DIFFUSION, plan=PLAN,
                              epsilon=1.0, delta=DELTA, canaries=500, trainer=idle_trainer, confidence=CONFIDENCE,
                              seed=5)
    assert seen == {"n": 200 + result.included, "corners": result.included, "epsilon": 1.0}
    assert result.empirical_epsilon_lower_bound == 0.0 and result.passed
    assert "idle_trainer" in result.trainer
