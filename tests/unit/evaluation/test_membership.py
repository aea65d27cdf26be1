"""Membership inference, near copies and closest pairs on the real demo slice."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.attacks.membership import MembershipInferenceAudit, attack_split
from evaluation.gates import decide
from evaluation.memorization.closest_pairs import closest_pairs
from evaluation.memorization.near_copies import NearCopiesAudit


@pytest.fixture(scope="module")
def mia(demo, copies):
    audit = MembershipInferenceAudit()
    return {name: audit.measure(demo.context(synthetic)) for name, synthetic in
            (("fresh", demo.fresh), ("copies", copies))}


def test_copy_generator_fails_membership_inference(mia) -> None:
    copies = mia["copies"]
    assert copies.interval[0] > 0.6
    assert copies.details["strongest_attack"] == "distance"
    # The copied members sit at distance 0: at 1% FPR a large share of members is found.
    assert copies.details["attacks"]["distance"]["tpr_at_1pct_fpr"] > 0.2
    assert decide(audit=MembershipInferenceAudit(), measurement=copies, threshold=0.6).passed is False


def test_unseen_real_records_pass_membership_inference(mia) -> None:
    fresh = mia["fresh"]
    for attack in fresh.details["attacks"].values():
        assert attack["auc_interval"][0] < 0.5 + 0.03 and attack["auc_interval"][1] > 0.5 - 0.03
    assert decide(audit=MembershipInferenceAudit(), measurement=fresh, threshold=0.6).passed is True


def test_reference_and_non_members_are_different_holdout_records(demo) -> None:
    holdout = demo.holdout.assign(_row=np.arange(len(demo.holdout)))
    members, nonmembers, reference = attack_split(train=demo.train, holdout=holdout, max_rows=10_000,
                                                  rng=np.random.default_rng(0))
    assert not set(nonmembers["_row"]) & set(reference["_row"])
    assert len(members) == len(nonmembers) == len(holdout) // 2
    assert len(nonmembers) + len(reference) == len(holdout)


def test_near_copies_catch_copies_not_unseen_records(demo, copies, independent) -> None:
    audit = NearCopiesAudit()
    fresh = audit.measure(demo.context(demo.fresh))
    copied = audit.measure(demo.context(copies))
    shuffled = audit.measure(demo.context(independent))
    assert abs(fresh.value) < 0.02 and fresh.interval[0] < 0 < fresh.interval[1]
    assert copied.value > 0.15
    assert decide(audit=audit, measurement=copied, threshold=0.05).passed is False
    assert decide(audit=audit, measurement=fresh, threshold=0.05).passed is True
    assert decide(audit=audit, measurement=shuffled, threshold=0.05).passed is True
    assert copied.details["share_near_train"] > copied.details["share_near_unseen_real"]


def test_closest_pairs_put_a_copy_beside_its_training_record(demo, copies) -> None:
    pairs = closest_pairs(context=demo.context(copies), count=5)
    assert len(pairs) == 5 and (pairs["distance"] == 0).all()
    for column in ("race", "age", "num_medications"):
        assert (pairs[f"{column} (synthetic)"].astype(str) == pairs[f"{column} (real)"].astype(str)).all()
    far = closest_pairs(context=demo.context(demo.fresh), count=5)
    assert far["distance"].is_monotonic_increasing
