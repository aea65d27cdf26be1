"""The Python API: a schema declaring only the column types (every domain learned with DP) end to end."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from helpers import tiny_spec_dict, tiny_types_schema
from synthdata.api import release
from synthdata.release_spec import parse_spec
from synthdata.privacy.ledger import Ledger


def test_release_with_only_types_declared_pays_for_domains(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, _ = tiny_table
    schema = tmp_path / "types.schema.yaml"
    declared = tiny_types_schema()
    # On 480 rows the noise-free margin of time_in_hospital's range is only 2.6 noise sd at this budget (about 1%
    # of runs would fail by chance): its public range is declared; the other three ranges clear by 6-20 sd.
    declared["columns"]["time_in_hospital"].update(min=1, max=14)
    schema.write_text(yaml.safe_dump(declared, sort_keys=False))
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    # Every column's domain is learned with DP here, from OS-entropy noise: at epsilon 4 x 0.3 over 11 columns
    # a numeric range was sometimes swamped by the noise (a BadInputError that tells the steward so), so
    # this mechanics test spends a larger budget.
    raw["privacy"]["epsilon"] = 8.0
    raw["privacy"]["preprocessing_share"] = 0.5
    raw["privacy"]["marginals_share"] = 0.3  # the shares must leave training at least 5%
    raw["dataset"]["target"] = None  # 600 rows: the utility audit is exercised by the pipeline tests
    spec = parse_spec(raw)
    done = release(spec=spec, progress=False)
    manifest = json.loads((done.out / "manifest.json").read_text())
    assert manifest["epsilon_preprocessing"] == pytest.approx(8.0 * 0.5)
    assert manifest["epsilon_basic_composition"] == pytest.approx(
        manifest["epsilon_preprocessing"] + manifest["epsilon_marginals"] + manifest["epsilon_training"])
    assert manifest["epsilon"] <= 8.0 + 1e-9  # the parts composed by the accountants (DP domains added whole)
    synthetic = pl.read_parquet(done.out / "synthetic.parquet")
    # identifier-like columns were dropped, never modelled or released
    assert "encounter_id" not in synthetic.columns and "patient_nbr" not in synthetic.columns
    report = (done.out / "report.html").read_text()
    assert "learned with DP" in report
    # the ledger charged what the manifest states, once
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    (state,) = ledger.datasets()
    assert state.spent == pytest.approx(manifest["epsilon"]) and state.reserved == 0
