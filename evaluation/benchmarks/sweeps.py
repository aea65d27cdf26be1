"""Sampling-time sweeps of the tuning scripts (``signal_tuning``, ``image_tuning``), whatever the modality.

A trained arm's work area is sampled again under a changed spec (``resampled_lift``: sampling is
post-processing, it costs no epsilon) and only ``utility.tstr`` is scored; ``guidance_sweep`` does that at each
classifier-free guidance weight.  ``Lifts`` collects the lift of each named arm over the runs and prints its
median [min, max] at the end.  Not a test: nothing here asserts.
"""

from __future__ import annotations

import statistics

from evaluation.benchmarks.arms import Arm, audit_area
from evaluation.benchmarks.rows import audit_cell
from synthdata.config import ReleaseSpec
from synthdata.flow import stages
from synthdata.run_area import RunArea


def lift(arm: Arm) -> float:
    """``utility.tstr``'s value for ``arm`` (nan when it was not scored)."""
    result = arm.results.get("utility.tstr")
    return float("nan") if result is None or result.value is None else float(result.value)


def resampled_lift(*, spec: ReleaseSpec, area: RunArea, label: str) -> float:
    """Sample the work area's model again under ``spec`` (its synthetic file overwritten), score
    ``utility.tstr`` alone, print one line named ``label`` and return the lift."""
    stages.sample(spec=spec, area=area)
    result = audit_area(spec=spec, area=area, names=["utility.tstr"])[0]
    families = result.details.get("families") or {}
    aucs = "; ".join(f"{name} {v.get('tstr_auc', float('nan')):.3f}" for name, v in families.items())
    print(f"    {label}: utility.tstr lift {audit_cell(result)}; TSTR AUC {aucs}", flush=True)
    return float("nan") if result.value is None else float(result.value)


def guidance_sweep(*, spec: ReleaseSpec, arm: Arm, weights: list[float]) -> dict[float, float]:
    """``utility.tstr``'s lift of ``arm``'s trained model (DP or not) sampled again at each guidance weight (the
    spec's sampler, steps and seed otherwise; the arm's synthetic file is overwritten).  Prints one line per
    weight, named by the arm's label."""
    area = RunArea(arm.root)
    return {weight: resampled_lift(spec=spec.model_copy(update={"model": spec.model.model_copy(
        update={"guidance": weight})}), area=area, label=f"{arm.label} guidance {weight:g}") for weight in weights}


class Lifts:
    """The ``utility.tstr`` lift of each named arm (e.g. ``"ECG ε=10 guidance 4"``), one value per run."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def add_sweep(self, name: str, swept: dict[float, float], *, kind: str) -> None:
        """One value per swept setting, as arm ``"{name} {kind} {setting}"``."""
        for setting, value in swept.items():
            self.add(f"{name} {kind} {setting:g}", value)

    def print_medians(self) -> None:
        for name, values in self.values.items():
            shown = ", ".join(f"{v:.3f}" for v in values)
            print(f"{name}: utility.tstr lift median {statistics.median(values):.3f} [{min(values):.3f}, "
                  f"{max(values):.3f}] over {len(values)} run(s): {shown}", flush=True)
