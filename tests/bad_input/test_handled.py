"""Inputs a release handles rather than refuses (docs/guide.md, "Bad input"): one tiny real release of a table
with a column named ``<script>alert(1)</script>`` and a nullable column whose every value is missing.  It
releases; the report escapes the column name; the all-missing column is kept and comes out (almost all)
missing; the ledger is charged the release's epsilon once."""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl
import yaml

from bad_input.case import SCRIPT, Invocation
from bad_input.tables import handled_table
from bad_input.refusal import ledger_state, run, seed_ledger
from helpers import tiny_spec_dict


def test_a_script_column_and_an_all_missing_column_release(corpus_home: Path, tmp_path: Path, capsys) -> None:
    data, schema = handled_table(tmp_path)
    out = tmp_path / "out"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict(data, schema, out), sort_keys=False))
    seed_ledger(corpus_home)
    before = ledger_state(corpus_home)

    code, message, printed = run(Invocation(["release", "--config", str(spec), "--quiet"], out), capsys)

    assert code == 0, printed
    assert "Traceback" not in printed
    page = (out / "report.html").read_text(encoding="utf-8")
    assert SCRIPT not in page and "<script" not in page.lower()  # the report has no script of its own either
    assert html.escape(SCRIPT, quote=False) in page

    synthetic = pl.read_parquet(out / "synthetic.parquet")
    assert {SCRIPT, "hba1c_value"} <= set(synthetic.columns)
    # Kept, not dropped: that a column is entirely missing is a fact about the private records.  Its DP
    # distribution puts (nearly) all its mass on missing, so the synthetic column is (nearly) all missing.
    assert synthetic["hba1c_value"].null_count() > 0.5 * synthetic.height

    after = ledger_state(corpus_home)
    assert after[0] == before[0]  # the earlier dataset is untouched
    (new,) = after[1:]
    assert new[4] == 1 and 0 < new[2] <= 4.0 + 1e-9 and new[3] == 0  # one charge, at most the release's epsilon
