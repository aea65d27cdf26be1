"""DP column distributions of a table and the calibration of model output to them."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import torch
from scipy import stats

from synthdata.modalities.base import Units
from synthdata.modalities.table.encoding import TableCodec
from synthdata.modalities.table.marginals import (
    PHANTOMS_PER_LIST,
    THRESHOLD_SIGMAS,
    _column_shares,
    TableMarginals,
    calibrate,
    cell_edges,
    column_weight,
    floor_sigmas,
    measure,
    unit_histograms,
)
from synthdata.modalities.table.schema import parse_schema

SCHEMA = parse_schema({
    "subject": "pid",
    "columns": {
        "pid": {"type": "identifier"},
        "age": {"type": "numeric", "min": 0, "max": 120, "integer": True},
        "stay": {"type": "numeric", "min": 1, "max": 14, "integer": True},
        "bmi": {"type": "numeric", "min": 10.0, "max": 80.0, "nullable": True},
        "race": {"type": "categorical", "categories": ["A", "B", "C", "D", "E"], "nullable": True},
        "code": {"type": "categorical", "categories": [f"c{i:02d}" for i in range(40)]},
    },
})
CODEC = TableCodec(schema=SCHEMA)
RACE_SHARES = [0.70, 0.18, 0.07, 0.03, 0.015]  # the rest (1.5%) missing


def _frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    missing = rng.random(n) < 0.25
    race = rng.choice(["A", "B", "C", "D", "E", None], n, p=[*RACE_SHARES, 1 - sum(RACE_SHARES)])
    return pl.DataFrame({
        "pid": [f"p{i}" for i in range(n)],
        "age": np.clip(rng.normal(60, 15, n).round(), 0, 120).astype(np.int64),
        "stay": rng.integers(1, 15, n),
        "bmi": pl.Series(np.where(missing, np.nan, rng.normal(28, 5, n)), nan_to_null=True),
        "race": pl.Series(race, dtype=pl.String),
        "code": rng.choice([f"c{i:02d}" for i in range(40)], n, p=np.r_[[0.5], np.full(39, 0.5 / 39)]),
    })


def _units(frame: pl.DataFrame, rows_per_unit: list[int] | None = None) -> Units:
    encoded = torch.from_numpy(CODEC.encode(frame))
    if rows_per_unit is None:
        return Units(data=encoded[:, None, :], mask=torch.ones(len(encoded), 1, dtype=torch.bool))
    width = max(rows_per_unit)
    data = torch.zeros(len(rows_per_unit), width, CODEC.width)
    mask = torch.zeros(len(rows_per_unit), width, dtype=torch.bool)
    start = 0
    for unit, count in enumerate(rows_per_unit):
        data[unit, :count] = encoded[start:start + count]
        mask[unit, :count] = True
        start += count
    return Units(data=data, mask=mask)


def test_one_unit_moves_each_column_histogram_by_at_most_one() -> None:
    """The sensitivity the Gaussian noise is calibrated to: a patient with several rows counts once per column."""
    frame = _frame(50)
    twice = pl.concat([frame, frame.head(1), frame.head(1)])  # one extra patient with two identical rows
    without = unit_histograms(units=_units(frame), codec=CODEC)
    with_unit = unit_histograms(units=_units(twice, rows_per_unit=[1] * 50 + [2]), codec=CODEC)
    changes = [float(np.linalg.norm(with_unit[name] - without[name])) for name in without]
    assert max(changes) == pytest.approx(1.0)
    assert math.sqrt(sum(c * c for c in changes)) <= math.sqrt(len(changes)) + 1e-9


def test_measured_shares_follow_the_data_and_drop_cells_under_the_noise() -> None:
    frame = _frame(20_000)
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("c39")).otherwise(pl.lit("c00"))
                               .alias("code"))  # one patient holds c39: under any noise threshold
    marginals, mechanism = measure(units=_units(frame), codec=CODEC, epsilon=2.0, delta=1e-6,
                                   rng=np.random.default_rng(0))
    assert mechanism.sensitivity == pytest.approx(math.sqrt(sum(column_weight(b) ** 2 for b, _ in CODEC.blocks)))
    assert marginals.sigma == pytest.approx(mechanism.noise_multiplier * mechanism.sensitivity)
    assert marginals.threshold == pytest.approx(THRESHOLD_SIGMAS * marginals.sigma)
    race = np.array(marginals.shares["race"])
    assert race[:5] == pytest.approx(RACE_SHARES, abs=0.01)
    code = np.array(marginals.shares["code"])
    assert code[0] == pytest.approx(1.0, abs=0.002) and code[39] < 1e-4  # (a rest within noise may spread thinly)
    for shares in marginals.shares.values():
        assert min(shares) >= 0 and sum(shares) == pytest.approx(1.0)
    again, _ = measure(units=_units(frame), codec=CODEC, epsilon=2.0, delta=1e-6, rng=np.random.default_rng(1))
    assert again.shares["age"] != marginals.shares["age"]  # noisy, not the exact counts


def _exact(frame: pl.DataFrame) -> TableMarginals:
    histograms = unit_histograms(units=_units(frame), codec=CODEC)
    return TableMarginals(shares={k: (v / v.sum()).tolist() for k, v in histograms.items()}, sigma=0.0, threshold=0.0)


def test_calibration_restores_every_column_of_a_collapsed_model() -> None:
    """A model whose every sample is the same row (DP-SGD collapse) yields the measured distributions."""
    real = _frame(5000)
    collapsed = np.tile(CODEC.encode(real.head(1)), (5000, 1))
    assert all(CODEC.decode(collapsed)[c].n_unique() == 1 for c in ("age", "race", "code"))
    synthetic = CODEC.decode(calibrate(array=collapsed, codec=CODEC, marginals=_exact(real),
                                       rng=np.random.default_rng(0)))
    for name in ("race", "code"):
        real_share = real[name].value_counts(normalize=True).sort(name)
        fake_share = synthetic[name].value_counts(normalize=True).sort(name)
        assert real_share[name].to_list() == fake_share[name].to_list()  # no level erased, none invented
        gap = np.abs(real_share["proportion"].to_numpy() - fake_share["proportion"].to_numpy())
        assert gap.max() <= 0.02  # each row's level is drawn: multinomial noise of 0.005 sd at a share of 0.18
    for name in ("age", "stay", "bmi"):
        real_values, fake_values = real[name].drop_nulls().to_numpy(), synthetic[name].drop_nulls().to_numpy()
        assert stats.ks_2samp(real_values, fake_values).statistic < 0.05, name
        assert fake_values.std() == pytest.approx(real_values.std(), rel=0.1), name
    assert synthetic["bmi"].null_count() / 5000 == pytest.approx(real["bmi"].null_count() / 5000, abs=0.003)
    assert synthetic["stay"].to_list() == [round(v) for v in synthetic["stay"].to_list()]


def test_calibration_keeps_the_models_ordering_of_rows() -> None:
    """Monotone per column: the dependence the model learned survives."""
    real = _frame(4000)
    rng = np.random.default_rng(3)
    output = rng.uniform(-0.2, 0.2, (4000, CODEC.width))  # a spread-collapsed model that still orders rows
    age = next(where for block, where in CODEC.blocks if block.column == "age").start
    stay = next(where for block, where in CODEC.blocks if block.column == "stay").start
    output[:, stay] = output[:, age] * 0.5 + rng.normal(0, 0.02, 4000)  # stay follows age
    calibrated = calibrate(array=output, codec=CODEC, marginals=_exact(real), rng=np.random.default_rng(0))
    assert stats.spearmanr(output[:, age], calibrated[:, age]).statistic == pytest.approx(1.0)
    before = stats.spearmanr(output[:, age], output[:, stay]).statistic
    after = stats.spearmanr(calibrated[:, age], calibrated[:, stay]).statistic
    assert before > 0.9 and after == pytest.approx(before, abs=0.02)
    # categorical: rows the model scores highest for the second level get it (its share is 18%)
    race = next(where for block, where in CODEC.blocks if block.column == "race")
    output[:, race] = -1.0
    output[:800, race.start + 1] = 1.0  # the model wants "B" for the first 800 rows (20%)
    decoded = CODEC.decode(calibrate(array=output, codec=CODEC, marginals=_exact(real), rng=np.random.default_rng(0)))
    assert (decoded["race"][:800] == "B").mean() > 0.85
    assert (decoded["race"][800:] == "B").mean() < 0.01


def test_a_declared_target_keeps_how_columns_differ_between_its_classes() -> None:
    """Split by the target, a collapsed model's calibrated rows still carry the class-to-column link
    (what a model trained on the synthetic rows needs); unsplit, the link is lost."""
    real = _frame(6000)
    race = real["race"].fill_null("A")
    real = real.with_columns(race.alias("race"),  # the class decides the code: A -> c00, else c01
                             pl.when(race == "A").then(pl.lit("c00")).otherwise(pl.lit("c01")).alias("code"))
    units = _units(real)
    split, mechanism = measure(units=units, codec=CODEC, epsilon=4.0, delta=1e-6, target="race",
                               rng=np.random.default_rng(0))
    # splitting costs nothing: the bound is that of the unsplit columns
    assert mechanism.sensitivity == pytest.approx(math.sqrt(sum(column_weight(b) ** 2 for b, _ in CODEC.blocks)))
    assert split.conditional is not None and split.conditional["code"][0][0] == pytest.approx(1.0, abs=0.01)
    collapsed = np.tile(CODEC.encode(real.head(1)), (4000, 1))
    for marginals, linked in ((split, True), (measure(units=units, codec=CODEC, epsilon=4.0, delta=1e-6,
                                                      rng=np.random.default_rng(0))[0], False)):
        synthetic = CODEC.decode(calibrate(array=collapsed, codec=CODEC, marginals=marginals,
                                           rng=np.random.default_rng(1)))
        agree = ((synthetic["race"] == "A") == (synthetic["code"] == "c00")).mean()
        assert (agree > 0.97) if linked else (agree < 0.7)
        assert (synthetic["race"] == "A").mean() == pytest.approx(0.715, abs=0.03)


def test_a_large_public_domain_gets_no_phantom_levels() -> None:
    """15,000 declared codes, 40 used: pure noise over the empty ones must not invent codes."""
    codes = [f"d{i:05d}" for i in range(15_000)]
    schema = parse_schema({"columns": {"dx": {"type": "categorical", "categories": codes}}})
    codec = TableCodec(schema=schema)
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"dx": rng.choice(codes[:40], 20_000)})
    encoded = torch.from_numpy(codec.encode(frame))
    units = Units(data=encoded[:, None, :], mask=torch.ones(len(encoded), 1, dtype=torch.bool))
    phantoms = []
    for seed in range(5):
        marginals, _ = measure(units=units, codec=codec, epsilon=1.0, delta=1e-6, rng=np.random.default_rng(seed))
        shares = np.array(marginals.shares["dx"])
        phantoms.append(int((shares[40:] > 0).sum()))
        assert (shares[:40] > 0).all()  # 500 patients each: far above the noise
    assert sum(phantoms) <= 5  # about half a phantom cell per release expected; 2 sigma would give ~340


def test_a_long_tail_under_the_noise_goes_to_other_not_to_the_measured_codes() -> None:
    """Half the patients hold codes too rare to measure: the measured codes keep their own shares (renormalised,
    they came out twice as large) and the rest is released as the column's `other` category."""
    codes = [f"d{i:03d}" for i in range(600)] + ["(other code)"]
    schema = parse_schema({"columns": {"dx": {"type": "categorical", "categories": codes, "other": "(other code)"}}})
    codec = TableCodec(schema=schema)
    rng = np.random.default_rng(0)
    values = np.where(rng.random(20_000) < 0.5, rng.choice(codes[:10], 20_000), rng.choice(codes[10:600], 20_000))
    encoded = torch.from_numpy(codec.encode(pl.DataFrame({"dx": values})))
    units = Units(data=encoded[:, None, :], mask=torch.ones(len(encoded), 1, dtype=torch.bool))
    marginals, _ = measure(units=units, codec=codec, epsilon=0.2, delta=1e-6, rng=np.random.default_rng(1))
    assert marginals.threshold > 34  # the rare codes (about 17 patients each) are under the noise floor
    shares = np.array(marginals.shares["dx"])
    assert shares[:10] == pytest.approx(np.full(10, 0.05), abs=0.01)
    assert shares[-1] == pytest.approx(0.5, abs=0.03)


