"""The Dagster graph: definitions load; a release materialises end to end; a failing gate blocks export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines.factory import build_release_graph, check_name
from pipelines.registry import build_definitions
from pipelines.runner import run_release
from synthdata.release_spec import parse_spec
from synthdata.export.manifest import sha256_file
from helpers import tiny_spec_dict as tiny_spec



def test_definitions_load_with_the_demo_spec(synthdata_home: Path) -> None:
    from pipelines.definitions import defs as module_defs  # what `dagster dev -m pipelines.definitions` loads

    assert module_defs.resolve_job_def("diabetes_demo_release") is not None
    defs = build_definitions()
    job = defs.resolve_job_def("diabetes_demo_release")
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"diabetes_demo/raw", "diabetes_demo/prepared", "diabetes_demo/model", "diabetes_demo/synthetic",
            "diabetes_demo/export"} <= keys
    assert job is not None
    for example in ("eeg_eyes", "ecg_beats", "breastmnist"):  # one example release per modality
        assert defs.resolve_job_def(f"{example}_release") is not None


def test_release_materialises_and_exports(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    out = tmp_path / "release"
    spec = parse_spec(tiny_spec(data, schema, out))
    outcome = run_release(spec)
    assert outcome.exit_code == 0, outcome.message
    manifest = json.loads((out / "manifest.json").read_text())
    training = json.loads((outcome.work_area / "model" / "training.json").read_text())
    # The manifest states what the accountant reported: the parts' own epsilons (added up, more than the total)
    # and the release's, their composition by the accountants, within the spec's.
    assert manifest["epsilon_training"] == training["epsilon_training"]
    assert manifest["epsilon_basic_composition"] == pytest.approx(
        manifest["epsilon_training"] + manifest["epsilon_preprocessing"] + manifest["epsilon_marginals"])
    assert manifest["epsilon"] == pytest.approx(training["epsilon"])
    assert manifest["epsilon"] < manifest["epsilon_basic_composition"] and manifest["epsilon"] <= spec.privacy.epsilon
    assert manifest["epsilon_marginals"] == pytest.approx(
        spec.privacy.epsilon * json.loads((outcome.work_area / "prepared" / "prepared.json").read_text())["marginals_share"])
    assert "PCG64" in manifest["noise_source"]  # the histograms' noise is numpy's, not torch's: both are stated
    assert 0 < manifest["epsilon"] <= 4.0 + 1e-9
    assert manifest["privacy_unit"].startswith("one patient")
    assert manifest["dp_valid"] is True and manifest["seed"] == 7
    for entry in manifest["files"]:
        assert sha256_file(out / entry["path"]) == entry["sha256"]
    assert {a["name"] for a in manifest["audits"]} >= {"fidelity.quality", "memorization.dcr_share"}
    synthetic = pl.read_parquet(out / "synthetic.parquet")
    assert synthetic.height == manifest["records"] > 0
    assert "patient_nbr" not in synthetic.columns and "encounter_id" not in synthetic.columns
    assert pq.read_schema(out / "synthetic.parquet").metadata[b"synthdata.synthetic"] == b"true"
    assert (out / "report.html").read_text().count("<html") == 1
    # The run shows in the instance's history.
    os.environ["DAGSTER_HOME"] = str(synthdata_home / "dagster")
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(outcome.run_id) is not None


def test_no_hash_of_the_private_data_is_published(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    """The dataset fingerprint (SHA-256 of every record) stays in the ledger: manifests, reports, audit records
    and Dagster's event log carry a random dataset id and a random release id instead."""
    from synthdata.privacy.ledger import Ledger

    data, schema = tiny_table
    manifests = []
    for out in (tmp_path / "first", tmp_path / "second"):
        outcome = run_release(parse_spec(tiny_spec(data, schema, out)))
        assert outcome.exit_code == 0, outcome.message
        manifests.append(json.loads((out / "manifest.json").read_text()))
        (state,) = Ledger(path=synthdata_home / "ledger.sqlite").datasets()
        published = " ".join(p.read_text(errors="ignore") for p in out.iterdir() if p.suffix in (".json", ".html", ".yaml"))
        os.environ["DAGSTER_HOME"] = str(synthdata_home / "dagster")
        with dg.DagsterInstance.get() as instance:
            published += " ".join(str(record) for record in instance.all_logs(outcome.run_id))
        for length in (12, 16, 64):
            assert state.fingerprint[:length] not in published
        assert state.dataset_id in published
    assert manifests[0]["dataset_id"] == manifests[1]["dataset_id"] == state.dataset_id  # one dataset, one budget
    assert manifests[0]["release_id"] != manifests[1]["release_id"]
    assert "dataset_fingerprint" not in manifests[0]


