"""A dataset's identity for the budget ledger: a hash of its canonical content.

The fingerprint ignores the file name, the file format, the row order and the column order, and it is taken
before any schema is applied (raw text values), so a renamed, shuffled or re-typed copy of the same data
draws on the same budget.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from synthdata.errors import BadInputError


def table_fingerprint(*, frame: pl.DataFrame) -> str:
    """SHA-256 over the sorted per-row digests of the text values, columns in name order."""
    columns = sorted(frame.columns)
    text = frame.select([pl.col(c).cast(pl.String, strict=False).fill_null("\x00") for c in columns])
    joined = text.select(pl.concat_str(pl.all(), separator="\x1f").alias("row"))["row"].to_list()
    digests = sorted(hashlib.sha256(row.encode("utf-8")).digest() for row in joined)
    outer = hashlib.sha256("\x1f".join(columns).encode("utf-8"))
    for digest in digests:
        outer.update(digest)
    return outer.hexdigest()


def file_fingerprint(*, path: Path) -> str:
    """Fingerprint of a CSV or Parquet table read as raw text (no missing-value mapping)."""
    path = Path(path)
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_csv(path, infer_schema=False, null_values=[])
    except Exception as exc:  # noqa: BLE001 - any reader failure is the user's malformed file
        raise BadInputError(f"could not read {path} to fingerprint it: {type(exc).__name__}") from None
    return table_fingerprint(frame=frame)
