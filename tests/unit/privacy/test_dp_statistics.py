"""DP mechanisms for column domains: accuracy at huge epsilon, privacy at small epsilon (seeded statistics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthdata.privacy.dp_statistics import (
    GRID_EDGES,
    NoSignalError,
    category_threshold,
    dp_categories,
    dp_numeric_bounds,
)


def _bin(value: float) -> tuple[float, float]:
    index = int(np.searchsorted(GRID_EDGES, value, side="right")) - 1
    return float(GRID_EDGES[index]), float(GRID_EDGES[index + 1])


def test_grid_is_public_symmetric_and_hits_round_numbers() -> None:
    assert GRID_EDGES[0] == -1e9 and GRID_EDGES[-1] == 1e9
    assert np.all(np.diff(GRID_EDGES) > 0)
    np.testing.assert_array_equal(GRID_EDGES, -GRID_EDGES[::-1])
    for edge in [0.0, 1.0, 10.0, 100.0, 1e6]:
        assert edge in GRID_EDGES


@pytest.mark.parametrize("loc,scale", [(50.0, 10.0), (-3.0, 0.2), (2e5, 3e4)])
def test_huge_epsilon_lands_on_the_bins_of_the_true_quantiles(loc: float, scale: float) -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(loc, scale, 5000)
    lo, hi = dp_numeric_bounds(values=values, epsilon=1e6, sensitivity=1, rng=rng)
    q_lo, q_hi = np.quantile(values, [0.01, 0.99], method="inverted_cdf")
    assert lo == _bin(q_lo)[0]  # outer (lower) edge of the bin holding the 1% quantile
    assert hi == _bin(q_hi)[1]  # outer (upper) edge of the bin holding the 99% quantile


def test_quantile_arguments_and_outliers() -> None:
    rng = np.random.default_rng(2)
    values = np.concatenate([np.arange(1, 1001, dtype=float), [5e12]])
    lo, hi = dp_numeric_bounds(values=values, epsilon=1e6, sensitivity=1, rng=rng, lower_quantile=0.0005,
                               upper_quantile=1.0)
    assert lo == 1.0 and hi == 1e9  # beyond the grid lands in the outermost bin
    lo, hi = dp_numeric_bounds(values=values, epsilon=1e6, sensitivity=1, rng=rng, lower_quantile=0.5,
                               upper_quantile=0.5 + 1e-9)
    assert (lo, hi) == _bin(501.0)
    with pytest.raises(ValueError):
        dp_numeric_bounds(values=values, epsilon=1.0, sensitivity=1, rng=rng, lower_quantile=0.9,
                          upper_quantile=0.1)


@pytest.mark.parametrize("epsilon", [1e6, 1.0, 0.05])
@pytest.mark.parametrize("values", [np.full(500, 3.0), np.zeros(3), np.array([np.nan, -7.0]),
                                    np.random.default_rng(0).lognormal(2, 2, 800)])
def test_bounds_are_ordered_grid_edges_or_no_signal(epsilon: float, values: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        try:
            lo, hi = dp_numeric_bounds(values=values, epsilon=epsilon, sensitivity=2, rng=rng)
        except NoSignalError:
            assert epsilon < 1e6  # with a huge epsilon every non-empty column has signal
            continue
        assert lo < hi and lo in GRID_EDGES and hi in GRID_EDGES


def test_empty_or_swamped_data_has_no_signal() -> None:
    rng = np.random.default_rng(4)
    with pytest.raises(NoSignalError):
        dp_numeric_bounds(values=np.array([]), epsilon=1e6, sensitivity=1, rng=rng)
    with pytest.raises(NoSignalError):  # 20 rows cannot outweigh noise of scale 300
        dp_numeric_bounds(values=np.full(20, 5.0), epsilon=0.01, sensitivity=3, rng=rng)


def test_constant_column_gets_its_bin() -> None:
    for epsilon in [1e6, 1.0]:
        lo, hi = dp_numeric_bounds(values=np.full(500, 3.0), epsilon=epsilon, sensitivity=1,
                                   rng=np.random.default_rng(0))
        assert (lo, hi) == _bin(3.0)


def test_moderate_epsilon_is_still_useful() -> None:
    rng = np.random.default_rng(4)
    values = rng.integers(0, 151, 4000).astype(float)
    for _ in range(10):
        lo, hi = dp_numeric_bounds(values=values, epsilon=0.5, sensitivity=3, rng=rng)
        assert -1 <= lo <= 12 and 150 <= hi <= 240


def test_randomness_comes_only_from_the_rng() -> None:
    values = np.random.default_rng(5).normal(0, 1, 3000)
    cats = [str(v) for v in np.random.default_rng(6).integers(0, 30, 300)]
    first = (dp_numeric_bounds(values=values, epsilon=1.0, sensitivity=1, rng=np.random.default_rng(9)),
             dp_categories(values=cats, epsilon=0.3, delta=1e-3, sensitivity=1, rng=np.random.default_rng(9)))
    again = (dp_numeric_bounds(values=values, epsilon=1.0, sensitivity=1, rng=np.random.default_rng(9)),
             dp_categories(values=cats, epsilon=0.3, delta=1e-3, sensitivity=1, rng=np.random.default_rng(9)))
    assert first == again


# -------------------------------------------------------------------------------------------- categories


def test_threshold_matches_the_classic_formula_for_one_row_per_unit() -> None:
    for epsilon, delta in [(1.0, 1e-5), (0.1, 1e-6), (3.0, 0.01)]:
        expected = 1 + math.log(1 / (2 * delta)) / epsilon
        assert category_threshold(epsilon=epsilon, delta=delta, sensitivity=1) == pytest.approx(expected)
    # s rows per unit: tau = (s / eps) ln((s - 1 + e^eps) / (2 delta)); a huge epsilon approaches s itself
    assert category_threshold(epsilon=1.0, delta=1e-5, sensitivity=3) == pytest.approx(
        3 * math.log((2 + math.e) / 2e-5))
    assert category_threshold(epsilon=1e9, delta=1e-5, sensitivity=3) == pytest.approx(3.0)


def test_huge_epsilon_keeps_every_frequent_category_sorted() -> None:
    values = ["zeta"] * 50 + ["alpha"] * 2 + ["mid"] * 7 + ["once"]
    kept = dp_categories(values=values, epsilon=1e6, delta=1e-6, sensitivity=1, rng=np.random.default_rng(0))
    assert kept == ["alpha", "mid", "zeta"]
    assert dp_categories(values=[], epsilon=1.0, delta=1e-6, sensitivity=1, rng=np.random.default_rng(0)) == []
    assert dp_categories(values=["a", None, "a", "a"], epsilon=1e6, delta=1e-6, sensitivity=1,  # type: ignore[list-item]
                         rng=np.random.default_rng(0)) == ["a"]


def test_one_unit_category_is_never_kept_at_small_epsilon() -> None:
    rng = np.random.default_rng(7)
    values = ["common"] * 400 + ["rare"]
    hits = sum("rare" in dp_categories(values=values, epsilon=0.1, delta=1e-6, sensitivity=1, rng=rng)
               for _ in range(1000))
    assert hits == 0


def test_one_unit_category_release_rate_is_at_most_delta() -> None:
    """A unit with 3 rows all in one category: released with probability delta * e^eps / (2 + e^eps)."""
    epsilon, delta, sensitivity, trials = 0.5, 0.05, 3, 4000
    rng = np.random.default_rng(8)
    values = ["common"] * 300 + ["rare"] * sensitivity
    hits = sum("rare" in dp_categories(values=values, epsilon=epsilon, delta=delta, sensitivity=sensitivity,
                                       rng=rng) for _ in range(trials))
    rate = hits / trials
    expected = delta * math.exp(epsilon) / (2 + math.exp(epsilon))
    sigma = math.sqrt(expected * (1 - expected) / trials)
    assert abs(rate - expected) < 4 * sigma
    assert rate <= delta


def test_unit_spread_over_several_categories_stays_below_delta() -> None:
    epsilon, delta, sensitivity, trials = 1.0, 0.05, 4, 4000
    rng = np.random.default_rng(10)
    values = ["common"] * 300 + ["r1", "r2", "r3", "r4"]
    hits = sum(bool({"r1", "r2", "r3", "r4"} & set(dp_categories(
        values=values, epsilon=epsilon, delta=delta, sensitivity=sensitivity, rng=rng))) for _ in range(trials))
    assert hits / trials <= delta


@pytest.mark.parametrize("kwargs", [dict(epsilon=0.0), dict(epsilon=float("inf")), dict(delta=0.0),
                                    dict(delta=1.0), dict(sensitivity=0)])
def test_invalid_budgets_are_refused(kwargs: dict) -> None:
    arguments = dict(epsilon=1.0, delta=1e-5, sensitivity=1) | kwargs
    with pytest.raises(ValueError):
        dp_categories(values=["a"], rng=np.random.default_rng(0), **arguments)
    if "delta" not in kwargs:
        arguments.pop("delta")
        with pytest.raises(ValueError):
            dp_numeric_bounds(values=np.ones(3), rng=np.random.default_rng(0), **arguments)
