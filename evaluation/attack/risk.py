"""Re-identification risk in the style of anonymeter (Giomi et al., PETS 2023): attack success beyond chance.

Each attack is run three times with the same number of attempts:

- the *main* attack targets training records (the generator saw them) using the synthetic data;
- the *control* attack targets holdout records (never seen) the same way: what the synthetic data reveals
  about anyone in the population, which is utility, not a privacy leak;
- the *baseline* attack guesses at random; an attack no better than the baseline says nothing.

Success rates are Wilson score estimates with their error at 95% confidence, and the risk is the main
attack's success beyond the control's, ``(main - control) / (1 - control)``, with its error propagated to
first order, as anonymeter computes them (``anonymeter.stats.confidence``).  The interval is
``risk +/- error``.  Unlike anonymeter, which clips the risk and its interval to [0, 1], the value is not
clipped (a negative risk says the unseen records were attacked more successfully: chance) and the interval
only to [-1, 1]; the gate reads the upper end, where both agree.  Main and control attack equally many
records (``min(train, holdout, settings.max_rows)``), so anonymeter's size correction is not needed.

Gates (upper end of the interval): linkability 0.10, singling out 0.15, inference 0.25 (its risk divides
by 1 - control, so a well-predicted secret widens its interval).  Measured on the demo slice (806 training
records attacked, seeds 0-2): unseen real records passed as synthetic reach at most 0.01 (linkability),
0.06 (singling out) and 0.08 (inference) at the upper end, and a generator that samples each column
independently from the training marginals at most 0.00, 0.14 and 0.11 (its singling-out risk is real if
small: a rare category drawn from the training marginal isolates the training patient who has it); a
generator returning its training records has lower ends of at least 0.11 (linkability), 0.26 (singling
out) and 0.32 (inference).
``evaluation.benchmarks.anonymeter_compare`` checks the three attacks against anonymeter 1.1 itself.

``RiskAudit`` runs one attack; subclasses implement ``attempts``.  Privacy caveat: computed from private
records outside the DP guarantee; only success counts and rates are reported.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.memorization.encoding import modelled_columns
from evaluation.report.figures import figure_to_base64, new_figure
from synthdata.views import subsample


@dataclass(frozen=True)
class Rate:
    """A success rate (Wilson score centre) and its error at the stated confidence."""

    value: float
    error: float

    @property
    def interval(self) -> tuple[float, float]:
        return max(0.0, self.value - self.error), min(1.0, self.value + self.error)


def success_rate(successes: int, attempts: int, *, confidence: float = 0.95) -> Rate:
    """Wilson score estimate of a success rate, as anonymeter's ``probability_estimate``."""
    if attempts <= 0:
        raise ValueError("need at least one attempt")
    z = float(norm.ppf(0.5 + confidence / 2))
    centre = (successes + z * z / 2) / (attempts + z * z)
    error = z / (attempts + z * z) * math.sqrt(successes * (attempts - successes) / attempts + z * z / 4)
    return Rate(centre, error)


def residual_risk(*, main: Rate, control: Rate) -> Rate:
    """Risk (main - control) / (1 - control) with the error propagated from both rates (first order)."""
    if control.value >= 1.0:
        return Rate(0.0, 1.0)
    value = (main.value - control.value) / (1 - control.value)
    d_main = 1 / abs(1 - control.value)
    d_control = abs((main.value - 1) / (1 - control.value) ** 2)
    return Rate(value, math.sqrt((main.error * d_main) ** 2 + (control.error * d_control) ** 2))


@dataclass(frozen=True)
class Outcome:
    """Successes of the three attacks over ``attempts`` each, plus aggregate facts for the details."""

    main: int
    control: int
    baseline: int
    attempts: int
    facts: dict[str, Any]


class RiskAudit(Audit):
    """One anonymeter-style attack: risk = main success beyond control, with its interval."""

    category = "attack"
    direction = "at_most"
    no_leak_value = 0.0
    max_targets = 5000  # training (and holdout) records attacked per side, besides settings.max_rows
    min_attempts = 50  # fewer attempts give an interval too wide to judge: not informative
    #: The fewest modelled columns the attack compares anything with: with fewer, a side of it is empty (every
    #: record at distance 0 of every other, the neighbours arbitrary) and its "risk" is noise that could block.
    min_columns = 1

    def applies_to(self, context: AuditContext) -> bool:
        return (super().applies_to(context) and len(context.holdout) >= 20 and len(context.synthetic) >= 10
                and len(modelled_columns(context.schema, context.train)) >= self.min_columns)

    @abstractmethod
    def attempts(self, *, targets: pd.DataFrame, controls: pd.DataFrame, synthetic: pd.DataFrame,
                 context: AuditContext, rng: np.random.Generator) -> Outcome:
        """Run the main, control and baseline attacks (equally many attempts each)."""

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        n = min(len(context.holdout), len(context.train), self.max_targets, context.settings.max_rows)
        targets = subsample(context.train, n, rng)
        controls = subsample(context.holdout, n, rng)
        synthetic = subsample(context.synthetic, min(len(context.synthetic), context.settings.max_rows), rng)
        outcome = self.attempts(targets=targets, controls=controls, synthetic=synthetic, context=context, rng=rng)
        if outcome.attempts < self.min_attempts:
            return Measurement(value=0.0, details={"attempts": outcome.attempts, **outcome.facts}, not_informative=(
                f"only {outcome.attempts} attack attempt(s) could be made (at least {self.min_attempts} are "
                "needed for an interval narrow enough to judge)"))
        rates = {arm: success_rate(getattr(outcome, arm), outcome.attempts) for arm in ("main", "control", "baseline")}
        risk = residual_risk(main=rates["main"], control=rates["control"])
        details = {
            **{f"{arm}_success_rate": round(rate.value, 4) for arm, rate in rates.items()},
            **{f"{arm}_success_interval": [round(v, 4) for v in rate.interval] for arm, rate in rates.items()},
            "attempts": outcome.attempts,
            "sizes": {"targets": len(targets), "controls": len(controls), "synthetic": len(synthetic)},
            **outcome.facts,
            "seconds": round(time.perf_counter() - started, 1),
        }
        if rates["main"].value <= rates["baseline"].value:
            details["warning"] = "the main attack is no better than random guessing: its risk says little"
        interval = (max(-1.0, risk.value - risk.error), min(1.0, risk.value + risk.error))
        return Measurement(value=risk.value, interval=interval, details=details,
                           figures={f"{self.title.split(' (')[0]}: success rates": _rates_figure(rates)})


def _rates_figure(rates: dict[str, Rate]) -> str:
    fig, ax = new_figure(width=3.2, height=2.2, left=0.2)
    names = list(rates)
    ax.bar(range(len(names)), [rates[a].value for a in names], yerr=[rates[a].error for a in names],
           color=["#c44e52", "#4c72b0", "#999999"], capsize=3)
    ax.set_xticks(range(len(names)), ["on training\nrecords", "on unseen\nrecords", "random\nguess"], fontsize=6)
    ax.set_ylabel("attack success rate", fontsize=7)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_ylim(0, max(0.05, max(r.value + r.error for r in rates.values()) * 1.15))
    return figure_to_base64(fig)
