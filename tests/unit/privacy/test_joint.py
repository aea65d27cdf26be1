"""DP-SGD's noise chosen with the mechanisms measured before it: the release's stated epsilon is what Opacus'
own accountants certify for everything it ran, never more than the spec's, and training gets less noise
than an even split of epsilon would give it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import tiny_spec_dict
from opacus.accountants import PRVAccountant, RDPAccountant

from synthdata.api import release
from synthdata.flow import stages
from synthdata.privacy.joint import release_epsilon, training_noise
from synthdata.privacy.ledger import Ledger
from synthdata.privacy.training import calibrate_noise, poisson_schedule
from synthdata.release_spec import parse_spec


def _certified(gaussians: list[tuple[float, float, int]], delta: float) -> float:
    """The tighter of Opacus' RDP and PRV accountants over these Gaussian mechanisms, computed here directly."""
    found = []
    for accountant in (RDPAccountant(), PRVAccountant()):
        accountant.history = list(gaussians)
        found.append(float(accountant.get_epsilon(delta=delta)))
    return min(found)


def test_training_noise_is_the_smallest_that_keeps_the_composition_within_budget() -> None:
    # one Gaussian measurement (about epsilon 1.25 alone) and DP-SGD, epsilon 2.5 in all: an even split gives
    # DP-SGD 1.25
    before = [{"stage": "marginals", "noise_multiplier": 4.0, "sample_rate": 1.0, "steps": 1}]
    q, steps, epsilon, delta = 0.05, 400, 2.5, 1e-5
    standalone = calibrate_noise(epsilon=1.25, delta=delta / 2, sample_rate=q, steps=steps, accountant="prv")
    sigma = training_noise(before=before, sample_rate=q, steps=steps, epsilon=epsilon, delta=delta,
                           standalone=standalone)
    assert sigma < 0.9 * standalone  # an even split wastes budget: the composition leaves room
    assert _certified([(4.0, 1.0, 1), (sigma, q, steps)], delta) <= epsilon * (1 + 1e-6)
    assert _certified([(4.0, 1.0, 1), (sigma * 0.99, q, steps)], delta) > epsilon  # and it is the smallest
    assert release_epsilon(mechanisms=[*before, {"noise_multiplier": sigma, "sample_rate": q, "steps": steps}],
                           delta=delta) <= epsilon


def test_a_table_release_states_what_the_accountants_certify_and_trains_with_less_noise(
        synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    spec = parse_spec(raw)
    plan = stages.plan(spec=spec, ledger=Ledger(path=tmp_path / "plan.sqlite"))  # the even split's noise
    done = release(spec=spec, progress=False)
    training = json.loads((synthdata_home / "runs" / done.run_id / "model" / "training.json").read_text())
    marginals, sgd = training["mechanisms"]
    assert marginals["stage"] == "marginals" and sgd["stage"] == "training"

    stated, delta = training["epsilon"], training["delta_total"]
    gaussians = [(m["noise_multiplier"], m["sample_rate"], m["steps"]) for m in (marginals, sgd)]
    assert _certified(gaussians, delta) <= stated * (1 + 1e-6)  # the statement is never below the accountants'
    assert stated <= raw["privacy"]["epsilon"] * (1 + 1e-9)
    assert sgd["noise_multiplier"] < plan["noise_multiplier"]  # less noise than the even split's
    _, q, _, steps = poisson_schedule(n_units=plan["units"], batch_size=training["plan"]["batch_size"],
                                      epochs=training["plan"]["epochs"])
    assert (q, steps) == pytest.approx((sgd["sample_rate"], sgd["steps"]))
    assert training["epsilon_basic_composition"] > stated  # the parts alone add up to more: said so

    manifest = json.loads((done.out / "manifest.json").read_text())
    assert manifest["epsilon"] == pytest.approx(stated)
    (charge,) = Ledger(path=synthdata_home / "ledger.sqlite").history(
        fingerprint=Ledger(path=synthdata_home / "ledger.sqlite").datasets()[0].fingerprint)
    assert charge["epsilon"] == pytest.approx(stated, rel=1e-12)
    report = (done.out / "report.html").read_text()
    assert "each with the ε it spends on its own" in report and "privacy accountants" in report