def test_column_weights_follow_the_public_cells_and_bound_the_sensitivity() -> None:
    """A long public list weighs more (its floor is higher), a short one 1; both come from the codec alone.
    One unit moves a column's weighted histogram by at most its weight, so the noise covers sqrt(sum w^2)."""
    weights = {b.column: column_weight(b) for b, _ in CODEC.blocks}
    assert weights["race"] == 1.0 and 1.0 < weights["code"] < 1.2  # 6 cells: the lowest floor; 40 a bit higher
    codes = TableCodec(schema=parse_schema({"columns": {"dx": {"type": "categorical",
                                                               "categories": [f"d{i}" for i in range(1400)]}}}))
    assert column_weight(codes.blocks[0][0]) == pytest.approx(1.7, abs=0.05)
    frame = _frame(50)
    twice = pl.concat([frame, frame.head(1)])
    without = unit_histograms(units=_units(frame), codec=CODEC)
    with_unit = unit_histograms(units=_units(twice), codec=CODEC)
    moved = math.sqrt(sum(float(np.linalg.norm(weights[c] * (with_unit[c] - without[c]))) ** 2 for c in without))
    _, mechanism = measure(units=_units(frame), codec=CODEC, epsilon=1.0, delta=1e-6, rng=np.random.default_rng(0))
    assert moved <= mechanism.sensitivity + 1e-9


