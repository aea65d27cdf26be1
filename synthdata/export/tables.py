"""A synthetic table's release files: Parquet (with the release's provenance in its key-value metadata) and CSV.

Shared by every modality that releases tables (one table; every table of a database).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq


def write_table_files(*, frame: pl.DataFrame, folder: Path, stem: str, provenance: dict[str, str]) -> list[str]:
    """Write ``<stem>.parquet`` (``synthdata.<key>`` metadata from ``provenance``) and ``<stem>.csv`` into
    ``folder``; returns their names."""
    table = frame.to_arrow()
    metadata = {**(table.schema.metadata or {}), **{f"synthdata.{k}".encode(): v.encode() for k, v in provenance.items()}}
    pq.write_table(table.replace_schema_metadata(metadata), Path(folder) / f"{stem}.parquet")
    frame.write_csv(Path(folder) / f"{stem}.csv")
    return [f"{stem}.parquet", f"{stem}.csv"]
