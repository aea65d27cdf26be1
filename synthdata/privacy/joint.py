"""One release's mechanisms counted together: DP-SGD's noise chosen so the WHOLE release spends its epsilon.

A table release runs up to three mechanisms on the same data: DP domains (noisy histograms), every column's
distribution (one Gaussian mechanism) and DP-SGD (Poisson-subsampled Gaussian steps).  Splitting epsilon
between them and adding the parts (basic composition) is valid but loose: composed by the accountants
(Opacus' RDP and PRV, :func:`synthdata.privacy.composition.compose`), the demo's mechanisms at a stated
epsilon of 3 spent 2.2.  Here DP-SGD's noise multiplier is the smallest for which the composition of
everything the release ran before training and the training itself stays within the release's (epsilon,
delta): the same guarantee, less noise in training.

Everything here is a function of public numbers (the mechanisms' noise multipliers, sample rates, steps and
the pure epsilons of the others); nothing reads data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from synthdata.privacy.composition import compose


def release_epsilon(*, mechanisms: Sequence[Mapping[str, Any]], delta: float) -> float:
    """The epsilon of one release that ran ``mechanisms`` (ledger records: Gaussian ones with
    ``noise_multiplier``, ``sample_rate``, ``steps``; others with their ``epsilon``, ``delta``), at ``delta``:
    the tighter of the RDP and PRV compositions (basic composition for the non-Gaussian parts)."""
    found = compose(charges=[{"status": "spent", "epsilon": math.inf, "delta": delta, "mechanisms": list(mechanisms)}],
                    delta=delta)
    return float(found.composed)


def training_noise(*, before: Sequence[Mapping[str, Any]], sample_rate: float, steps: int, epsilon: float,
                   delta: float, standalone: float, tolerance: float = 0.002) -> float:
    """The smallest DP-SGD noise multiplier (to within ``tolerance``, relative) whose ``steps`` steps at
    ``sample_rate``, composed with the mechanisms ``before`` it, spend at most ``(epsilon, delta)``.

    ``standalone`` is the noise multiplier calibrated for training's own share of epsilon: by basic
    composition it already keeps the release within its budget, so the answer is never above it (returned
    as it is when the accountants find no room).
    """
    def spent(sigma: float) -> float:
        return release_epsilon(mechanisms=[*before, {"stage": "training", "noise_multiplier": sigma,
                                                     "sample_rate": sample_rate, "steps": steps}], delta=delta)

    high = float(standalone)
    if spent(high) > epsilon:
        return high
    low = high / 2
    while spent(low) <= epsilon:
        if low < 1e-3:
            return low
        high, low = low, low / 2
    while (high - low) > tolerance * high:
        middle = (high + low) / 2
        high, low = (middle, low) if spent(middle) <= epsilon else (high, middle)
    return high


def alone_epsilon(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    """The epsilon ``accountant`` (``prv`` or ``rdp``, as the trainer uses it) gives DP-SGD alone at ``delta``."""
    from opacus.accountants import PRVAccountant, RDPAccountant

    counted = PRVAccountant() if accountant == "prv" else RDPAccountant()
    counted.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    return float(counted.get_epsilon(delta=delta))