def test_a_long_list_keeps_its_measured_codes_when_a_target_is_declared() -> None:
    """Split by a target, the unmeasurable tail of each class went nowhere and the measured codes came out
    twice as large; a long list is now measured whole and its tail released as `other`."""
    codes = [f"d{i:03d}" for i in range(600)] + ["(other code)"]
    schema = parse_schema({"columns": {
        "dx": {"type": "categorical", "categories": codes, "other": "(other code)"},
        "y": {"type": "categorical", "categories": ["no", "yes"]}}})
    codec = TableCodec(schema=schema)
    rng = np.random.default_rng(0)
    values = np.where(rng.random(20_000) < 0.5, rng.choice(codes[:10], 20_000), rng.choice(codes[10:600], 20_000))
    frame = pl.DataFrame({"dx": values, "y": rng.choice(["no", "yes"], 20_000, p=[0.8, 0.2])})
    encoded = torch.from_numpy(codec.encode(frame))
    units = Units(data=encoded[:, None, :], mask=torch.ones(len(encoded), 1, dtype=torch.bool))
    marginals, _ = measure(units=units, codec=codec, epsilon=0.3, delta=1e-6, target="y", rng=np.random.default_rng(1))
    shares = np.array(marginals.shares["dx"])
    assert shares[:10] == pytest.approx(np.full(10, 0.05), abs=0.01)
    assert shares[-1] == pytest.approx(0.5, abs=0.03)


