"""Anonymeter-style re-identification risks on the real demo slice, and the risk arithmetic."""

from __future__ import annotations

import math

import pytest

from evaluation.attack.inference import InferenceAudit
from evaluation.attack.linkability import LinkabilityAudit
from evaluation.attack.risk import Rate, residual_risk, success_rate
from evaluation.attack.singling_out import SinglingOutAudit
from evaluation.gate import decide

AUDITS = (LinkabilityAudit, InferenceAudit, SinglingOutAudit)


def test_wilson_rate_and_residual_risk_by_hand() -> None:
    # 30 successes in 100 attempts, z = 1.959964: centre (30 + z^2/2) / (100 + z^2), error
    # z / (100 + z^2) * sqrt(30 * 70 / 100 + z^2 / 4).
    z = 1.959963984540054
    rate = success_rate(30, 100)
    assert rate.value == pytest.approx((30 + z * z / 2) / (100 + z * z))
    assert rate.error == pytest.approx(z / (100 + z * z) * math.sqrt(21 + z * z / 4))
    main, control = Rate(0.5, 0.05), Rate(0.2, 0.04)
    risk = residual_risk(main=main, control=control)
    assert risk.value == pytest.approx(0.3 / 0.8)
    assert risk.error == pytest.approx(math.sqrt((0.05 / 0.8) ** 2 + (0.04 * 0.5 / 0.64) ** 2))
    assert residual_risk(main=Rate(0.2, 0.01), control=Rate(0.2, 0.01)).value == pytest.approx(0.0)


@pytest.mark.parametrize("audit_type", AUDITS)
def test_copy_generator_fails_and_beats_the_baseline(audit_type, demo, copies) -> None:
    measured = audit_type().measure(demo.context(copies))
    d = measured.details
    assert d["main_success_rate"] > d["control_success_rate"] and d["main_success_rate"] > d["baseline_success_rate"]
    assert d["main_success_interval"][0] > d["baseline_success_interval"][1]
    assert measured.interval[0] > 0.05
    assert decide(audit=audit_type(), measurement=measured, threshold=audit_type.default_threshold).passed is False
    # Main and control attack the whole (equally sized) populations: singling out must not shrink them to
    # its number of predicates, or a copy's record would be missing from the targets it was copied from.
    assert d["sizes"]["targets"] == d["sizes"]["controls"] == min(len(demo.train), len(demo.holdout))


@pytest.mark.parametrize("audit_type", AUDITS)
def test_unseen_real_records_carry_no_added_risk(audit_type, demo) -> None:
    measured = audit_type().measure(demo.context(demo.fresh))
    assert measured.interval[0] < 0.02 and abs(measured.value) < 0.08
    assert decide(audit=audit_type(), measurement=measured, threshold=audit_type.default_threshold).passed is True
    assert measured.figures and measured.details["attempts"] >= 100


def test_too_few_attack_attempts_is_not_informative(demo) -> None:
    # An attack that cannot make enough attempts for a narrow interval is reported, never judged.
    audit = SinglingOutAudit()
    audit.min_attempts = 10_000  # more than the 500 predicates it may build
    measured = audit.measure(demo.context(demo.fresh))
    assert measured.not_informative and "attempt" in measured.not_informative
    assert decide(audit=audit, measurement=measured, threshold=0.15).passed is None
