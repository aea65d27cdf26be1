"""Group privacy: what a guarantee per record says about a person who contributes several records.

If a mechanism is (ε, δ)-DP for one record, it is (kε, k·e^((k-1)ε)·δ)-DP for any group of k records
(Dwork & Roth 2014, Lemma 2.2 and its (ε, δ) extension).  synthdata uses it when the DP-SGD unit is a
signal window but a subject contributes up to k windows: the per-subject statement is then this bound,
which grows quickly with k (so the report gives both, and recommends the subject as the unit).
"""

from __future__ import annotations

import math


def group_privacy(*, epsilon: float, delta: float, group_size: int) -> tuple[float, float]:
    """(ε, δ) for a group of ``group_size`` units from an (``epsilon``, ``delta``) guarantee per unit."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be an integer >= 1, got {group_size!r}")
    if not (epsilon >= 0 and 0 <= delta <= 1):
        raise ValueError(f"need epsilon >= 0 and delta in [0, 1], got {epsilon}, {delta}")
    k = group_size
    exponent = (k - 1) * epsilon
    group_delta = 1.0 if exponent > 700 else min(1.0, k * math.exp(exponent) * delta)
    return k * epsilon, group_delta