def test_a_count_column_keeps_its_spread_without_phantom_far_values() -> None:
    """A skewed count (80% zeros, a tail to about 20 in a public range of 0-80): cells past the noise floor
    used to vanish (spread 0.4-0.6 of the real one) while single noise spikes far out doubled it.  Now the
    unmeasured units continue the tail and lone far cells are read as noise."""
    schema = parse_schema({"columns": {"visits": {"type": "numeric", "min": 0, "max": 80, "integer": True}}})
    codec = TableCodec(schema=schema)
    rng = np.random.default_rng(0)
    visits = np.minimum(rng.negative_binomial(0.15, 0.3, 15_000), 80)
    encoded = torch.from_numpy(codec.encode(pl.DataFrame({"visits": visits})))
    units = Units(data=encoded[:, None, :], mask=torch.ones(len(encoded), 1, dtype=torch.bool))
    edges = (cell_edges(codec.blocks[0][0]) + 1) / 2 * 80
    middles = (edges[:-1] + edges[1:]) / 2
    ratios = []
    for seed in range(8):
        marginals, _ = measure(units=units, codec=codec, epsilon=0.1, delta=1e-6, rng=np.random.default_rng(seed))
        shares = np.array(marginals.shares["visits"])
        mean = (shares * middles).sum()
        ratios.append(math.sqrt((shares * (middles - mean) ** 2).sum()) / visits.std())
        # no phantom spike far out (the real maximum is about 20): a noise spike would hold a floor's share
        # (over 2 noise sd, about 0.8% here); the power-law half of the tail leaves a smooth trace (about 3e-5 per cell)
        assert shares[30:].max() < 1e-4 and shares[30:].sum() < 1e-3
    assert max(ratios) <= 1.33
    assert sum(0.75 <= r for r in ratios) >= 6


