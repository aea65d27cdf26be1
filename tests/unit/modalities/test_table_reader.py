"""read_table: typing by the schema, the same nulls for every format, and errors that never quote a value."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

import synthdata
from synthdata.errors import BadInputError
from synthdata.modalities.table.reader import read_table, type_frame
from synthdata.modalities.table.schema import load_schema, parse_schema

DATA = Path(synthdata.__file__).parent / "data"


def _schema(**columns: dict) -> object:
    return parse_schema({"missing_values": ["?", "NA"], "columns": columns})


SMALL = {
    "pid": {"type": "identifier"},
    "age": {"type": "numeric", "min": 0, "max": 120, "integer": True},
    "bmi": {"type": "numeric", "min": 10, "max": 80, "nullable": True},
    "sex": {"type": "categorical", "categories": ["F", "M"]},
    "seen": {"type": "datetime", "min": "2000-01-01", "max": "2030-01-01", "nullable": True},
}
SMALL_CSV = "pid,age,bmi,sex,seen\np1,34,22.5,F,2020-01-31\np2,71,?,M,2021-06-01T08:30:00\np3,5,NA,F,?\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_is_typed_in_declaration_order() -> None:
    schema = load_schema(DATA / "diabetes_demo.schema.yaml")
    frame = read_table(path=DATA / "diabetes_demo.csv", schema=schema)
    assert frame.columns == list(schema.columns)
    assert frame.height == 20000
    assert frame.schema["time_in_hospital"] == pl.Int64
    assert frame.schema["race"] == pl.String
    assert frame.schema["patient_nbr"] == pl.String  # identifiers are kept for grouping
    assert frame["race"].null_count() == 460  # '?' is missing
    assert frame["gender"].null_count() == 0
    assert frame["max_glu_serum"].null_count() == 0  # 'None' is a category here, not a missing token


def test_without_schema_every_column_is_text_with_default_missing_tokens() -> None:
    frame = read_table(path=DATA / "diabetes_demo.csv", schema=None)
    assert frame.width == 50 and frame.height == 20000
    assert set(frame.dtypes) == {pl.String}
    assert frame["race"].null_count() == 460
    assert frame["max_glu_serum"].null_count() > 3000  # 'None' is a default missing token


def test_small_csv_types_and_nulls(tmp_path: Path) -> None:
    frame = read_table(path=_write(tmp_path, "t.csv", SMALL_CSV), schema=_schema(**SMALL))
    assert frame["age"].to_list() == [34, 71, 5] and frame.schema["age"] == pl.Int64
    assert frame["bmi"].to_list() == [22.5, None, None]
    assert frame["seen"].to_list() == [dt.datetime(2020, 1, 31), dt.datetime(2021, 6, 1, 8, 30), None]
    assert frame.schema["seen"] == pl.Datetime("us")


def test_tsv_and_gzip_read_the_same(tmp_path: Path) -> None:
    schema = _schema(**SMALL)
    plain = read_table(path=_write(tmp_path, "t.csv", SMALL_CSV), schema=schema)
    tsv = read_table(path=_write(tmp_path, "t.tsv", SMALL_CSV.replace(",", "\t")), schema=schema)
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(SMALL_CSV.encode()))
    assert plain.equals(tsv) and plain.equals(read_table(path=packed, schema=schema))


def test_parquet_reads_like_csv_with_tokens_and_nan_as_missing(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "pid": ["p1", "p2", "p3"], "age": [34, 71, 5], "bmi": [22.5, float("nan"), None],
        "sex": ["F", "M", "F"], "seen": ["2020-01-31", "2021-06-01T08:30:00", "NA"],
    })
    frame.write_parquet(tmp_path / "t.parquet")
    from_parquet = read_table(path=tmp_path / "t.parquet", schema=_schema(**SMALL))
    from_csv = read_table(path=_write(tmp_path, "t.csv", SMALL_CSV), schema=_schema(**SMALL))
    assert from_parquet.equals(from_csv)
    untyped = read_table(path=tmp_path / "t.parquet", schema=None)
    assert untyped["bmi"].to_list() == ["22.5", None, None] and untyped["seen"][2] is None
    assert untyped["age"].to_list() == ["34", "71", "5"]


def test_native_parquet_datetimes_and_integer_categories(tmp_path: Path) -> None:
    pl.DataFrame({
        "code": [1, 2, 1], "when": [dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)] * 3,
    }).write_parquet(tmp_path / "t.pq")
    schema = _schema(code={"type": "categorical", "categories": ["1", "2"]},
                     when={"type": "datetime", "min": "2019-01-01", "max": "2021-01-01"})
    frame = read_table(path=tmp_path / "t.pq", schema=schema)
    assert frame["code"].to_list() == ["1", "2", "1"]
    assert frame["when"].to_list() == [dt.datetime(2020, 1, 1)] * 3


def test_other_folds_and_clip_clips(tmp_path: Path) -> None:
    schema = _schema(
        sex={"type": "categorical", "categories": ["F", "M", "other"], "other": "other"},
        age={"type": "numeric", "min": 0, "max": 100, "clip": True},
    )
    frame = read_table(path=_write(tmp_path, "t.csv", "sex,age\nF,-4\nX,150\nM,50\n"), schema=schema)
    assert frame["sex"].to_list() == ["F", "other", "M"]
    assert frame["age"].to_list() == [0.0, 100.0, 50.0]


def test_datetime_clip(tmp_path: Path) -> None:
    schema = _schema(d={"type": "datetime", "min": "2020-01-01", "max": "2021-01-01", "clip": True})
    frame = read_table(path=_write(tmp_path, "t.csv", "d\n2019-05-05\n2020-06-01\n2022-01-01\n"), schema=schema)
    assert frame["d"].to_list() == [dt.datetime(2020, 1, 1), dt.datetime(2020, 6, 1), dt.datetime(2021, 1, 1)]


def test_type_frame_types_text_in_memory_with_the_same_rules(tmp_path: Path) -> None:
    schema = _schema(**SMALL)
    text = read_table(path=_write(tmp_path, "t.csv", SMALL_CSV), schema=None)
    assert type_frame(frame=text, schema=schema, source="t.csv").equals(
        read_table(path=tmp_path / "t.csv", schema=schema))
    bad = text.with_columns(pl.lit(SECRET).alias("sex"))
    with pytest.raises(BadInputError) as caught:
        type_frame(frame=bad, schema=schema, source="t.csv")
    assert "t.csv" in caught.value.message and "'sex'" in caught.value.message
    assert SECRET not in caught.value.message and SECRET in (caught.value.hint or "")


def test_datetime_format_and_offsets(tmp_path: Path) -> None:
    schema = _schema(a={"type": "datetime", "format": "%d/%m/%Y"}, b={"type": "datetime"})
    frame = read_table(path=_write(tmp_path, "t.csv", "a,b\n31/01/2020,2020-01-31T10:00:00+02:00\n"),
                       schema=schema)
    assert frame.row(0) == (dt.datetime(2020, 1, 31), dt.datetime(2020, 1, 31, 8))


# ----------------------------------------------------------------------------------------------- errors

SECRET = "Zebra-Secret-42"
ERROR_CASES = {
    # name: (file name, content, schema columns or None, words the message must name, offending value)
    "ragged_csv": ("t.csv", "a,b\n1,2\n3\n4,5\n", {"a": {"type": "numeric"}, "b": {"type": "numeric"}},
                   ["malformed", "row", "2"], None),
    "too_many_fields": ("t.csv", f"a,b\n1,2\n3,4,{SECRET}\n", {"a": {"type": "identifier"}, "b": {"type": "numeric"}},
                        ["malformed"], SECRET),
    "header_only": ("t.csv", "a,b\n", {"a": {"type": "numeric"}}, ["no rows"], None),
    "empty_file": ("t.csv", "", {"a": {"type": "numeric"}}, ["empty"], None),
    "undeclared": ("t.csv", "a,extra\n1,2\n", {"a": {"type": "numeric"}}, ["'extra'", "identifier"], None),
    "missing_declared": ("t.csv", "a\n1\n", {"a": {"type": "numeric"}, "b": {"type": "numeric"}},
                         ["'b'", "missing"], None),
    "non_numeric": ("t.csv", f"a\n1\n{SECRET}\n", {"a": {"type": "numeric"}}, ["'a'", "not numbers", "2"], SECRET),
    "fractional": ("t.csv", "a\n1\n7.3125\n", {"a": {"type": "numeric", "integer": True}},
                   ["'a'", "fractional", "2"], "7.3125"),
    "out_of_bounds": ("t.csv", "a\n1\n98765\n", {"a": {"type": "numeric", "min": 0, "max": 100}},
                      ["'a'", "outside", "2"], "98765"),
    "unknown_category": ("t.csv", f"c\nF\n{SECRET}\n", {"c": {"type": "categorical", "categories": ["F", "M"]}},
                         ["'c'", "categories", "2"], SECRET),
    "null_not_nullable": ("t.csv", "c\nF\n?\n", {"c": {"type": "categorical", "categories": ["F", "M"]}},
                          ["'c'", "missing", "2"], None),
    "bad_datetime": ("t.csv", f"d\n2020-01-01\n{SECRET}\n", {"d": {"type": "datetime"}},
                     ["'d'", "datetime", "2"], SECRET),
    "datetime_outside_range": ("t.csv", "d\n2020-01-01\n1911-11-11\n",
                               {"d": {"type": "datetime", "min": "2000-01-01", "max": "2030-01-01"}},
                               ["'d'", "outside", "2"], "1911-11-11"),
    "subject_null": ("t.csv", "pid,x\np1,1\n?,2\n", {"pid": {"type": "identifier"}, "x": {"type": "numeric"}},
                     ["'pid'", "subject", "2"], None),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_errors_name_file_and_column_never_a_value(tmp_path: Path, case: str) -> None:
    name, content, columns, words, offending = ERROR_CASES[case]
    data = _write(tmp_path, name, content)
    schema = parse_schema({"missing_values": ["?"], "columns": columns,
                           **({"subject": "pid"} if case == "subject_null" else {})})
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(BadInputError) as caught:
        read_table(path=data, schema=schema)
    message = caught.value.message
    assert str(data) in message
    for word in words:
        assert word in message
    if offending is not None:
        assert offending not in message
        assert offending in (caught.value.hint or "")
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_nan_in_float_parquet_counts_as_missing(tmp_path: Path) -> None:
    pl.DataFrame({"x": [1.0, float("nan")]}).write_parquet(tmp_path / "t.parquet")
    with pytest.raises(BadInputError, match=r"column 'x': 1 missing value"):
        read_table(path=tmp_path / "t.parquet", schema=_schema(x={"type": "numeric"}))


def test_row_numbers_are_capped_at_five(tmp_path: Path) -> None:
    data = _write(tmp_path, "t.csv", "a\n" + "x\n" * 9)
    with pytest.raises(BadInputError) as caught:
        read_table(path=data, schema=_schema(a={"type": "numeric"}))
    assert "9 value(s)" in caught.value.message and "rows 1, 2, 3, 4, 5, ..." in caught.value.message
    assert caught.value.hint is not None and caught.value.hint.count("'x'") == 1  # distinct examples only


@pytest.mark.parametrize("schema", [None, {"a": {"type": "numeric"}}])
def test_file_level_errors(tmp_path: Path, schema: dict | None) -> None:
    parsed = _schema(**schema) if schema else None
    with pytest.raises(BadInputError, match="does not exist"):
        read_table(path=tmp_path / "nope.csv", schema=parsed)
    with pytest.raises(BadInputError, match="unsupported extension"):
        read_table(path=_write(tmp_path, "t.xlsx", "a\n1\n"), schema=parsed)
    corrupt = tmp_path / "t.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all PAR1")
    with pytest.raises(BadInputError, match="not a readable Parquet file") as caught:
        read_table(path=corrupt, schema=parsed)
    assert str(corrupt) in caught.value.message
    with pytest.raises(BadInputError, match="more than once"):
        read_table(path=_write(tmp_path, "d.csv", "a,a\n1,2\n"), schema=parsed)
    with pytest.raises(BadInputError, match="no rows"):
        read_table(path=_write(tmp_path, "h.csv", "a\n"), schema=parsed)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    data = _write(tmp_path, "t.csv", "a,c\nx,F\n2,Q\n")
    schema = _schema(a={"type": "numeric"}, c={"type": "categorical", "categories": ["F"]})
    with pytest.raises(BadInputError) as caught:
        read_table(path=data, schema=schema)
    assert "column 'a'" in caught.value.message and "column 'c'" in caught.value.message
