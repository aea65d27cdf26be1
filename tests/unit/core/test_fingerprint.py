from pathlib import Path

import polars as pl

from synthdata.privacy.fingerprint import file_fingerprint, table_fingerprint


def test_fingerprint_ignores_name_row_and_column_order(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": ["1", "2", "3"], "b": ["x", None, "z"]})
    first = tmp_path / "one.csv"
    frame.write_csv(first)
    shuffled = tmp_path / "renamed.parquet"
    frame.reverse().select(["b", "a"]).write_parquet(shuffled)
    assert file_fingerprint(path=first) == file_fingerprint(path=shuffled)


def test_fingerprint_changes_with_content() -> None:
    frame = pl.DataFrame({"a": ["1", "2", "3"]})
    assert table_fingerprint(frame=frame) != table_fingerprint(frame=frame.with_columns(pl.lit("9").alias("a")))
    assert table_fingerprint(frame=frame) != table_fingerprint(frame=frame.head(2))


def test_a_typed_parquet_copy_of_a_csv_has_its_fingerprint(tmp_path: Path) -> None:
    """Re-typing must not buy a fresh budget: typed numbers, dates, booleans and nulls in Parquet, and the same
    values written differently in CSV (70 / 70.0, 27.50 / 27.5, spaces, empty cells, TRUE / true)."""
    import datetime as dt

    typed = pl.DataFrame({"age": [70, 41, None], "bmi": [27.5, 30.0, 22.1],
                          "admitted": [dt.datetime(2020, 1, 1), dt.datetime(2021, 5, 6, 10, 30), None],
                          "race": ["A", "B", None], "flag": [True, False, True]})
    typed.write_parquet(tmp_path / "typed.parquet")
    (tmp_path / "text.csv").write_text("age,bmi,admitted,race,flag\n70.0,27.50,2020-01-01,A,True\n"
                                       "41, 30 ,2021-05-06 10:30:00,B ,false\n,22.1,,,TRUE\n")
    assert file_fingerprint(path=tmp_path / "typed.parquet") == file_fingerprint(path=tmp_path / "text.csv")
    other = typed.with_columns(pl.Series("age", [71, 41, None]))  # one value changed: another dataset
    other.write_parquet(tmp_path / "other.parquet")
    assert file_fingerprint(path=tmp_path / "other.parquet") != file_fingerprint(path=tmp_path / "typed.parquet")