def test_a_count_tail_within_the_noise_is_kept_not_cut() -> None:
    """Counts 0-2 measured above the floor and 1% of the units beyond, under the noise of the kept cells' sum:
    that rest continues the tail (it was dropped: the column then stopped at 2 and its spread collapsed)."""
    schema = parse_schema({"columns": {"visits": {"type": "numeric", "min": 0, "max": 40, "integer": True}}})
    block = TableCodec(schema=schema).blocks[0][0]
    counts = np.zeros(41)
    counts[:3] = [9_000.0, 800.0, 100.0]  # 9,900 of 10,000 units; 100 hold 3 visits or more
    sigma = 30.0  # the rest (100) is under 2 noise sd of the three kept cells' sum (104)
    shares = _column_shares(counts, floor=2 * sigma, sigma=sigma, total=10_000.0, block=block)
    assert shares[3:].sum() == pytest.approx(0.01)
    assert shares[3] > shares[4] > shares[10] > 0  # a decaying tail, inside the public range
    # kept cells whose noise adds up to more than the units leave no rest: shares, not 0 / 0
    counts[:3] = [9_100.0, 850.0, 120.0]
    shares = _column_shares(counts, floor=2 * sigma, sigma=sigma, total=10_000.0, block=block)
    assert np.isfinite(shares).all() and shares[3:].sum() == 0 and shares.sum() == pytest.approx(1.0)


def test_a_long_list_is_split_by_the_target_only_when_the_noise_allows() -> None:
    """Short columns are always split; a 600-code list only when its 1% codes would show after pooling."""
    codes = [f"d{i:03d}" for i in range(600)]
    schema = parse_schema({"columns": {"dx": {"type": "categorical", "categories": codes},
                                       "sex": {"type": "categorical", "categories": ["F", "M"]},
                                       "y": {"type": "categorical", "categories": ["no", "yes"]}}})
    codec = TableCodec(schema=schema)
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"dx": rng.choice(codes[:50], 20_000), "sex": rng.choice(["F", "M"], 20_000),
                          "y": rng.choice(["no", "yes"], 20_000)})
    encoded = torch.from_numpy(codec.encode(frame))
    units = Units(data=encoded[:, None, :], mask=torch.ones(len(encoded), 1, dtype=torch.bool))
    for epsilon, split in ((0.05, False), (5.0, True)):
        marginals, _ = measure(units=units, codec=codec, epsilon=epsilon, delta=1e-6, target="y",
                               rng=np.random.default_rng(0))
        assert ("dx" in marginals.conditional) is split and "sex" in marginals.conditional


