"""Gate logic: quality gates need evidence of quality, privacy gates block on evidence of a leak, informative
results never block, registry names."""

from __future__ import annotations

import pytest

from evaluation.base import Measurement
from evaluation.fidelity.quality import QualityAudit
from evaluation.gate import blocking, check_gate_names, decide, run_audits
from evaluation.memorization.dcr import DCRShareAudit
from evaluation.registry import AUDITS
from synthdata.errors import BadInputError


def test_privacy_gates_block_on_evidence_of_a_leak_and_state_what_they_would_catch():
    audit = DCRShareAudit()
    # 0.52 [0.49, 0.56]: the upper end crosses 0.55, but nothing shows a leak above it (this blocked clean
    # demo releases about one time in two under the old "upper end" rule)
    straddling = decide(audit=audit, measurement=Measurement(value=0.52, interval=(0.49, 0.56)), threshold=0.55)
    assert straddling.passed is True and not straddling.blocks
    assert "0.58" in straddling.note  # the smallest value it would have caught: threshold + half-width 0.03
    leak = decide(audit=audit, measurement=Measurement(value=0.58, interval=(0.556, 0.604)), threshold=0.55)
    assert leak.passed is False and leak.blocks and "lower end" in leak.note


def test_too_few_records_to_judge_does_not_block_but_a_clear_leak_does():
    audit = DCRShareAudit()
    # half-width 0.1: even a share of exactly 0.5 would show 0.6 > 0.55; 0.53 is no evidence either way
    vague = decide(audit=audit, measurement=Measurement(value=0.53, interval=(0.43, 0.63)), threshold=0.55)
    assert vague.passed is None and not vague.blocks and "too few records" in vague.note
    assert "0.6" in vague.note  # the resolution the data allow
    clear = decide(audit=audit, measurement=Measurement(value=0.8, interval=(0.7, 0.9)), threshold=0.55)
    assert clear.passed is False and clear.blocks  # wide, but the whole interval is above the threshold
    # an audit without a no-leak value keeps the plain rule
    quality = decide(audit=QualityAudit(replicates=0), measurement=Measurement(value=0.75, interval=(0.5, 0.9)),
                     threshold=0.7)
    assert quality.passed is False


def test_at_least_uses_lower_end_of_interval():
    audit = QualityAudit(replicates=0)
    result = decide(audit=audit, measurement=Measurement(value=0.75, interval=(0.69, 0.8)), threshold=0.70)
    assert result.passed is False
    assert "lower end" in result.note
    assert decide(audit=audit, measurement=Measurement(value=0.75, interval=(0.71, 0.8)),
                  threshold=0.70).passed is True


def test_value_is_judged_when_there_is_no_interval():
    audit = DCRShareAudit()
    assert decide(audit=audit, measurement=Measurement(value=0.55), threshold=0.55).passed is True
    assert decide(audit=audit, measurement=Measurement(value=0.5501), threshold=0.55).passed is False


def test_informative_and_not_informative_never_block():
    audit = DCRShareAudit()
    terrible = Measurement(value=0.99, interval=(0.98, 1.0))
    informative = decide(audit=audit, measurement=terrible, threshold=None)
    assert informative.passed is None and not informative.blocks and "Informative" in informative.note
    useless = Measurement(value=0.99, interval=(0.98, 1.0), not_informative="holdout too small")
    result = decide(audit=audit, measurement=useless, threshold=0.55)
    assert result.passed is None and "holdout too small" in result.note
    assert blocking([informative, result]) == []


def test_unknown_gate_names_raise_bad_input_listing_known_names():
    with pytest.raises(BadInputError) as excinfo:
        check_gate_names(["memorization.dcr_share", "fidelity.qualty"])
    message = str(excinfo.value)
    assert "fidelity.qualty" in message
    assert all(name in message for name in AUDITS)
    check_gate_names(AUDITS)  # every registered name is accepted


def test_run_audits_overrides_thresholds_and_reports_progress(demo, copies):
    seen: list[str] = []
    names = ["memorization.exact_copies", "memorization.dcr_share"]
    results = run_audits(context=demo.context(copies), gates={"memorization.exact_copies": 10_000},
                         names=names, on_progress=seen.append)
    assert [r.name for r in results] == [n for n in AUDITS if n in names] == seen
    by_name = {r.name: r for r in results}
    assert by_name["memorization.exact_copies"].threshold == 10_000
    assert by_name["memorization.exact_copies"].passed is True  # the override lets the copies through
    assert by_name["memorization.dcr_share"].threshold == DCRShareAudit.default_threshold
    assert [r.name for r in blocking(results)] == ["memorization.dcr_share"]
    with pytest.raises(BadInputError):
        run_audits(context=demo.context(copies), gates={"no.such_audit": 1.0})


def test_run_audits_skips_audits_that_do_not_apply(demo):
    context = demo.context(demo.fresh)
    context.target = None
    results = run_audits(context=context, names=["utility.tstr", "memorization.exact_copies"])
    assert [r.name for r in results] == ["memorization.exact_copies"]


def test_registry_is_consistent():
    # Every family of the suite is registered, and each of them except fidelity detail audits gates.
    gated = {a.category for a in AUDITS.values() if a.default_threshold is not None}
    assert gated == {"privacy", "fidelity", "utility", "memorization", "attack"}
    assert {a.category for a in AUDITS.values() if a.default_threshold is None} <= {"fidelity", "utility"}
    for name, audit_type in AUDITS.items():
        assert audit_type.name == name
        assert audit_type.direction in {"at_most", "at_least"}
        assert audit_type.explanation and audit_type.title


def test_require_judged_makes_an_unjudged_gate_block(demo):
    """Tiny sets: the DCR share cannot be judged; by default it does not block, with require_judged it does."""
    context = demo.context(demo.fresh.head(40))
    context.holdout = demo.holdout.head(30)
    (lenient,) = run_audits(context=context, names=["memorization.dcr_share"])
    assert lenient.passed is None and not lenient.blocks
    (strict,) = run_audits(context=context, names=["memorization.dcr_share"], require_judged=True)
    assert strict.passed is False and strict.blocks and "require_judged" in strict.note


def test_a_gate_that_cannot_run_at_these_sizes_is_recorded_not_judged_never_missing(demo):
    """A 15-lead ECG record with 28 training windows ended with 'audits missing from the audit record' (two
    gated audits did not apply at those sizes): each required gate is now in the record, not judged."""
    import pandas as pd

    from evaluation.gate import enforce, required

    context = demo.context(demo.fresh.head(15))
    context.holdout = demo.holdout.head(12)
    results = run_audits(context=context)
    by_name = {r.name: r for r in results}
    for name in ("memorization.near_copies", "attack.membership_inference"):
        assert by_name[name].passed is None and by_name[name].value is None
        assert "could not run" in by_name[name].note
    enforce(results, required_names=required(view=pd.DataFrame, target=context.target))  # nothing missing
    assert not blocking(results) or all(r.value is not None for r in blocking(results))
