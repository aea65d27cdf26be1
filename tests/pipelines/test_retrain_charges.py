"""Retraining from earlier prepared data charges the new training once and keeps the composed guarantee."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import tiny_spec_dict, tiny_types_schema
from synthdata import home
from synthdata.flow import stages
from synthdata.run_area import RunArea
from synthdata.release_spec import parse_spec
from synthdata.privacy.ledger import Ledger


def test_retraining_charges_training_only_and_states_the_composed_epsilon(
    synthdata_home: Path, tiny_table, tmp_path: Path
) -> None:
    data, _ = tiny_table
    schema = tmp_path / "types.schema.yaml"
    schema.write_text(yaml.safe_dump(tiny_types_schema(ranges=False), sort_keys=False))
    raw = tiny_spec_dict(data, schema, tmp_path / "release")  # category lists are learned with DP
    raw["privacy"]["preprocessing_share"] = 0.3
    spec = parse_spec(raw)
    area = RunArea(home.run_dir("first"))
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    prepared = stages.prepare(spec=spec, area=area, ledger=ledger, run_id="first")
    first = stages.train(spec=spec, area=area, ledger=ledger, run_id="first", progress=False)
    second = stages.train(spec=spec, area=area, ledger=ledger, run_id="second", progress=False)
    assert prepared["epsilon_preprocessing"] == pytest.approx(1.2)
    for run in (first, second):
        assert run["epsilon_basic_composition"] == pytest.approx(run["epsilon_preprocessing"] + run["epsilon_marginals"]
                                                                 + run["epsilon_training"])
        assert run["epsilon"] <= run["epsilon_basic_composition"] + 1e-9
        assert run["epsilon_marginals"] == pytest.approx(4.0 * prepared["marginals_share"])
        assert run["epsilon_preprocessing"] == pytest.approx(1.2)
    (state,) = ledger.datasets()
    assert state.reserved == 0
    assert state.spent == pytest.approx(first["epsilon"] + second["epsilon_training"])
    charges = {c["run_id"]: c for c in ledger.history(fingerprint=state.fingerprint)}
    assert [m["stage"] for m in charges["second"]["mechanisms"]] == ["training"]


def test_a_typed_parquet_copy_and_a_derived_table_draw_on_the_csvs_budget(
    synthdata_home: Path, tiny_table, tmp_path: Path
) -> None:
    """The same rows as typed Parquet get no fresh budget; neither does the table with a row dropped once it is
    declared derived (`same_budget_as`), and the dry run sees the same budget."""
    import polars as pl

    from synthdata.errors import BudgetRefusedError

    data, schema = tiny_table
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["privacy"].update(epsilon=3.0, total_epsilon=5.0)
    stages.prepare(spec=parse_spec(raw), area=RunArea(home.run_dir("csv")), ledger=ledger, run_id="csv")
    (parent,) = ledger.datasets()

    copy = data.with_suffix(".parquet")
    pl.read_csv(data).write_parquet(copy)  # inferred types: integer columns become Int64
    assert dict(pl.read_parquet_schema(copy))["time_in_hospital"] == pl.Int64
    raw_copy = {**raw, "dataset": {**raw["dataset"], "path": str(copy)}}
    with pytest.raises(BudgetRefusedError):
        stages.prepare(spec=parse_spec(raw_copy), area=RunArea(home.run_dir("parquet")), ledger=ledger,
                       run_id="parquet")

    derived = data.with_name("derived.csv")
    pl.read_csv(data, infer_schema=False).slice(1).write_csv(derived)  # one row dropped: a new fingerprint
    raw_derived = {**raw, "dataset": {**raw["dataset"], "path": str(derived)},
                   "privacy": {**raw["privacy"], "epsilon": 1.0, "same_budget_as": parent.dataset_id}}
    assert stages.plan(spec=parse_spec(raw_derived), ledger=ledger)["budget_remaining"] == pytest.approx(2.0)
    stages.prepare(spec=parse_spec(raw_derived), area=RunArea(home.run_dir("derived")), ledger=ledger,
                   run_id="derived")
    (only,) = ledger.datasets()
    assert only.reserved == pytest.approx(4.0)  # 3 + 1 on the parent's budget, no second dataset


def test_a_failed_dp_preprocessing_charges_its_part_and_releases_the_rest(
    synthdata_home: Path, tiny_table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When DP discovery draws its noise and still cannot learn a range, that part of epsilon is spent and
    the rest of the reservation is released (it used to stay reserved, counting in full, until settled)."""
    import yaml

    from synthdata.errors import PreprocessingFailedError
    from synthdata.modalities.table import discovery
    from synthdata.modalities.table import modality as table_modality
    from synthdata.privacy.dp_statistics import NoSignalError

    data, schema = tiny_table
    raw_schema = yaml.safe_load(schema.read_text())
    raw_schema["columns"]["num_lab_procedures"] = {"type": "numeric", "integer": True}
    schema.write_text(yaml.safe_dump(raw_schema, sort_keys=False))
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["privacy"].update(epsilon=0.2, preprocessing_share=0.1)
    monkeypatch.setattr(table_modality, "doomed_columns", lambda **_: [])  # the noise-free look missed it

    def swamped(**_):  # the noise defeated the range (by chance it can clear the floor: not left to chance)
        raise NoSignalError("no bin of the noisy histogram rose above the noise")

    monkeypatch.setattr(discovery, "dp_numeric_bounds", swamped)
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    with pytest.raises(PreprocessingFailedError, match="spent epsilon 0.02"):
        stages.prepare(spec=parse_spec(raw), area=RunArea(home.run_dir("fail")), ledger=ledger, run_id="fail")
    (state,) = ledger.datasets()
    assert state.reserved == 0 and state.spent == pytest.approx(0.02)
    assert ledger.composition(fingerprint=state.fingerprint).naive == pytest.approx(0.02)
