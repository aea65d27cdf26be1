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
from synthdata.config import SHARE_WITH_MODEL, SHARE_WITHOUT_MODEL
from synthdata.privacy.joint import marginals_share, release_epsilon, training_noise
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
    plan = stages.plan(spec=spec, ledger=Ledger(path=tmp_path / "plan.sqlite"))  # the dry run's figures
    done = release(spec=spec, progress=False)
    training = json.loads((synthdata_home / "runs" / done.run_id / "model" / "training.json").read_text())
    marginals, sgd = training["mechanisms"]
    assert marginals["stage"] == "marginals" and sgd["stage"] == "training"

    stated, delta = training["epsilon"], training["delta_total"]
    gaussians = [(m["noise_multiplier"], m["sample_rate"], m["steps"]) for m in (marginals, sgd)]
    assert _certified(gaussians, delta) <= stated * (1 + 1e-6)  # the statement is never below the accountants'
    assert stated <= raw["privacy"]["epsilon"] * (1 + 1e-9)
    # the dry run states the noise training uses (it stated the even split's before), less than the even split's
    assert sgd["noise_multiplier"] == pytest.approx(plan["noise_multiplier"], rel=0.02)
    rest = plan["epsilon_training"] / plan["epsilon"]
    even = calibrate_noise(epsilon=plan["epsilon_training"], delta=plan["delta"] * rest, sample_rate=sgd["sample_rate"],
                           steps=sgd["steps"], accountant=spec.privacy.accountant)
    assert sgd["noise_multiplier"] < 0.95 * even
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


def test_the_column_distributions_take_more_where_dp_sgd_would_learn_nothing() -> None:
    # The demo slice's plan (15,658 patients, expected batch 3,914, 60 steps): at epsilon 1 the even split leaves
    # DP-SGD too noisy to add anything, at epsilon 3 and 10 it learns (module constants' docstring).
    q, steps, batch, delta = 0.25, 60, 3914.5, 1e-6
    share = {epsilon: marginals_share(epsilon=epsilon, delta=delta, preprocessing_share=0.1, sample_rate=q,
                                      steps=steps, batch=batch) for epsilon in (1.0, 3.0, 10.0)}
    # (at most 0.9 - 0.1 here: training keeps a tenth of epsilon beside the preprocessing share)
    assert share == {1.0: pytest.approx(min(SHARE_WITHOUT_MODEL, 0.8)), 3.0: SHARE_WITH_MODEL, 10.0: SHARE_WITH_MODEL}
    # a larger batch at the same noise multiplier averages the noise away: the model can learn again
    assert marginals_share(epsilon=1.0, delta=delta, preprocessing_share=0.1, sample_rate=q, steps=steps,
                           batch=4 * batch) == SHARE_WITH_MODEL
    # the demo's fast preset at epsilon 3 (14,498 patients, expected batch 967, 300 steps) keeps its model
    assert marginals_share(epsilon=3.0, delta=6.9e-6, preprocessing_share=0.1, sample_rate=1 / 15, steps=300,
                           batch=14498 / 15) == SHARE_WITH_MODEL
    # training keeps at least a tenth of epsilon beside a large preprocessing share
    assert marginals_share(epsilon=1.0, delta=delta, preprocessing_share=0.3, sample_rate=q, steps=steps,
                           batch=batch) == pytest.approx(0.6)


def test_a_declared_share_is_used_as_it_is(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    for declared in (None, 0.3):
        raw = tiny_spec_dict(data, schema, tmp_path / "release")
        raw["privacy"].pop("marginals_share", None)
        if declared is not None:
            raw["privacy"]["marginals_share"] = declared
        plan = stages.plan(spec=parse_spec(raw), ledger=Ledger(path=tmp_path / "plan.sqlite"))
        # the tiny table's few patients make DP-SGD's averaged gradient noisy: unset, the larger share is chosen
        expected = SHARE_WITHOUT_MODEL if declared is None else declared
        assert plan["epsilon_marginals"] == pytest.approx(raw["privacy"]["epsilon"] * expected)
