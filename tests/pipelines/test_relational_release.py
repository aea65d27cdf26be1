"""A relational database released through the CLI and its Dagster job: the shipped EHR example (1,000 invented
patients, their admissions and diagnoses) with a tiny model, the export read back: every key joins (the
released schema loads the released tables with on_orphan: error, and a plain join finds no orphan), every
file matches the manifest's checksum, the ledger holds ONE charge equal to the manifest's epsilon, the report
states each table's epsilon and the database's and each table's column distributions share, and every table was audited with the table audits as blocking
checks beside the structure and cardinality audits."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from helpers import DATA, OPEN_GATES

from evaluation import gate
from evaluation.report.content import format_number
from pipelines.factory import build_release_graph, check_name
from pipelines.registry import build_definitions
from synthdata.cli import main
from synthdata.config import SHARE_WITHOUT_MODEL
from synthdata.export.manifest import sha256_file
from synthdata.flow.steps import RELEASE, summary_metadata
from synthdata.modalities.relational import load_database
from synthdata.modalities.relational.storage import load_generator
from synthdata.privacy.ledger import Ledger
from synthdata.release_spec import load_spec
from synthdata.views.relational import DatabaseAuditSet

TABLES = ("PATIENTS", "ADMISSIONS", "DIAGNOSES")


def _spec(tmp_path: Path) -> Path:
    """The shipped example's spec with a tiny model (5 full-batch DP steps per table) and the privacy gates
    that cannot judge tiny tables opened (their own tests check them)."""
    spec = yaml.safe_load((DATA / "ehr_example.yaml").read_text(encoding="utf-8"))
    spec["dataset"].update(path=str(DATA / "ehr_example"), schema=str(DATA / "ehr_example.schema.yaml"))
    spec["model"] = {"preset": "fast", "epochs": 5, "batch_size": 1024, "hidden": 32, "depth": 1, "augmentation": 1,
                     "sample_steps": 4}
    spec["audits"] = {"gates": {**OPEN_GATES, "fidelity.quality": 0.0, "fidelity.representation": 0.0,
                                "memorization.patient_dcr_share": 1.0, "memorization.patient_near_copies": 1.0,
                                "fidelity.cross_table_trends": 0.0, "utility.cross_table_tstr": -1e6,
                                "attack.patient_membership_inference": 1.0},
                      "max_rows": 200}
    spec["output"] = {"out": str(tmp_path / "release")}
    path = tmp_path / "ehr.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_a_database_releases_through_the_cli_and_reads_back(synthdata_home: Path, tmp_path: Path, capsys) -> None:
    spec_file = _spec(tmp_path)
    code = main(["release", "--config", str(spec_file), "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    out = tmp_path / "release"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))

    # every file listed, each matching its checksum; Parquet and CSV for every table, the schema with keys named
    listed = {entry["path"] for entry in manifest["files"]}
    assert {f"{t}.{suffix}" for t in TABLES for suffix in ("parquet", "csv")} | {"schema.yaml", "report.html"} <= listed
    for entry in manifest["files"]:
        assert sha256_file(out / entry["path"]) == entry["sha256"], entry["path"]

    # every key joins: the released schema loads the released tables refusing any orphan, and plain joins agree
    released = yaml.safe_load((out / "schema.yaml").read_text(encoding="utf-8"))
    assert released["tables"]["ADMISSIONS"]["keys"] == ["hadm_id"]
    released["on_orphan"] = "error"
    strict = tmp_path / "strict.schema.yaml"
    strict.write_text(yaml.safe_dump(released), encoding="utf-8")
    database = load_database(schema=strict, folder=out)
    for name in TABLES:
        assert database.tables[name].counts.dropped_as_orphans == 0 and database.tables[name].counts.removed_by_caps == 0
    tables = {name: pl.read_csv(out / f"{name}.csv", infer_schema=False) for name in TABLES}
    assert tables["PATIENTS"]["subject_id"].n_unique() == tables["PATIENTS"].height > 0
    assert tables["ADMISSIONS"].join(tables["PATIENTS"], on="subject_id", how="anti").height == 0
    assert tables["DIAGNOSES"].join(tables["ADMISSIONS"], on="hadm_id", how="anti").height == 0
    assert tables["DIAGNOSES"]["hadm_id"].null_count() == 0
    real_keys = set(pl.read_csv(DATA / "ehr_example" / "admissions.csv", infer_schema=False)["hadm_id"])
    assert not real_keys & set(tables["ADMISSIONS"]["hadm_id"])  # fresh keys, never real ones
    assert manifest["rows_per_table"] == {name: tables[name].height for name in TABLES}

    # one ledger charge, the database's composed epsilon, stated in the manifest
    (state,) = Ledger(path=synthdata_home / "ledger.sqlite").datasets()
    charges = Ledger(path=synthdata_home / "ledger.sqlite").history(fingerprint=state.fingerprint)
    assert [c["status"] for c in charges] == ["spent"]
    assert charges[0]["epsilon"] == pytest.approx(manifest["epsilon"]) == pytest.approx(state.spent)
    assert 0 < manifest["epsilon"] <= 3.0 + 1e-9 and manifest["dp_valid"] is True
    per_table = manifest["epsilon_per_table"]
    assert set(per_table) == set(TABLES) and all(0 < e < manifest["epsilon"] for e in per_table.values())
    assert sum(per_table.values()) > manifest["epsilon"]  # each table's own figure: they do not add up
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "do not add up" in report and all(name in report for name in TABLES)

    # each table's column distributions share, left to the release: as the generator split the budget (and the
    # joint plan composed it), each table's DP-SGD here too noisy (5 full-batch steps at epsilon 3): 0.9
    (generator_file,) = synthdata_home.rglob("generator.pt")
    split = load_generator(generator_file).budget
    shares = manifest["marginals_share_per_table"]
    assert shares == {name: round(share, 4) for name, share in split.marginals_shares().items()}
    assert shares == dict.fromkeys(TABLES, SHARE_WITHOUT_MODEL) and "chosen per table" in manifest["marginals_share_chosen"]
    for name in TABLES:
        assert split.marginals[name].epsilon == pytest.approx(9 * split.training[name].epsilon)
        assert f"{name} {format_number(SHARE_WITHOUT_MODEL)} / {format_number(1 - SHARE_WITHOUT_MODEL)}" in report

    # what loading removed per table (4 and 10 orphans are planted): the generator's DP estimates, labelled so,
    # never the exact counts; the Dagster metadata of the model step does not carry them
    exact = load_database(schema=DATA / "ehr_example.schema.yaml", folder=DATA / "ehr_example").counts()
    assert (exact["ADMISSIONS"].orphans_clipped, exact["DIAGNOSES"].orphans_clipped) == (4, 10)
    noisy = load_generator(generator_file).cardinalities.loading
    loading = manifest["loading_counts"]
    assert set(loading) == set(noisy) == {"ADMISSIONS", "DIAGNOSES"}
    for name, entry in loading.items():
        assert "DP estimate" in entry["kind"] and entry["noise_sd"] == round(noisy[name].sigma, 2) > 1
        assert noisy[name].orphans != exact[name].orphans_clipped
        assert entry["orphans_dropped"] == round(noisy[name].orphans, 1)
        assert entry["rows_removed_by_caps"] == round(noisy[name].removed_by_caps, 1)
        assert f"orphans dropped ≈ {format_number(entry['orphans_dropped'])}" in report
    assert "DP estimates from the structure mechanism" in report
    training = json.loads(next(synthdata_home.rglob("training.json")).read_text(encoding="utf-8"))
    assert "loading_counts" not in summary_metadata(RELEASE[1], training)

    # one Dagster asset per table, materialised below the synthetic database: its synthetic rows, its epsilon and
    # the DP estimates of what loading removed, the same figures as the manifest (never the exact 4 and 10)
    with dg.DagsterInstance.get() as instance:
        for name in TABLES:
            event = instance.get_latest_materialization_event(dg.AssetKey(["ehr_example", "tables", name]))
            assert event is not None, name
            metadata = {key: value.value for key, value in event.asset_materialization.metadata.items()}
            assert metadata["synthetic_rows"] == manifest["rows_per_table"][name]
            assert metadata["epsilon_table"] == pytest.approx(per_table[name])
            if name in loading:
                assert metadata["orphans_dropped_dp_estimate"] == loading[name]["orphans_dropped"]
                assert metadata["orphans_dropped_dp_estimate"] != exact[name].orphans_clipped

    # audits: every table audit on every table, the structure and cardinality audits; none failed
    audited = {a["name"]: a for a in manifest["audits"]}
    for name in TABLES:
        assert {f"{name}:fidelity.quality", f"{name}:memorization.exact_copies"} <= set(audited)
    assert audited["fidelity.structure"]["value"] == 0 and audited["fidelity.structure"]["passed"] is True
    assert audited["fidelity.cardinality"]["passed"] is True
    # the audits across tables, every one a gate (opened here for the tiny model, as the tables' own): pair trends
    # and utility on joined admissions, whole patients' memorization
    assert audited["fidelity.cross_table_trends"]["threshold"] == 0.0 and audited["fidelity.cross_table_trends"]["value"]
    assert audited["utility.cross_table_tstr"]["threshold"] == -1e6
    assert audited["memorization.patient_near_copies"]["threshold"] == 1.0
    assert audited["memorization.patient_dcr_share"]["value"] is not None
    assert not [a for a in audited.values() if a["passed"] is False]

    # in Dagster: the release's job, every audit a check on `synthetic`, blocking where gated
    spec = load_spec(spec_file)
    definitions = build_definitions([spec])
    assert definitions.resolve_job_def("ehr_example_release") is not None
    checks = {c.name: c for c in build_release_graph(spec).checks[0].check_specs}
    assert checks[check_name("DIAGNOSES:memorization.exact_copies")].blocking
    assert checks[check_name("fidelity.structure")].blocking and checks[check_name("fidelity.cardinality")].blocking
    assert len(checks) == len(gate.audits_for(view=DatabaseAuditSet, target=None, parts=TABLES))
    keys = {tuple(key.path) for asset in build_release_graph(spec).assets for key in getattr(asset, "keys", ())}
    assert {("ehr_example", "tables", name) for name in TABLES} <= keys
