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

from synthdata.config import SHARE_WITH_MODEL, SHARE_WITHOUT_MODEL
from synthdata.errors import BadInputError
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


#: DP-SGD's noise on the sum of its steps' averaged clipped gradients, in clipping norms: the noise multiplier
#: over the expected batch and the square root of the steps (for a given epsilon about 1 / (epsilon x units),
#: whatever the preset), at the even split, above which the column distributions take ``SHARE_WITHOUT_MODEL``.
#: Chosen on the demo slice (14,444 patients of diabetes rows the benchmark never scores; the standard preset,
#: even-split noise by the RDP accountant; the table benchmark's ablation, one release each): at 2.6e-4
#: (epsilon 3) the model lifted SDMetrics quality from 0.893 to 0.940 and pair trends from 0.797 to 0.890 over
#: the column distributions alone; at 3.8e-4 (epsilon 2) and 7.1e-4 (epsilon 1) it added nothing (0.896 against
#: 0.892, 0.887 against 0.888), and the larger share then kept more of the 1% categories and the readmission
#: signal at epsilon 1 (lift 0.62 against 0.36 at 0.75 of epsilon); at 0.9 rather than 0.75, categories of 1% or
#: more off by over a factor 2 fell from 0.83 to 0.33 per release (12 noise draws of the column distributions on
#: the demo slice at epsilon 1).  The demo's fast preset at epsilon 3 sits at 2.6e-4 too.
MODEL_NOISE_LIMIT = 3.2e-4


def marginals_share(*, epsilon: float, delta: float, preprocessing_share: float, sample_rate: float, steps: int,
                    batch: int) -> float:
    """The part of epsilon that measures every column's distribution, when the spec leaves it to the release.

    ``SHARE_WITH_MODEL`` unless DP-SGD, given the rest at the even split, would add more noise to its steps'
    summed gradients than ``MODEL_NOISE_LIMIT`` (where the denoiser learned nothing the column distributions did
    not already carry): then ``SHARE_WITHOUT_MODEL``, leaving training at least 10% of epsilon.  A function of public
    numbers only (epsilon, delta, the DP-SGD plan); the RDP accountant is used because it is fast, and the choice is
    a threshold, not a guarantee (the guarantee is the calibration that follows, by the release's accountant).
    """
    from synthdata.privacy.training import calibrate_noise

    rest = 1.0 - preprocessing_share - SHARE_WITH_MODEL
    try:
        noise = calibrate_noise(epsilon=epsilon * rest, delta=delta * rest, sample_rate=sample_rate, steps=steps,
                                accountant="rdp")
    except BadInputError:  # too little for the RDP accountant: the release's own calibration says what to do
        return SHARE_WITH_MODEL
    if noise / (batch * math.sqrt(steps)) <= MODEL_NOISE_LIMIT:
        return SHARE_WITH_MODEL
    return max(SHARE_WITH_MODEL, min(SHARE_WITHOUT_MODEL, 0.9 - preprocessing_share))
