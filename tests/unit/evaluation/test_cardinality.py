"""Cardinality fidelity: the KS distance between real and synthetic children per parent (0 on identical
data, large on shifted data) and whether the synthetic counts stay in the real range."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.fidelity.cardinality import cardinality_fidelity, relationship_fidelity


def test_identical_data_scores_zero_and_lies_in_range() -> None:
    counts = np.random.default_rng(0).poisson(3, size=500)
    result = relationship_fidelity(relationship="A->B", real=counts, synthetic=counts.copy())
    assert result.ks == 0.0
    assert result.within_real_range and result.outside_share == 0.0
    assert result.synthetic_parents == 500


def test_shifted_data_scores_large_and_leaves_the_range() -> None:
    rng = np.random.default_rng(1)
    real = rng.integers(0, 5, size=400)
    result = relationship_fidelity(relationship="A->B", real=real, synthetic=real + 3)
    assert result.ks > 0.5
    assert not result.within_real_range
    assert result.outside_share == pytest.approx(float(np.mean(real + 3 > real.max())))


def test_the_same_distribution_sampled_twice_scores_small() -> None:
    rng = np.random.default_rng(2)
    shares = [0.1, 0.5, 0.3, 0.1]
    result = relationship_fidelity(relationship="A->B", real=rng.choice(4, 5000, p=shares),
                                   synthetic=rng.choice(4, 5000, p=shares))
    assert result.ks < 0.04


def test_a_narrower_synthetic_range_is_within_the_real_one() -> None:
    result = relationship_fidelity(relationship="A->B", real=np.array([0, 1, 2, 9]), synthetic=np.array([1, 1, 2]))
    assert result.within_real_range and result.outside_share == 0.0 and result.ks > 0


def test_an_empty_side_has_no_distance() -> None:
    result = relationship_fidelity(relationship="A->B", real=np.array([1, 2]), synthetic=np.array([], dtype=int))
    assert math.isnan(result.ks) and result.synthetic_parents == 0


def test_every_relationship_is_measured_and_the_names_must_match() -> None:
    real = {"P->A": np.array([1, 1, 2]), "A->D": np.array([3, 4, 5])}
    results = cardinality_fidelity(real=real, synthetic={"P->A": np.array([1, 2]), "A->D": np.array([30, 40])})
    assert set(results) == {"P->A", "A->D"}
    assert results["A->D"].ks == 1.0 and not results["A->D"].within_real_range
    with pytest.raises(ValueError, match="different relationships"):
        cardinality_fidelity(real=real, synthetic={"P->A": np.array([1])})
