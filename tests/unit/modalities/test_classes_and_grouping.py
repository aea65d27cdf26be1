"""Shared pieces of labelled record modalities: the class condition (declared or DP proportions) and the
grouping of a subject's records into one privacy unit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthdata.modalities.classes import ClassCondition, resolve_condition
from synthdata.modalities.grouping import cap_per_subject, group_units, split_by_subject, unit_keys
from synthdata.privacy.dp_statistics import allocate, dp_class_proportions

LABELS = ["a"] * 700 + ["b"] * 300


def test_dp_proportions_are_close_at_large_epsilon_and_noisy_at_small() -> None:
    rng = np.random.default_rng(0)
    sharp = dp_class_proportions(labels=LABELS, classes=["a", "b", "c"], epsilon=50.0, sensitivity=1, rng=rng)
    assert abs(sharp["a"] - 0.7) < 0.01 and abs(sharp["c"]) < 0.01 and abs(sum(sharp.values()) - 1) < 2e-3
    spread = [dp_class_proportions(labels=LABELS[:20], classes=["a", "b"], epsilon=0.1, sensitivity=4,
                                   rng=rng)["a"] for _ in range(50)]
    assert np.std(spread) > 0.1  # scale 40 noise on counts of 14 and 6: far from the truth
    with pytest.raises(ValueError, match="declared classes"):
        dp_class_proportions(labels=["a", "z"], classes=["a"], epsilon=1.0, sensitivity=1, rng=rng)


def test_resolve_spends_only_without_declared_proportions() -> None:
    rng = np.random.default_rng(1)
    declared, pre = resolve_condition(classes=["a", "b"], declared={"a": 1, "b": 1}, labels=LABELS, epsilon=0.3,
                                      sensitivity=1, rng=rng)
    assert declared.proportions == (0.5, 0.5) and pre.epsilon == 0.0
    learned, pre = resolve_condition(classes=["a", "b"], declared=None, labels=LABELS, epsilon=5.0, sensitivity=1,
                                     rng=rng)
    assert pre.epsilon == 5.0 and pre.columns == ["class proportions"] and abs(learned.proportions[0] - 0.7) < 0.02


def test_draw_follows_the_proportions_exactly_and_round_trips_labels() -> None:
    condition = ClassCondition(("a", "b", "c"), (0.5, 0.3, 0.2))
    rows = condition.draw(n=11, rng=np.random.default_rng(0))
    assert rows.shape == (11, 3) and set(rows.sum(axis=1)) == {1.0}
    assert rows.sum(axis=0).tolist() == allocate(proportions=[0.5, 0.3, 0.2], n=11).tolist() == [6, 3, 2]
    assert list(condition.labels(condition.one_hot(["c", "a"]))) == ["c", "a"]
    assert ClassCondition.from_dict(condition.to_dict()) == condition


def test_subjects_stay_on_one_side_and_are_capped() -> None:
    subjects = np.array(["s1"] * 5 + ["s2"] * 2 + ["s3"] * 4 + ["s4"] * 3)
    held = split_by_subject(subjects=subjects, holdout_fraction=0.5, seed=3)
    assert held is not None and held.sum() not in (0, len(subjects))
    for s in np.unique(subjects):
        assert len(set(held[subjects == s])) == 1
    assert split_by_subject(subjects=np.array(["only"] * 4), holdout_fraction=0.5, seed=3) is None
    kept = cap_per_subject(subjects=subjects, cap=3, seed=0)
    assert np.all(np.diff(kept) > 0)
    assert {s: int((subjects[kept] == s).sum()) for s in np.unique(subjects)} == {"s1": 3, "s2": 2, "s3": 3, "s4": 3}
    assert len(cap_per_subject(subjects=np.array(["only"] * 9), cap=2, seed=0)) == 9


def test_one_subject_never_moves_another_between_the_sides_or_changes_their_records() -> None:
    """DP over the whole dataset: adding a person must leave everyone else's split and records unchanged."""
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"p{i:03d}" for i in range(60)], rng.integers(1, 9, size=60))
    added = np.concatenate([subjects, np.array(["newcomer"] * 5)])
    before = split_by_subject(subjects=subjects, holdout_fraction=0.3, seed=4)
    after = split_by_subject(subjects=added, holdout_fraction=0.3, seed=4)
    assert np.array_equal(before, after[: len(subjects)])
    assert 0.1 < before.mean() < 0.5  # binomial around the fraction
    kept_before = cap_per_subject(subjects=subjects, cap=3, seed=9)
    kept_after = cap_per_subject(subjects=added, cap=3, seed=9)
    assert np.array_equal(kept_before, kept_after[kept_after < len(subjects)])


def test_group_units_puts_each_subjects_rows_in_one_unit() -> None:
    subjects = np.array(["b", "a", "b", "c", "b"])
    rows = torch.arange(5, dtype=torch.float32).unsqueeze(1).repeat(1, 2)
    units = group_units(rows=rows, keys=unit_keys(subjects=subjects, unit="subject"))
    assert units.data.shape == (3, 3, 2) and units.mask.sum().item() == 5
    contents = [sorted(units.data[i][units.mask[i]][:, 0].tolist()) for i in range(3)]
    assert contents == [[1.0], [0.0, 2.0, 4.0], [3.0]]
    single = group_units(rows=rows, keys=unit_keys(subjects=subjects, unit="record"))
    assert single.data.shape == (5, 1, 2) and bool(single.mask.all())
