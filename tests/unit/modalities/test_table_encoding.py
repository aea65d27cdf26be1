"""TableCodec: exact round trips, valid decodes of any array, compact analog bits, a public layout."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import synthdata
from synthdata.modalities.table.encoding import TableCodec
from synthdata.modalities.table.reader import read_table
from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    TableSchema,
    load_schema,
    parse_schema,
)

DATA = Path(synthdata.__file__).parent / "data"


def _full_domain_demo() -> tuple[TableSchema, pl.DataFrame]:
    """The demo schema with each `discover` list set to every value in the data (a test fixture, not DP)."""
    schema = load_schema(DATA / "diabetes_demo.schema.yaml")
    text = read_table(path=DATA / "diabetes_demo.csv", schema=schema)
    raw = schema.model_dump(mode="json")
    for name in schema.needs_discovery:
        raw["columns"][name]["categories"] = sorted(text[name].drop_nulls().unique().to_list())
    resolved = TableSchema.model_validate(raw)
    return resolved, read_table(path=DATA / "diabetes_demo.csv", schema=resolved)


@pytest.fixture(scope="module")
def demo() -> tuple[TableSchema, pl.DataFrame]:
    return _full_domain_demo()


SMALL = parse_schema({
    "subject": "pid",
    "columns": {
        "pid": {"type": "identifier"},
        "age": {"type": "numeric", "min": 0, "max": 120, "integer": True},
        "bmi": {"type": "numeric", "min": 10.0, "max": 80.0, "nullable": True},
        "count": {"type": "numeric", "min": -0.5, "max": 9.5, "integer": True, "nullable": True},
        "sex": {"type": "categorical", "categories": ["F", "M"]},
        "code": {"type": "categorical", "categories": [f"c{i:02d}" for i in range(40)], "nullable": True},
        "day": {"type": "datetime", "min": "2000-01-01", "max": "2030-12-31", "resolution": "day",
                "nullable": True},
        "at": {"type": "datetime", "min": "2024-01-01T00:00:00", "max": "2024-01-20T00:00:00"},
    },
})


def _small_frame(n: int = 200, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    missing = rng.random(n) < 0.2
    seconds = rng.integers(0, 19 * 86_400, n)
    return pl.DataFrame({
        "pid": [f"p{i}" for i in range(n)],
        "age": rng.integers(0, 121, n),
        "bmi": pl.Series(np.where(missing, np.nan, rng.uniform(10, 80, n)), nan_to_null=True),
        "count": pl.Series(np.where(~missing, np.nan, rng.integers(0, 10, n)), nan_to_null=True).cast(pl.Int64),
        "sex": rng.choice(["F", "M"], n),
        "code": pl.Series(rng.choice([f"c{i:02d}" for i in range(40)], n)).set(pl.Series(missing), None),
        "day": pl.Series([dt.datetime(2000, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 11_000, n)])
        .set(pl.Series(rng.random(n) < 0.3), None),
        "at": pl.Series([dt.datetime(2024, 1, 1) + dt.timedelta(seconds=int(s)) for s in seconds]),
    }).with_columns(pl.col("day").cast(pl.Datetime("us")), pl.col("at").cast(pl.Datetime("us")))


def test_small_round_trip_is_exact() -> None:
    codec = TableCodec(schema=SMALL)
    frame = _small_frame()
    encoded = codec.encode(frame)
    assert encoded.dtype == np.float32 and encoded.shape == (200, codec.width)
    assert encoded.min() >= -1.0 and encoded.max() <= 1.0
    decoded = codec.decode(encoded)
    assert decoded.columns == SMALL.modelled_columns  # the identifier is not modelled
    for name in ["age", "count", "sex", "code", "day", "at"]:
        assert decoded[name].to_list() == frame[name].to_list(), name
    assert decoded.schema["age"] == pl.Int64 and decoded.schema["bmi"] == pl.Float64
    assert decoded.schema["day"] == pl.Datetime("us") and decoded.schema["sex"] == pl.String
    bmi, original = decoded["bmi"].to_numpy(), frame["bmi"].to_numpy()
    assert np.array_equal(np.isnan(bmi), np.isnan(original))
    np.testing.assert_allclose(bmi[~np.isnan(bmi)], original[~np.isnan(original)], rtol=0, atol=1e-5 * 70.0)


def test_datetimes_are_kept_at_their_resolution() -> None:
    schema = parse_schema({"columns": {"d": {"type": "datetime", "min": "2020-01-01", "max": "2021-01-01",
                                             "resolution": "day"}}})
    codec = TableCodec(schema=schema)
    frame = pl.DataFrame({"d": [dt.datetime(2020, 5, 6, 23, 59), dt.datetime(2020, 1, 1, 0, 0, 1)]})
    assert codec.decode(codec.encode(frame))["d"].to_list() == [dt.datetime(2020, 5, 6), dt.datetime(2020, 1, 1)]


def test_demo_round_trip_is_exact(demo: tuple[TableSchema, pl.DataFrame]) -> None:
    schema, frame = demo
    codec = TableCodec(schema=schema)
    decoded = codec.decode(codec.encode(frame))
    assert decoded.equals(frame.select(schema.modelled_columns))


def test_random_arrays_decode_to_valid_values(demo: tuple[TableSchema, pl.DataFrame]) -> None:
    for schema in [demo[0], SMALL]:
        codec = TableCodec(schema=schema)
        rng = np.random.default_rng(1)
        array = rng.uniform(-1.5, 1.5, (3000, codec.width))
        array[0, :] = np.nan
        decoded = codec.decode(array)
        assert decoded.height == 3000
        for name in schema.modelled_columns:
            column, values = schema.columns[name], decoded[name]
            if not column.nullable:
                assert values.null_count() == 0, name
            present = values.drop_nulls()
            if isinstance(column, CategoricalColumn):
                assert present.is_in(column.categories).all(), name
            elif isinstance(column, NumericColumn):
                assert present.min() >= column.min and present.max() <= column.max, name
                if column.integer:
                    assert decoded.schema[name] == pl.Int64
            elif isinstance(column, DatetimeColumn):
                assert present.min() >= column.min and present.max() <= column.max, name
                if column.resolution == "day":
                    assert (present.dt.truncate("1d") == present).all()
        if schema is SMALL:
            assert decoded["code"].null_count() > 0 and decoded["bmi"].null_count() > 0


def test_analog_bits_are_compact_and_gray_coded() -> None:
    categories = [f"icd{i}" for i in range(800)]
    for nullable in [False, True]:
        schema = parse_schema({"columns": {"dx": {"type": "categorical", "categories": categories,
                                                  "nullable": nullable}}})
        codec = TableCodec(schema=schema)
        assert codec.width == 10
        assert codec.describe() == [{"column": "dx", "type": "categorical", "encoding": "analog_bits",
                                     "start": 0, "width": 10, "levels": 800 + nullable}]
        frame = pl.DataFrame({"dx": categories})
        encoded = codec.encode(frame)
        assert len({row.tobytes() for row in encoded}) == 800  # one code per level
        assert np.all(np.abs(np.diff(encoded, axis=0)).sum(axis=1) == 2)  # Gray: neighbours differ in one bit
        assert codec.decode(encoded)["dx"].to_list() == categories
        # a slightly noisy output still decodes to its level
        noisy = encoded + np.random.default_rng(2).normal(0, 0.3, encoded.shape)
        assert (codec.decode(noisy)["dx"] == frame["dx"]).mean() > 0.95


@pytest.mark.parametrize("levels", [17, 100, 358, 1024])
def test_analog_decode_maximises_the_inner_product_over_valid_codes(levels: int) -> None:
    schema = parse_schema({"columns": {"c": {"type": "categorical", "categories": [str(i) for i in range(levels)]}}})
    codec = TableCodec(schema=schema)
    array = np.random.default_rng(levels).normal(0, 1, (5000, codec.width))
    array[:10] = 0.0  # ties
    decoded = codec.decode(array)["c"].cast(pl.Int64).to_numpy()
    codes = codec.encode(pl.DataFrame({"c": [str(i) for i in range(levels)]})).astype(np.float64)
    products = array @ codes.T
    np.testing.assert_allclose(products[np.arange(5000), decoded], products.max(axis=1))


def test_onehot_max_switches_encoding() -> None:
    schema = parse_schema({"columns": {"c": {"type": "categorical", "categories": list("abcdef")}}})
    assert TableCodec(schema=schema).width == 6
    assert TableCodec(schema=schema, onehot_max=5).width == 3
    assert TableCodec(schema=schema, onehot_max=5).describe()[0]["encoding"] == "analog_bits"


def test_demo_width_with_and_without_analog_bits(demo: tuple[TableSchema, pl.DataFrame]) -> None:
    schema, _ = demo
    compact, onehot = TableCodec(schema=schema), TableCodec(schema=schema, onehot_max=10**6)
    by_column = {entry["column"]: entry for entry in compact.describe()}
    for name in ["diag_1", "diag_2", "diag_3"]:
        assert by_column[name]["encoding"] == "analog_bits" and by_column[name]["width"] == 11  # 1,410 levels
    assert compact.width < onehot.width / 4
    print(f"diabetes demo codec width: {compact.width} (onehot_max=16) vs {onehot.width} (one-hot everywhere)")


def test_codec_serialises_to_json(demo: tuple[TableSchema, pl.DataFrame]) -> None:
    codec = TableCodec(schema=SMALL, onehot_max=8)
    again = TableCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    assert again.width == codec.width and again.describe() == codec.describe()
    array = np.random.default_rng(3).uniform(-1, 1, (50, codec.width))
    assert again.decode(array).equals(codec.decode(array))
    with pytest.raises(ValueError):
        TableCodec.from_dict({"format": "something else"})


def test_codec_refuses_unresolved_schemas_and_bad_input() -> None:
    with pytest.raises(ValueError, match="payer_code"):
        TableCodec(schema=load_schema(DATA / "diabetes_demo.schema.yaml"))
    codec = TableCodec(schema=SMALL)
    frame = _small_frame(20)
    with pytest.raises(ValueError, match="sex"):
        codec.encode(frame.drop("sex"))
    with pytest.raises(ValueError, match="'sex'"):
        codec.encode(frame.with_columns(pl.lit(None, dtype=pl.String).alias("sex")))
    with pytest.raises(ValueError, match="'sex'") as caught:
        codec.encode(frame.with_columns(pl.lit("Secret-X").alias("sex")))
    assert "Secret-X" not in str(caught.value)
    with pytest.raises(ValueError, match="shape"):
        codec.decode(np.zeros((3, codec.width + 1)))
