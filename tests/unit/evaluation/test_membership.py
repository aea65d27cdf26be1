"""Membership inference and closest pairs on the real demo slice (near copies: ``test_near_copies.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.attack.membership import MembershipInferenceAudit, attack_split
from evaluation.gate import decide
from evaluation.memorization.closest_pairs import closest_pairs


@pytest.fixture(scope="module")
def mia(demo, copies):
    audit = MembershipInferenceAudit()
    return {name: audit.measure(demo.context(synthetic)) for name, synthetic in
            (("fresh", demo.fresh), ("copies", copies))}


@pytest.fixture(scope="module")
def perturbed(copies):
    """Training rows with two counts nudged: not exact copies, but near copies of individuals."""
    return copies.assign(num_medications=copies["num_medications"] + 1,
                         num_lab_procedures=copies["num_lab_procedures"] - 2)


def test_copy_generator_fails_membership_inference(mia) -> None:
    copies = mia["copies"]
    assert copies.interval[0] > 0.6
    assert copies.details["strongest_attack"] == "distance"
    # The copied members sit at distance 0: at 1% FPR a large share of members is found.
    assert copies.details["attacks"]["distance"]["tpr_at_1pct_fpr"] > 0.2
    assert decide(audit=MembershipInferenceAudit(), measurement=copies, threshold=0.6).passed is False
    # The ensemble value is the strongest attack's AUC; its interval comes from the joint bootstrap.
    assert copies.value == pytest.approx(copies.details["attacks"]["distance"]["auc"], abs=1e-4)
    assert copies.details["ensemble"]["auc_interval"] == pytest.approx(list(copies.interval), abs=1e-4)
    sizes = copies.details["sizes"]
    assert sizes["members"] == sizes["non_members"]
    assert sizes["non_members"] + sizes["reference"] == sizes["holdout_available"]
    assert f"of {sizes['non_members']} non-members" in copies.details["tpr_resolution"]
    assert "ROC of the membership attacks" in copies.figures


def test_max_interval_is_at_least_as_high_as_each_attack(mia) -> None:
    for measurement in mia.values():
        for attack in measurement.details["attacks"].values():
            assert measurement.value >= attack["auc"] - 1e-4
            assert measurement.interval[1] >= attack["auc_interval"][1] - 1e-4


def test_unseen_real_records_pass_membership_inference(mia) -> None:
    fresh = mia["fresh"]
    for attack in fresh.details["attacks"].values():
        assert attack["auc_interval"][0] < 0.5 + 0.03 and attack["auc_interval"][1] > 0.5 - 0.03
    assert decide(audit=MembershipInferenceAudit(), measurement=fresh, threshold=0.6).passed is True
    assert abs(fresh.value - 0.5) < 0.05 and fresh.interval[0] < 0.5 + 0.01


def test_independent_columns_pass_membership_inference(demo, independent) -> None:
    measurement = MembershipInferenceAudit().measure(demo.context(independent))
    assert abs(measurement.value - 0.5) < 0.05
    assert decide(audit=MembershipInferenceAudit(), measurement=measurement, threshold=0.6).passed is True


def test_perturbed_copies_fail_membership_inference(demo, perturbed) -> None:
    measurement = MembershipInferenceAudit().measure(demo.context(perturbed))
    assert measurement.interval[0] > 0.6


def test_reference_and_non_members_are_different_holdout_records(demo) -> None:
    holdout = demo.holdout.assign(_row=np.arange(len(demo.holdout)))
    members, nonmembers, reference = attack_split(train=demo.train, holdout=holdout, max_rows=10_000,
                                                  rng=np.random.default_rng(0))
    assert not set(nonmembers["_row"]) & set(reference["_row"])
    assert nonmembers["_row"].is_unique and reference["_row"].is_unique and members.index.is_unique
    assert len(members) == len(nonmembers) == len(holdout) // 2
    assert len(nonmembers) + len(reference) == len(holdout)


def test_closest_pairs_put_a_copy_beside_its_training_record(demo, copies, perturbed) -> None:
    pairs = closest_pairs(context=demo.context(copies), count=5)
    assert len(pairs) == 5 and (pairs["distance"] == 0).all()
    for column in ("race", "age", "num_medications"):
        assert (pairs[f"{column} (synthetic)"].astype(str) == pairs[f"{column} (real)"].astype(str)).all()
    assert list(pairs.columns[:3]) == ["distance", "race (synthetic)", "race (real)"]
    far = closest_pairs(context=demo.context(demo.fresh), count=5)
    assert far["distance"].is_monotonic_increasing
    assert len(far) == 5 and (far["distance"] > 0).all()  # real unseen patients are not training records
    perturbed_pairs = closest_pairs(context=demo.context(perturbed), count=3)
    assert (perturbed_pairs["distance"] > 0).all() and (perturbed_pairs["distance"] < 0.05).all()
    assert (perturbed_pairs["num_medications (synthetic)"] == perturbed_pairs["num_medications (real)"] + 1).all()


def test_weighted_auc_matches_sklearn_with_bootstrap_weights(demo) -> None:
    from sklearn.metrics import roc_auc_score

    from evaluation.attack.membership import weighted_auc

    labels = np.r_[np.ones(300), np.zeros(300)]
    scores = np.r_[demo.train["num_medications"].to_numpy()[:300], demo.holdout["num_medications"].to_numpy()[:300]]
    weights = np.random.default_rng(0).integers(0, 3, size=(4, 600))  # integer scores: many ties
    expected = [roc_auc_score(labels, scores, sample_weight=w) for w in weights]
    assert weighted_auc(labels=labels, scores=scores, weights=weights) == pytest.approx(expected, abs=1e-12)


def test_closest_pairs_can_cap_the_training_search(demo, copies) -> None:
    capped = closest_pairs(context=demo.context(copies), count=3, max_train_rows=200)
    full = closest_pairs(context=demo.context(copies), count=3)
    assert len(capped) == 3 and (full["distance"] == 0).all()
    # Only an eighth of training is searched, yet among ~800 copies some source lies in it.
    assert capped["distance"].min() == 0.0
