"""resolve_schema: open domains learned with DP, the budget split and reported, nothing else read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import synthdata
from synthdata.errors import BadInputError
from synthdata.modalities.table import discovery
from synthdata.modalities.table.discovery import OTHER_CATEGORY, resolve_schema
from synthdata.modalities.table.encoding import TableCodec
from synthdata.modalities.table.infer import infer_schema
from synthdata.modalities.table.reader import read_table, type_frame
from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    load_schema,
    parse_schema,
)

DATA = Path(synthdata.__file__).parent / "data"


@pytest.fixture(scope="module")
def demo() -> tuple[pl.DataFrame, object]:
    schema = load_schema(DATA / "diabetes_demo.schema.yaml")
    return read_table(path=DATA / "diabetes_demo.csv", schema=schema), schema


def test_nothing_to_discover_spends_nothing() -> None:
    schema = parse_schema({"columns": {"a": {"type": "numeric", "min": 0, "max": 1}}})
    frame = pl.DataFrame({"a": [0.5]})
    resolved, report = resolve_schema(frame=frame, schema=schema, epsilon=1.0, delta=1e-6, sensitivity=1,
                                      rng=np.random.default_rng(0))
    assert resolved == schema
    assert (report.epsilon, report.delta, report.columns) == (0.0, 0.0, [])


def test_demo_categories_learned_within_budget(demo: tuple) -> None:
    frame, schema = demo
    resolved, report = resolve_schema(frame=frame, schema=schema, epsilon=1.0, delta=1e-5, sensitivity=1,
                                      rng=np.random.default_rng(0))
    assert report.epsilon == 1.0 and report.delta == 1e-5
    assert report.columns == schema.needs_discovery == ["payer_code", "medical_specialty"]
    assert resolved.needs_discovery == []
    assert list(resolved.columns) == list(schema.columns)
    assert resolved.subject == schema.subject and resolved.origin == "declared"
    for name in report.columns:
        column = resolved.columns[name]
        assert isinstance(column, CategoricalColumn) and column.nullable
        assert column.other == OTHER_CATEGORY and column.categories[-1] == OTHER_CATEGORY
    payer = resolved.columns["payer_code"]
    assert "MC" in payer.categories  # the most frequent payer
    assert resolved.columns["race"] == schema.columns["race"]  # declared columns untouched
    # notes are words and counts, never a value
    notes = " ".join(report.notes)
    for name in report.columns:
        for value in resolved.columns[name].categories[:-1]:
            if len(value) >= 3:
                assert value not in notes
    # the resolved schema reads the data (rare levels fold into "(other)") and encodes it
    typed = read_table(path=DATA / "diabetes_demo.csv", schema=resolved)
    assert typed["diag_1"].is_in(resolved.columns["diag_1"].categories).all()
    assert TableCodec(schema=resolved).encode(typed).shape[0] == 20000


def test_budget_is_split_evenly(demo: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    frame, _ = demo
    schema = parse_schema({
        "subject": "patient_nbr",
        "columns": {
            "patient_nbr": {"type": "identifier"},
            "num_lab_procedures": {"type": "numeric", "integer": True},
            "num_medications": {"type": "numeric", "min": 0, "integer": True},
            "payer_code": {"type": "categorical", "categories": "discover", "nullable": True},
            "diag_1": {"type": "categorical", "categories": "discover", "nullable": True},
            "race": {"type": "categorical", "categories": ["Caucasian", "AfricanAmerican", "Asian", "Hispanic",
                                                            "Other"], "nullable": True},
        },
    })
    calls: list[tuple[str, float, float]] = []
    real_bounds, real_categories = discovery.dp_numeric_bounds, discovery.dp_categories

    def bounds(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(("bounds", kwargs["epsilon"], 0.0))
        return real_bounds(**kwargs)

    def categories(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(("categories", kwargs["epsilon"], kwargs["delta"]))
        return real_categories(**kwargs)

    monkeypatch.setattr(discovery, "dp_numeric_bounds", bounds)
    monkeypatch.setattr(discovery, "dp_categories", categories)
    resolved, report = resolve_schema(frame=frame.select(list(schema.columns)), schema=schema, epsilon=2.0,
                                      delta=1e-6, sensitivity=2, rng=np.random.default_rng(1))
    assert [kind for kind, _, _ in calls] == ["bounds", "bounds", "categories", "categories"]
    assert all(eps == pytest.approx(0.5) for _, eps, _ in calls)
    assert sum(eps for _, eps, _ in calls) == pytest.approx(report.epsilon) and report.epsilon == 2.0
    assert sum(delta for _, _, delta in calls) == pytest.approx(1e-6) and report.delta == 1e-6
    medications = resolved.columns["num_medications"]
    assert isinstance(medications, NumericColumn) and medications.min == 0  # the declared end is kept
    labs = resolved.columns["num_lab_procedures"]
    assert isinstance(labs, NumericColumn) and labs.clip and labs.integer
    assert labs.min == int(labs.min) and labs.max == int(labs.max)  # whole bounds for integers
    assert labs.min <= 5 and 70 <= labs.max <= 130


def test_numeric_only_spends_no_delta_and_huge_epsilon_is_accurate() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(120.0, 15.0, 5000)
    schema = parse_schema({"columns": {"sbp": {"type": "numeric", "max": 400}}})
    resolved, report = resolve_schema(frame=pl.DataFrame({"sbp": values}), schema=schema, epsilon=1e6,
                                      delta=0.0, sensitivity=1, rng=rng)
    assert report.delta == 0.0 and report.epsilon == 1e6
    column = resolved.columns["sbp"]
    assert isinstance(column, NumericColumn) and column.max == 400 and column.clip and not column.integer
    q01 = np.quantile(values, 0.01, method="inverted_cdf")
    assert 0.85 * q01 <= column.min <= q01


def test_learned_end_never_crosses_the_declared_one() -> None:
    schema = parse_schema({"columns": {"x": {"type": "numeric", "min": 1000, "integer": True}}})
    frame = pl.DataFrame({"x": np.arange(1, 90, dtype=float).repeat(20)})
    resolved, _ = resolve_schema(frame=frame, schema=schema, epsilon=1e6, delta=0.0, sensitivity=1,
                                 rng=np.random.default_rng(3))
    column = resolved.columns["x"]
    assert isinstance(column, NumericColumn) and column.min == 1000 and column.max > 1000


def test_contributions_are_capped_per_subject(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = discovery.dp_categories

    def categories(**kwargs):  # type: ignore[no-untyped-def]
        seen.append(len(kwargs["values"]))
        return real(**kwargs)

    monkeypatch.setattr(discovery, "dp_categories", categories)
    schema = parse_schema({"subject": "pid", "columns": {"pid": {"type": "identifier"},
                                                         "c": {"type": "categorical", "categories": "discover"}}})
    frame = pl.DataFrame({"pid": [f"p{i % 7}" for i in range(700)], "c": ["a"] * 700})
    resolve_schema(frame=frame, schema=schema, epsilon=1.0, delta=1e-6, sensitivity=3,
                   rng=np.random.default_rng(4))
    assert seen == [7 * 3]


def test_inferred_schema_resolves_from_text(monkeypatch: pytest.MonkeyPatch) -> None:
    text = read_table(path=DATA / "diabetes_demo.csv", schema=None)
    inferred = infer_schema(frame=text).schema
    resolved, report = resolve_schema(frame=text, schema=inferred, epsilon=20.0, delta=1e-5, sensitivity=1,
                                      rng=np.random.default_rng(5))
    assert resolved.needs_discovery == [] and resolved.origin == "inferred"
    assert report.columns == inferred.modelled_columns
    stay = resolved.columns["time_in_hospital"]
    assert isinstance(stay, NumericColumn) and stay.integer and stay.min <= 1 and 14 <= stay.max <= 20
    assert any("'time_in_hospital'" in note and "type inference" in note for note in report.notes)
    admission = resolved.columns["admission_type_id"]
    assert isinstance(admission, CategoricalColumn) and "1" in admission.categories
    # the text frame types by the resolved schema (rare levels fold, numbers clip) and round-trips the codec
    typed = type_frame(frame=text, schema=resolved, source="diabetes_demo.csv")
    codec = TableCodec(schema=resolved)
    assert codec.decode(codec.encode(typed)).equals(typed.select(resolved.modelled_columns))


def test_datetime_range_learned_to_the_month() -> None:
    days = pl.date_range(dt.date(2015, 3, 10), dt.date(2019, 8, 20), eager=True)
    frame = pl.DataFrame({"seen": days.cast(pl.String)})
    schema = parse_schema({"columns": {"seen": {"type": "datetime", "resolution": "day"}}})
    resolved, _ = resolve_schema(frame=frame, schema=schema, epsilon=1e6, delta=0.0, sensitivity=1,
                                 rng=np.random.default_rng(6))
    column = resolved.columns["seen"]
    assert isinstance(column, DatetimeColumn)
    assert column.min is not None and column.max is not None
    assert column.min.day == 1 and column.max.day == 1  # month edges of the public grid
    assert column.clip  # the 1% tails beyond the learned range clip rather than fail the release
    assert type_frame(frame=frame, schema=resolved, source="x")["seen"].is_between(column.min, column.max).all()
    assert dt.datetime(2015, 3, 1) <= column.min <= dt.datetime(2015, 5, 1)
    assert dt.datetime(2019, 7, 1) <= column.max <= dt.datetime(2019, 9, 1)


def test_refusals() -> None:
    rng = np.random.default_rng(7)
    schema = parse_schema({"columns": {"c": {"type": "categorical", "categories": "discover"}}})
    frame = pl.DataFrame({"c": ["a", "b"] * 50})
    with pytest.raises(BadInputError, match="delta"):
        resolve_schema(frame=frame, schema=schema, epsilon=1.0, delta=0.0, sensitivity=1, rng=rng)
    with pytest.raises(BadInputError, match="epsilon"):
        resolve_schema(frame=frame, schema=schema, epsilon=0.0, delta=1e-6, sensitivity=1, rng=rng)
    with pytest.raises(BadInputError, match="'c'"):
        resolve_schema(frame=frame.rename({"c": "d"}), schema=schema, epsilon=1.0, delta=1e-6, sensitivity=1,
                       rng=rng)
    numeric = parse_schema({"columns": {"x": {"type": "numeric"}}})
    with pytest.raises(BadInputError, match="could not learn the range of column 'x'"):
        resolve_schema(frame=pl.DataFrame({"x": [5.0] * 10}), schema=numeric, epsilon=0.01, delta=0.0,
                       sensitivity=1, rng=rng)
