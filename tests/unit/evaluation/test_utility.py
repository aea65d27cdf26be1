"""TSTR utility audit on the real demo slice."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.base import AuditContext
from evaluation.gate import decide
from evaluation.utility.tstr import TSTRAudit, macro_auc


@pytest.fixture(scope="module")
def fresh_tstr(demo):
    return TSTRAudit().measure(demo.context(demo.fresh))


def test_independent_columns_have_lower_tstr_ratio(demo, independent, fresh_tstr):
    independent_tstr = TSTRAudit().measure(demo.context(independent))
    assert fresh_tstr.not_informative is None and independent_tstr.not_informative is None
    # The synthetic target is independent of the features, so the TSTR model keeps little of the real
    # model's lift above chance, and the default gate catches it; fresh real records pass it.
    assert fresh_tstr.value > 0.6
    assert independent_tstr.value < fresh_tstr.value - 0.3
    assert decide(audit=TSTRAudit(), measurement=fresh_tstr, threshold=0.5).passed is True
    assert decide(audit=TSTRAudit(), measurement=independent_tstr, threshold=0.5).passed is False
    # The plain AUC ratio compresses the difference (chance scores 0.5 / AUC(TRTR)): why it is not gated.
    assert independent_tstr.details["auc_ratio"] > 0.8
    assert independent_tstr.details["tstr_macro_f1"] < fresh_tstr.details["tstr_macro_f1"]


def test_tstr_details_and_interval(demo, fresh_tstr):
    d = fresh_tstr.details
    assert d["trtr_auc"] > 0.5 and d["trtr_auc_interval"][0] > 0.5
    assert d["trtr_macro_f1"] > d["baseline_macro_f1"]
    # Top-level AUC figures are the gradient-boosting family's; each family's lift ratio follows from its AUCs.
    assert d["families"]["gradient_boosting"]["trtr_auc"] == d["trtr_auc"]
    for f in d["families"].values():
        assert f["lift_ratio"] == pytest.approx((f["tstr_auc"] - 0.5) / (f["trtr_auc"] - 0.5), abs=2e-3)
    low, high = fresh_tstr.interval
    assert low < fresh_tstr.value < high
    ratio_low, ratio_high = d["auc_ratio_interval"]
    assert ratio_low < d["auc_ratio"] < ratio_high
    assert set(d["per_class_f1"]) == {"NO", ">30", "<30"}
    assert d["sizes"]["train"] == d["sizes"]["synthetic"] == min(len(demo.train), len(demo.fresh))
    assert d["sizes"]["holdout"] == len(demo.holdout)


def test_unpredictable_target_is_not_informative_and_does_not_block(demo):
    rng = np.random.default_rng(5)
    shuffled = {}
    for name in ("train", "holdout", "fresh"):
        frame = getattr(demo, name).copy()
        frame["readmitted"] = frame["readmitted"].to_numpy()[rng.permutation(len(frame))]
        shuffled[name] = frame
    context = AuditContext(modality="table", train=shuffled["train"], holdout=shuffled["holdout"],
                           synthetic=shuffled["fresh"], schema=demo.schema, target="readmitted")
    audit = TSTRAudit()
    measurement = audit.measure(context)
    assert measurement.not_informative is not None
    result = decide(audit=audit, measurement=measurement, threshold=audit.default_threshold)
    assert result.passed is None and not result.blocks


def test_applies_only_to_categorical_targets(demo):
    audit = TSTRAudit()
    assert audit.applies_to(demo.context(demo.fresh))
    for target in (None, "num_medications"):
        context = demo.context(demo.fresh)
        context.target = target
        assert not audit.applies_to(context)


def test_macro_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=400)
    proba = rng.dirichlet(np.ones(3), size=400)
    proba[np.arange(400), y] += 0.3
    ours = macro_auc(y, proba, np.arange(400)[None, :])[0]
    assert ours == pytest.approx(roc_auc_score(y, proba / proba.sum(1, keepdims=True), multi_class="ovr",
                                               average="macro"), abs=1e-9)


def test_both_families_are_scored_and_their_mean_gates(demo, fresh_tstr):
    families = fresh_tstr.details["families"]
    assert set(families) == {"gradient_boosting", "logistic_regression"}
    for scores in families.values():
        assert scores["trtr_auc"] > 0.5 and scores["macro_f1_ratio"] is not None
        low, high = scores["lift_ratio_interval"]
        assert low <= scores["lift_ratio"] <= high
    assert fresh_tstr.value == pytest.approx(np.mean([f["lift_ratio"] for f in families.values()]), abs=1e-3)
    low, high = fresh_tstr.interval
    assert low < fresh_tstr.value < high


def test_per_class_scores_hide_small_classes(demo):
    holdout = demo.holdout.copy()
    holdout.loc[holdout.index[:3], "readmitted"] = "rare class"  # 3 holdout rows: below the cell minimum
    context = AuditContext(modality="table", train=demo.train, holdout=holdout, synthetic=demo.fresh,
                           schema=demo.schema, target="readmitted")
    details = TSTRAudit().measure(context).details
    for scores in details["families"].values():
        assert "rare class" not in scores["per_class_f1"]
        assert scores["classes_hidden_below_min_count"] == 1


def test_subgroup_utility_names_demographic_groups_and_never_blocks(demo, independent):
    from evaluation.utility.subgroups import SMALL, SubgroupUtilityAudit

    audit = SubgroupUtilityAudit()
    context = demo.context(demo.fresh)
    assert audit.applies_to(context)
    measured = audit.measure(context)
    groups = measured.details["groups"]
    assert {g.split(" = ")[0] for g in groups} == {"race", "gender", "age"}
    assert all(v["holdout_rows"] >= 10 for v in groups.values())
    assert measured.value == min(v["lift_ratio"] for v in groups.values() if v["lift_ratio"] is not None)
    # Small groups are merged, never named.
    counts = demo.holdout["race"].value_counts()
    for level in counts[counts < 10].index:
        assert f"race = {level}" not in groups
    assert all(v["holdout_rows"] >= 10 for g, v in groups.items() if g.endswith(SMALL))
    assert decide(audit=audit, measurement=audit.measure(demo.context(independent)), threshold=None).passed is None
