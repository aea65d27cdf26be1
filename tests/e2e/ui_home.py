"""A fresh synthdata home for the browser end-to-end test (``make e2e``), made before the Dagster UI starts.

It registers ``demo_e2e``: the shipped demo release (``synthdata/data/demo.yaml``: the diabetes_130us slice,
its schema, ε 3 per patient, at most 2 rows per patient) cut to its first 1,000 rows and trained with the
tests' tiny model, so a run launched from the UI takes about two minutes on 2 cores instead of the demo's
three or more. It is a real DP release: DP-SGD charged to the ledger, every audit run, export gated. The
gates are the tests' loosened ones (``helpers.tiny_spec_dict``): a model trained for seconds on 1,000 rows is
a test of the mechanics, not of fidelity. The shipped ``diabetes_demo`` spec is registered too (always), so
``SYNTHDATA_E2E_RELEASE=diabetes_demo`` launches the real demo instead.

    python tests/e2e/ui_home.py HOME    # writes HOME/specs/demo_e2e.yaml and HOME/input/
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: helpers
from helpers import DATA, tiny_spec_dict  # noqa: E402

NAME = "demo_e2e"
ROWS = 1_000


def prepare(home: Path, *, rows: int = ROWS) -> Path:
    """Write the cut table and the ``demo_e2e`` spec into ``home``; returns the spec's path."""
    demo = yaml.safe_load((DATA / "demo.yaml").read_text(encoding="utf-8"))
    table = home / "input" / f"diabetes_demo_{rows}.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    pl.read_csv(DATA / demo["dataset"]["path"], infer_schema=False).head(rows).write_csv(table)
    spec = tiny_spec_dict(table, DATA / demo["dataset"]["schema"], home / "unused")
    spec["name"] = NAME
    spec["dataset"] = {**demo["dataset"], "path": str(table), "schema": str(DATA / demo["dataset"]["schema"]),
                       "attribution": f"{demo['dataset']['attribution']} Its first {rows:,} rows."}
    spec.update(privacy=demo["privacy"], output=demo["output"], seed=demo["seed"])
    path = home / "specs" / f"{NAME}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/e2e/ui_home.py HOME")
    print(prepare(Path(sys.argv[1]).resolve()))
