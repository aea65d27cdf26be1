"""The Gaussian mechanism on a vector of counts, calibrated and accounted like one DP-SGD step.

Adding Gaussian noise of standard deviation ``sigma = noise_multiplier * sensitivity`` to every count of a
vector whose L2 norm changes by at most ``sensitivity`` when one privacy unit is added or removed is the
Gaussian mechanism.  It is exactly one step of DP-SGD with sampling rate 1 and that noise multiplier, so
it is calibrated with Opacus' PRV accountant (``sample_rate=1, steps=1``: tight for the Gaussian
mechanism) and recorded in the ledger as ``(noise_multiplier, sample_rate=1, steps=1)``: the ledger's
RDP/PRV composition then composes it with the trainings like any other Gaussian step.

``sensitivity`` must be a public bound that the caller ENFORCES (e.g. by weighting each unit's rows so that
the unit adds at most 1 to each histogram); read off the data it would itself leak.

Randomness comes only from the ``rng`` passed in: a release passes a generator seeded from unrecorded OS
entropy.  Floating-point caveat: the noise is drawn in floating point, whose low-order bits are known to
leak (Mironov, CCS 2012); the noisy counts are never published, only used to shape the synthetic data, and
the guarantee is stated for the idealised real-valued mechanism.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from opacus.accountants.utils import get_noise_multiplier

NAME = "Gaussian mechanism (noisy histograms)"


@dataclass(frozen=True)
class GaussianMechanism:
    """A calibrated Gaussian mechanism: noise ``sigma = noise_multiplier * sensitivity`` per count."""

    noise_multiplier: float
    sensitivity: float
    epsilon: float
    delta: float

    @property
    def sigma(self) -> float:
        return self.noise_multiplier * self.sensitivity

    def add_noise(self, counts: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
        """``counts`` plus independent N(0, sigma^2) noise (float64)."""
        counts = np.asarray(counts, dtype=np.float64)
        return counts + rng.normal(0.0, self.sigma, size=counts.shape)

    def ledger_record(self, *, stage: str, **facts: Any) -> dict[str, Any]:
        """The mechanism as the ledger and ``synthdata.privacy.composition`` read it (one Gaussian step)."""
        return {"stage": stage, "mechanism": NAME, "noise_multiplier": self.noise_multiplier, "sample_rate": 1.0,
                "steps": 1, "sensitivity": self.sensitivity, "epsilon": self.epsilon, "delta": self.delta, **facts}


def calibrate_gaussian(*, epsilon: float, delta: float, sensitivity: float) -> GaussianMechanism:
    """The smallest noise (to Opacus' 0.01 tolerance in epsilon) that makes the mechanism (epsilon, delta)-DP."""
    if not epsilon > 0 or not 0 < delta < 1 or not sensitivity > 0:
        raise ValueError(f"need epsilon > 0, 0 < delta < 1 and sensitivity > 0; got {epsilon}, {delta}, {sensitivity}")
    with warnings.catch_warnings(), np.errstate(divide="ignore"):  # q = 1: PRV's log(1 - q) = -inf is exact
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        multiplier = get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=1.0, steps=1,
                                          accountant="prv")
    return GaussianMechanism(noise_multiplier=float(multiplier), sensitivity=float(sensitivity),
                             epsilon=float(epsilon), delta=float(delta))
