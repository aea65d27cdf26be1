"""`synthdata audit`: synthetic data from any source, audited against real train and holdout files.

Real rows of diabetes_130us split by patient into train / holdout / fresh files.  Fresh real rows (never in
train or holdout) passed as "synthetic" must pass every gate; a generator that returns its training rows must
fail; bad input exits 2 and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from helpers import DATA
from synthdata.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audit-input")
    # Every column: with only a dozen columns, real patients share whole profiles by chance.
    frame = pl.read_csv(DATA / "diabetes_demo.csv", infer_schema=False).head(6000)
    patients = frame["patient_nbr"].unique().sort().to_numpy()
    rng = np.random.default_rng(3)
    part = dict(zip(patients, rng.integers(0, 5, size=len(patients))))  # 0-1 train, 2 holdout, 3-4 fresh
    where = np.array([part[p] for p in frame["patient_nbr"].to_list()])
    train, holdout, fresh = frame.filter(where <= 1), frame.filter(where == 2), frame.filter(where >= 3)
    copies = train.sample(n=fresh.height, with_replacement=True, seed=4)
    paths = {}
    for name, part_frame in {"train": train, "holdout": holdout, "fresh": fresh, "copies": copies}.items():
        paths[name] = folder / f"{name}.csv"
        part_frame.write_csv(paths[name])
    # Another tool's output: no identifier columns.
    paths["fresh_no_ids"] = folder / "fresh_no_ids.csv"
    fresh.drop("encounter_id", "patient_nbr").write_csv(paths["fresh_no_ids"])
    # A holdout that shares patients with training (a row-level split): not a holdout of unseen patients.
    paths["holdout_shared"] = folder / "holdout_shared.csv"
    pl.concat([holdout, train.head(200)]).write_csv(paths["holdout_shared"])
    paths["schema"] = DATA / "diabetes_demo.schema.yaml"
    return paths


def _audit(files: dict[str, Path], synthetic: Path, out: Path, *extra: str) -> list[str]:
    return ["audit", "--modality", "table", "--train", str(files["train"]), "--holdout", str(files["holdout"]),
            "--synthetic", str(synthetic), "--out", str(out), "--target", "readmitted",
            "--schema", str(files["schema"]), "--max-rows", "1500", *extra]


def test_fresh_real_records_pass_and_outputs_are_written(files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "audit"
    code = main(_audit(files, files["fresh_no_ids"], out))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    record = json.loads((out / "audit.json").read_text())
    assert record["passed"] is True
    names = {a["name"] for a in record["audits"]}
    assert {"fidelity.quality", "memorization.dcr_share", "memorization.exact_copies"} <= names
    for audit in record["audits"]:
        assert audit["passed"] is not False, audit
        assert {"value", "interval", "threshold", "passed"} <= set(audit)
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    html = (out / "report.html").read_text()
    assert "INTERNAL" not in html
    assert str(out) in captured.out
    # The schema's subject column is in both real files: whole patients are the units of the comparison.
    near = next(a for a in record["audits"] if a["name"] == "memorization.near_copies")
    assert near["details"]["units"]["grouped"] is True


def test_a_holdout_sharing_patients_with_training_is_said_and_rows_become_the_units(files, tmp_path: Path,
                                                                                   capsys) -> None:
    out = tmp_path / "audit"
    args = _audit(files, files["fresh_no_ids"], out)
    args[args.index("--holdout") + 1] = str(files["holdout_shared"])
    main(args)
    capsys.readouterr()
    record = json.loads((out / "audit.json").read_text())
    near = next(a for a in record["audits"] if a["name"] == "memorization.near_copies")
    assert near["details"]["units"]["grouped"] is False
    assert "rows in both the training and the holdout file" in (out / "report.html").read_text()


def test_copies_of_training_records_fail_the_memorization_gates(files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "audit"
    code = main(_audit(files, files["copies"], out))
    assert code == 3, capsys.readouterr().err
    record = json.loads((out / "audit.json").read_text())
    failed = {a["name"] for a in record["audits"] if a["passed"] is False}
    assert {"memorization.exact_copies", "memorization.dcr_share"} <= failed
    assert record["passed"] is False
    assert (out / "report.html").is_file()


def test_gate_overrides_apply(files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "audit"
    code = main(_audit(files, files["copies"], out, "--gate", "memorization.exact_copies=100000",
                       "--gate", "memorization.dcr_share=1.0"))
    capsys.readouterr()
    record = json.loads((out / "audit.json").read_text())
    by_name = {a["name"]: a for a in record["audits"]}
    assert by_name["memorization.exact_copies"]["threshold"] == 100000
    assert by_name["memorization.exact_copies"]["passed"] is True
    assert by_name["memorization.dcr_share"]["passed"] is True
    assert code in (0, 3)  # other gates (attacks) may still catch the copies


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing column", "lacks modelled column(s) num_medications"),
        ("unknown gate", "unknown audit name"),
        ("bad gate syntax", "NAME=THRESHOLD"),
        ("wrong type", "num_lab_procedures"),
        ("too few rows", "at least 10"),
        ("unknown target", "target column 'shoe_size'"),
        ("missing file", "does not exist"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(files, tmp_path: Path, capsys, case: str, expected: str) -> None:
    synthetic = tmp_path / "synthetic.csv"
    fresh = pl.read_csv(files["fresh"], infer_schema=False)
    extra: list[str] = []
    if case == "missing column":
        fresh = fresh.drop("num_medications")
    elif case == "unknown gate":
        extra = ["--gate", "fidelity.shoe_size=1"]
    elif case == "bad gate syntax":
        extra = ["--gate", "memorization.dcr_share"]
    elif case == "wrong type":
        fresh = fresh.with_columns(pl.lit("many").alias("num_lab_procedures"))
    elif case == "too few rows":
        fresh = fresh.head(5)
    fresh.write_csv(synthetic)
    if case == "missing file":
        synthetic = tmp_path / "absent.csv"
    out = tmp_path / "audit"
    args = _audit(files, synthetic, out, *extra)
    if case == "unknown target":
        args[args.index("readmitted")] = "shoe_size"
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err
    assert not out.exists()
    assert not any(p.name.startswith(".audit") for p in tmp_path.iterdir())


def test_internal_report_shows_closest_pairs_and_says_so_on_every_page(files, tmp_path: Path, capsys) -> None:
    from pypdf import PdfReader

    out = tmp_path / "audit"
    main(_audit(files, files["copies"], out, "--internal"))
    capsys.readouterr()
    # Real records go into report_internal.* only; the report one would hand on stays public.
    assert "Closest synthetic/real pairs" not in (out / "report.html").read_text()
    html = (out / "report_internal.html").read_text()
    assert "Closest synthetic/real pairs" in html
    pages = PdfReader(out / "report_internal.pdf").pages
    assert len(pages) > 1
    for page in pages:
        assert "INTERNAL" in page.extract_text()