def test_a_one_percent_code_of_a_long_list_survives_the_target_split_rule() -> None:
    """A 600-code list, a three-level target and epsilon such that the split list's pooled floor would sit at
    0.9% of the units: the list stays unsplit, so a code held by 1.2% of the units shows in every draw (split,
    the pooled floor was 0.7 noise sd under it and lost it in about one draw in four)."""
    codes = [f"d{i:03d}" for i in range(600)]
    schema = parse_schema({"columns": {"dx": {"type": "categorical", "categories": codes},
                                       "y": {"type": "categorical", "categories": ["a", "b", "c"]}}})
    codec = TableCodec(schema=schema)
    n, rng = 20_000, np.random.default_rng(0)
    dx = np.where(np.arange(n) < 240, "d000", rng.choice(codes[1:40], n))  # d000: 1.2% of the units
    frame = pl.DataFrame({"dx": dx, "y": rng.choice(["a", "b", "c"], n)})
    encoded = torch.from_numpy(codec.encode(frame))
    units = Units(data=encoded[:, None, :], mask=torch.ones(n, 1, dtype=torch.bool))
    block = codec.blocks[0][0]
    epsilon = 0.1
    for _ in range(40):  # find the epsilon whose pooled floor is 0.9% of the units (public numbers only)
        _, mechanism = measure(units=units, codec=codec, epsilon=epsilon, delta=1e-6, rng=np.random.default_rng(0))
        pooled = floor_sigmas(block) * mechanism.sigma / column_weight(block) * math.sqrt(3)
        if abs(pooled / n - 0.009) < 0.0005:
            break
        epsilon *= pooled / n / 0.009
    assert abs(pooled / n - 0.009) < 0.0005
    shown = 0
    for seed in range(20):
        marginals, _ = measure(units=units, codec=codec, epsilon=epsilon, delta=1e-6, target="y",
                               rng=np.random.default_rng(seed))
        assert "dx" not in (marginals.conditional or {})
        shown += 0.006 <= marginals.shares["dx"][0] <= 0.024
    assert shown == 20


def test_a_short_list_keeps_a_category_between_one_and_two_noise_sd_and_invents_under_half_a_level() -> None:
    """A short list's floor is its phantom count (1.4 sd for 6 cells), not 2 sd: a level held by 1.5 noise sd of
    units shows (with the 2-sd clamp it vanished), while pure noise still survives in at most half a level of
    the column on average, as the floor promises."""
    race = next(b for b, _ in CODEC.blocks if b.column == "race")
    sigma = 10.0
    floor = floor_sigmas(race) * sigma
    assert floor < THRESHOLD_SIGMAS * sigma and column_weight(race) == 1.0  # the weight (the noise) is unchanged
    held = np.array([800.0, 150.0, 1.5 * sigma, 0.0, 0.0, 0.0])
    shares = _column_shares(held, floor=floor, sigma=sigma, total=held.sum(), block=race)
    assert shares[2] > 0.01
    rng = np.random.default_rng(0)
    phantoms = []
    for _ in range(2000):
        noisy = held + rng.normal(0.0, sigma, held.shape)
        kept = _column_shares(noisy, floor=floor, sigma=sigma, total=held.sum(), block=race)
        phantoms.append(int((kept[3:] > 0).sum()))
    assert np.mean(phantoms) <= PHANTOMS_PER_LIST



@pytest.mark.parametrize("power", [3.5, 4.0])
def test_a_heavy_count_tail_under_the_floor_keeps_its_spread(power: float) -> None:
    """Visits counted as (k + 1) ** -power on 0-50, measured down to 2-6 visits and the rest under the floor:
    the continued tail keeps 0.9-1.05 of the real spread (a geometric tail alone kept 0.74-0.95), while light
    tails (geometric, Poisson, bell-shaped) are not inflated past 1.15."""
    def spread(shares: np.ndarray) -> float:
        k = np.arange(len(shares))
        shares = shares / shares.sum()
        return float(np.sqrt((shares * (k - (shares * k).sum()) ** 2).sum()))

    schema = parse_schema({"columns": {"visits": {"type": "numeric", "min": 0, "max": 50, "integer": True}}})
    block = TableCodec(schema=schema).blocks[0][0]
    k = np.arange(51)
    heavy = (k + 1.0) ** -power
    for real, floors in ((heavy / heavy.sum(), None), (0.6 ** k, (0.005, 0.02)),
                         (stats.poisson.pmf(k, 3), (0.005, 0.02)), (stats.norm.pdf(k, 25, 6), (0.005, 0.02))):
        real = real / real.sum()
        for floor in floors or (real[2] * 0.999, real[4] * 0.999, real[6] * 0.999):
            units = 10_000.0
            shares = _column_shares(real * units, floor=floor * units, sigma=1.0, total=units, block=block)
            ratio = spread(shares) / spread(real)
            assert (0.9 <= ratio <= 1.05) if floors is None else (0.95 <= ratio <= 1.15), (floor, ratio)
