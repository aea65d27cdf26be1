"""Fit SDV's HMA (hierarchical, not private) on a folder of tables and sample a database: runs in
``.venv-peers`` (``make bench-peers`` creates it), never imports synthdata.

    .venv-peers/bin/python -P evaluation/benchmarks/peer_hma_runner.py --tables DIR --metadata metadata.json \
        --out OUT_DIR

``DIR`` holds one ``<TABLE>.csv`` per table; ``metadata.json`` is SDV's multi-table metadata (columns with their
sdtypes, primary keys, one relationship per child table, one root).  Writes ``OUT_DIR/<TABLE>.csv`` for as many root
rows as the real root table and prints one JSON line: fit and sample seconds, peak RSS (MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=Path, required=True)
    parser.add_argument("--metadata", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from sdv.metadata import Metadata
    from sdv.multi_table import HMASynthesizer

    spec = json.loads(args.metadata.read_text())
    metadata = Metadata.load_from_dict(spec)
    data = {}
    for name, table in spec["tables"].items():
        types = {c: str for c, s in table["columns"].items() if s["sdtype"] in ("id", "categorical", "datetime")}
        frame = pd.read_csv(args.tables / f"{name}.csv", dtype=types, keep_default_na=False, na_values=[""])
        data[name] = frame[list(table["columns"])]
    started = time.perf_counter()
    synthesizer = HMASynthesizer(metadata, verbose=False)
    synthesizer.fit(data)
    fitted = time.perf_counter()
    children = {r["child_table_name"] for r in spec["relationships"]}
    (root,) = [name for name in spec["tables"] if name not in children]
    sample = synthesizer.sample(num_rows=len(data[root]), main_table_name=root)  # SDV 2.0: no scale=1
    sampled = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in sample.items():
        frame.to_csv(args.out / f"{name}.csv", index=False)
    print(json.dumps({"fit_seconds": fitted - started, "sample_seconds": sampled - fitted,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
