"""A dataset's identity for the budget ledger: a hash of its canonical content.

The fingerprint ignores the file name, the file format, the row order and the column order, and it is taken
before any schema is applied, on canonical values: surrounding spaces and empty values dropped, numbers
written one way (``70``, ``70.0`` and ``7e1`` are one value, as are a CSV's text and a Parquet file's typed
number), ISO dates and times one way, ``true``/``false`` in lower case.  So a renamed, shuffled or re-typed copy
of the same data draws on the same budget.  No hash ties a dataset with one row dropped or added to its
parent: ``privacy.same_budget_as`` charges such a derived dataset to its parent's budget explicitly.

Ledgers made before canonical values keyed datasets by ``legacy_table_fingerprint`` (text as written); the
ledger moves such a dataset's charges to its canonical key the first time a release reads it
(``Ledger.budget_key``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from synthdata.errors import BadInputError


def _canonical(frame: pl.DataFrame, name: str) -> pl.Series:
    """One column's values written canonically (see the module docstring); null stays null."""
    text = frame[name].cast(pl.String, strict=False).str.strip_chars()
    text = pl.select(pl.when(text.str.len_chars() == 0).then(None).otherwise(text)).to_series()
    number = text.cast(pl.Float64, strict=False)
    whole = number.is_finite() & (number == number.round(0)) & (number.abs() < 2.0**53)
    as_number = pl.select(
        pl.when(whole).then(number.cast(pl.Int64, strict=False).cast(pl.String))
        .when(number.is_nan()).then(pl.lit("nan"))
        .otherwise(number.cast(pl.String))).to_series()
    as_time = pl.Series([None] * len(text), dtype=pl.String)
    if text.str.contains(r"^\d{4}-\d{2}-\d{2}").any():  # ISO dates (and times): a Parquet date's text form
        try:
            as_time = text.str.to_datetime(strict=False).dt.to_string("%Y-%m-%d %H:%M:%S%.f")
        except pl.exceptions.PolarsError:  # no one date format fits the column: its values stay text
            pass
    lower = text.str.to_lowercase()
    as_flag = pl.select(pl.when(lower.is_in(["true", "false"])).then(lower)).to_series()
    return pl.select(pl.coalesce(as_number, as_time, as_flag, text)).to_series().alias(name)


def table_fingerprint(*, frame: pl.DataFrame) -> str:
    """SHA-256 over the sorted per-row digests of the canonical values, columns in name order."""
    columns = sorted(frame.columns)
    canonical = pl.DataFrame([_canonical(frame, c) for c in columns]) if columns else frame
    return _digest(canonical.fill_null("\x00"), columns)


def legacy_table_fingerprint(*, frame: pl.DataFrame) -> str:
    """The fingerprint of ledgers made before canonical values: the text as written (for ``Ledger.budget_key``)."""
    columns = sorted(frame.columns)
    return _digest(frame.select([pl.col(c).cast(pl.String, strict=False).fill_null("\x00") for c in columns]),
                   columns)


def _digest(text: pl.DataFrame, columns: list[str]) -> str:
    joined = text.select(pl.concat_str(pl.all(), separator="\x1f").alias("row"))["row"].to_list()
    digests = sorted(hashlib.sha256(row.encode("utf-8")).digest() for row in joined)
    outer = hashlib.sha256("\x1f".join(columns).encode("utf-8"))
    for digest in digests:
        outer.update(digest)
    return outer.hexdigest()


def _read_raw(path: Path) -> pl.DataFrame:
    """A CSV or Parquet table as stored: CSV cells as text, no missing-value mapping."""
    path = Path(path)
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema=False, null_values=[])
    except Exception as exc:  # noqa: BLE001 - any reader failure is the user's malformed file
        raise BadInputError(f"could not read {path} to fingerprint it: {type(exc).__name__}") from None


def file_fingerprint(*, path: Path) -> str:
    """Fingerprint of a CSV or Parquet table (canonical values, see the module docstring)."""
    return table_fingerprint(frame=_read_raw(path))


def legacy_file_fingerprint(*, path: Path) -> str:
    """``file_fingerprint`` as ledgers made before canonical values computed it."""
    return legacy_table_fingerprint(frame=_read_raw(path))
