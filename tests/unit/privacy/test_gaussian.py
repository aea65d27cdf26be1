"""The Gaussian mechanism: calibrated to its (epsilon, delta), composed by the ledger like a DP-SGD step."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from synthdata.privacy.composition import compose
from synthdata.privacy.gaussian import GaussianMechanism, calibrate_gaussian


def analytic_delta(*, epsilon: float, noise_multiplier: float) -> float:
    """The exact delta(epsilon) of the Gaussian mechanism (Balle & Wang 2018, Theorem 8), sensitivity 1."""
    s = noise_multiplier
    return float(norm.cdf(1 / (2 * s) - epsilon * s) - math.exp(epsilon) * norm.cdf(-1 / (2 * s) - epsilon * s))


@pytest.mark.parametrize(("epsilon", "delta"), [(0.3, 3e-6), (1.0, 1e-5), (4.0, 1e-7)])
def test_noise_meets_the_exact_bound_and_is_not_much_larger(epsilon: float, delta: float) -> None:
    mechanism = calibrate_gaussian(epsilon=epsilon, delta=delta, sensitivity=5.0)
    assert analytic_delta(epsilon=epsilon, noise_multiplier=mechanism.noise_multiplier) <= delta
    # within Opacus' tolerance of the smallest valid noise: 5% less noise already breaks the guarantee
    assert analytic_delta(epsilon=epsilon, noise_multiplier=0.95 * mechanism.noise_multiplier) > delta
    assert mechanism.sigma == pytest.approx(5.0 * mechanism.noise_multiplier)


def test_noise_has_the_stated_spread() -> None:
    mechanism = GaussianMechanism(noise_multiplier=2.0, sensitivity=3.0, epsilon=1.0, delta=1e-5)
    noisy = mechanism.add_noise(np.zeros(200_000), rng=np.random.default_rng(0))
    assert noisy.std() == pytest.approx(6.0, rel=0.01)


def test_the_ledger_composes_it_as_a_gaussian_step() -> None:
    mechanism = calibrate_gaussian(epsilon=0.5, delta=1e-6, sensitivity=7.0)
    charge = {"status": "settled", "epsilon": 0.5, "delta": 1e-6,
              "mechanisms": [mechanism.ledger_record(stage="marginals")]}
    composed = compose(charges=[charge])
    assert composed.gaussian_steps == 1
    assert composed.prv is not None and composed.prv == pytest.approx(0.5, abs=0.03)
    twice = compose(charges=[charge, charge])
    assert twice.composed < 1.0  # tighter than adding the two (Gaussian composition)


def test_refuses_an_impossible_request() -> None:
    with pytest.raises(ValueError):
        calibrate_gaussian(epsilon=0.0, delta=1e-5, sensitivity=1.0)
