"""Composing the privacy cost of many runs on one dataset: naive summation beside the accountant.

Every charge in the ledger keeps its mechanisms: DP-SGD training as ``(noise_multiplier, sample_rate,
steps)`` (a Poisson-subsampled Gaussian mechanism), DP preprocessing as pure ε-DP (Laplace histograms).
Three upper bounds on the total, at δ = the sum of the runs' δ:

* **naive**: Σ ε_i (basic sequential composition; always valid, loosest).
* **RDP**: Rényi DP of every Gaussian step (Opacus' ``compute_rdp``) converted to (ε, δ) once; pure
  ε_i-DP mechanisms either join the curve as ε_i²·α/2 (ε-DP implies ε²/2-zCDP, Bun & Steinke 2016) or are
  added after, whichever is smaller.
* **PRV**: Opacus' PRV accountant over every Gaussian step of every run, plus the pure-ε parts by basic
  composition.

Each is a valid upper bound, so ``composed`` is their minimum.  Charges that were only *reserved* (a run
still going, or one that crashed) carry no mechanism history yet and enter every bound at their full
reserved ε (conservative).  Charges recorded without a mechanism history, or with a mechanism that states no
ε of its own (a crashed run settled in full by hand), likewise enter at their whole ε.

The ledger refuses a run by the naive sum (the new run's mechanism is not known before it trains); the
composed figure is what a release's privacy statement may cite for the dataset as a whole.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from opacus.accountants import PRVAccountant
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 128, 256, 512]


@dataclass(frozen=True)
class Composition:
    """Total privacy cost of a set of charges, three ways, at ``delta`` (the sum of the charges' δ)."""

    naive: float
    rdp: float
    prv: float | None
    delta: float
    gaussian_steps: int
    charges: int

    @property
    def composed(self) -> float:
        """The tightest of the valid bounds."""
        return min(x for x in (self.naive, self.rdp, self.prv) if x is not None)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "composed": self.composed}


def _gaussian(mechanism: Mapping[str, Any]) -> tuple[float, float, int] | None:
    try:
        sigma, q, steps = (mechanism[k] for k in ("noise_multiplier", "sample_rate", "steps"))
    except KeyError:
        return None
    if sigma is None or q is None or not steps:
        return None
    return float(sigma), float(q), int(steps)


def _split(charges: Iterable[Mapping[str, Any]]
           ) -> tuple[list[tuple[float, float, int]], list[float], list[tuple[float, float]], float, float, int]:
    """Gaussian mechanisms, pure-ε amounts, approximate (ε, δ > 0) amounts, naive ε and δ sums, number of
    charges counted."""
    gaussians: list[tuple[float, float, int]] = []
    pure: list[float] = []
    approx: list[tuple[float, float]] = []
    naive = delta = 0.0
    count = 0

    def other(epsilon: float, delta_part: float) -> None:
        (approx.append((epsilon, delta_part)) if delta_part > 0 else pure.append(epsilon))

    for charge in charges:
        if charge.get("status") == "cancelled":
            continue
        count += 1
        naive += float(charge["epsilon"])
        delta += float(charge["delta"])
        mechanisms = charge.get("mechanisms") or []
        parsed = [(m, _gaussian(m)) for m in mechanisms]
        unknown = any(g is None and m.get("epsilon") is None for m, g in parsed)
        if charge.get("status") == "reserved" or not mechanisms or unknown:
            other(float(charge["epsilon"]), float(charge["delta"]))  # unknown mechanism: counted whole
            continue
        for mechanism, gaussian in parsed:
            if gaussian is not None:
                gaussians.append(gaussian)
            else:
                other(float(mechanism.get("epsilon") or 0.0), float(mechanism.get("delta") or 0.0))
    return gaussians, pure, approx, naive, delta, count


def compose(*, charges: Iterable[Mapping[str, Any]], delta: float | None = None) -> Composition:
    """Compose ledger charges (dicts with ``status``, ``epsilon``, ``delta``, ``mechanisms``).

    ``delta`` defaults to the sum of the charges' δ; all three bounds are stated at that δ.  Mechanisms that
    are (ε, δ)-DP with δ > 0 (thresholded category discovery) cannot join the RDP curve as pure ε: they are
    added by basic composition, and the Gaussian part is converted at the δ that remains (total δ = Σδ of
    the Gaussian parts + Σδ of the others).
    """
    gaussians, pure, approx, naive, delta_sum, count = _split(charges)
    delta = delta_sum if delta is None else delta
    n_steps = sum(s for _, _, s in gaussians)
    if not gaussians and not pure and not approx:
        return Composition(naive=0.0, rdp=0.0, prv=0.0, delta=delta, gaussian_steps=0, charges=count)
    extra = sum(e for e, _ in approx)
    delta_left = delta - sum(d for _, d in approx)
    if delta_left <= 0 or not gaussians:
        basic = naive if delta_left <= 0 else sum(pure) + extra
        return Composition(naive=naive, rdp=min(naive, basic), prv=min(naive, basic) if delta_left > 0 else None,
                           delta=delta, gaussian_steps=n_steps, charges=count)
    delta_total, delta = delta, delta_left
    rdp = [0.0] * len(ORDERS)
    for sigma, q, steps in gaussians:
        rdp = [a + b for a, b in zip(rdp, compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=ORDERS))]
    with_pure = [r + sum(0.5 * order * e * e for e in pure) for r, order in zip(rdp, ORDERS)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        # Pure epsilon either inside the RDP curve (zCDP; tight for many small parts) or added after
        # (basic composition; tight for a few large parts): both are valid, keep the smaller.
        rdp_eps = min(get_privacy_spent(orders=ORDERS, rdp=with_pure, delta=delta)[0],
                      (get_privacy_spent(orders=ORDERS, rdp=rdp, delta=delta)[0] if gaussians else 0.0) + sum(pure))
    prv = None
    if gaussians:
        accountant = PRVAccountant()
        accountant.history = list(gaussians)
        try:
            with warnings.catch_warnings(), np.errstate(divide="ignore"):  # q = 1: PRV's log(1 - q) = -inf is exact
                warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
                prv = float(accountant.get_epsilon(delta=delta)) + sum(pure) + extra
        except (ValueError, RuntimeError):  # PRV's domain can fail for extreme plans; RDP still holds
            prv = None
    rdp_total = float(rdp_eps) + extra if math.isfinite(rdp_eps) else naive
    return Composition(naive=naive, rdp=min(rdp_total, naive), prv=prv, delta=delta_total, gaussian_steps=n_steps,
                       charges=count)
