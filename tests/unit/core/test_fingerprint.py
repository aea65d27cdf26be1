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