def test_failing_gate_blocks_export(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    out = tmp_path / "release"
    raw = tiny_spec(data, schema, out)
    raw["audits"]["gates"] = {"fidelity.quality": 0.999}
    spec = parse_spec(raw)
    outcome = run_release(spec)
    assert outcome.exit_code == 3
    assert not out.exists() and not list(tmp_path.glob(".release.partial-*"))
    assert outcome.report is not None and outcome.report.is_file()
    audit = json.loads((outcome.work_area / "synthetic" / "audit.json").read_text())
    assert audit["passed"] is False
    os.environ["DAGSTER_HOME"] = str(synthdata_home / "dagster")
    with dg.DagsterInstance.get() as instance:
        export_key = dg.AssetKey(["tiny", "export"])
        assert instance.get_latest_materialization_event(export_key) is None
        key = dg.AssetCheckKey(dg.AssetKey(["tiny", "synthetic"]), check_name("fidelity.quality"))
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        evaluation = check.event.dagster_event.event_specific_data
        assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.ERROR
        metadata = evaluation.metadata
        assert metadata["verdict"].value == "FAIL" and metadata["threshold"].value == "0.999"
        quality = next(a for a in audit["audits"] if a["name"] == "fidelity.quality")
        assert metadata["value"].value == pytest.approx(quality["value"])
        plots = [k for k in metadata if k.startswith("plot: ")]
        assert plots and metadata[plots[0]].value.startswith("![")


def test_graph_has_one_blocking_check_per_gated_audit(tiny_table, tmp_path: Path) -> None:
    import pandas as pd

    from evaluation.registry import AUDITS

    data, schema = tiny_table
    graph = build_release_graph(parse_spec(tiny_spec(data, schema, tmp_path / "o")))
    specs = {spec.name: spec for spec in graph.checks[0].check_specs}
    table_audits = {n: cls for n, cls in AUDITS.items() if cls.reads(pd.DataFrame) and not cls.optional}
    assert set(specs) == {check_name(n) for n in table_audits}
    assert "fidelity.spectrum" not in table_audits  # signal audits are not checks of a table release
    assert "privacy.canary_audit" not in specs  # the spec asked for no canary audit
    for name, cls in table_audits.items():
        assert specs[check_name(name)].blocking == (cls.default_threshold is not None)


def test_a_gate_set_in_the_spec_makes_its_check_blocking(tiny_table, tmp_path: Path) -> None:
    """An informative audit (no default threshold) given a threshold in the spec blocks like any gate."""
    data, schema = tiny_table
    raw = tiny_spec(data, schema, tmp_path / "o")
    raw["audits"] = {**raw.get("audits", {}), "gates": {"fidelity.detection": 0.9}}
    specs = {spec.name: spec for spec in build_release_graph(parse_spec(raw)).checks[0].check_specs}
    assert specs[check_name("fidelity.detection")].blocking
    assert not specs[check_name("fidelity.column_distance")].blocking


def test_dagster_event_log_gets_no_input_file_name_nor_value(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    """A file named by a patient's MRN holding a bad value: Dagster's event log (kept forever) names the
    column and the record's position, never the file name or the value; the local CLI outcome has both."""
    data, schema = tiny_table
    frame = pl.read_csv(data, infer_schema=False)
    bad = frame.with_columns(pl.when(pl.int_range(pl.len()) == 17).then(pl.lit("SMITH-JOHN"))
                             .otherwise(pl.col("time_in_hospital")).alias("time_in_hospital"))
    named = data.parent / "MRN-88231-ward7.csv"
    bad.write_csv(named)
    outcome = run_release(parse_spec(tiny_spec(named, schema, tmp_path / "release")))
    assert outcome.exit_code == 2
    os.environ["DAGSTER_HOME"] = str(synthdata_home / "dagster")
    with dg.DagsterInstance.get() as instance:
        logged = " ".join(str(record) for record in instance.all_logs(outcome.run_id))
    assert "time_in_hospital" in logged  # the column is named
    assert "MRN-88231" not in logged and "SMITH-JOHN" not in logged
    assert "MRN-88231" in outcome.message and "time_in_hospital" in outcome.message  # the terminal: everything
    assert "SMITH-JOHN" in f"{outcome.message} {outcome.hint}"
    assert not list((synthdata_home / "errors").glob("*.json"))  # the CLI's copy is read once, then deleted


def test_a_dagster_home_the_user_set_is_respected(synthdata_home: Path, tiny_table, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own Dagster instance (their dagster.yaml: storage, ...) records the run, not synthdata's."""
    theirs = tmp_path / "their-dagster"
    theirs.mkdir()
    (theirs / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(theirs))
    data, schema = tiny_table
    outcome = run_release(parse_spec(tiny_spec(data, schema, tmp_path / "release")))
    assert outcome.exit_code == 0, outcome.message
    with dg.DagsterInstance.from_config(str(theirs)) as instance:
        assert instance.get_run_by_id(outcome.run_id) is not None
    assert not (synthdata_home / "dagster" / "history").exists()  # synthdata's own instance saw nothing
