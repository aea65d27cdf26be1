"""Shared fixtures: a small real table cut from the shipped diabetes_130us demo slice, and a fresh home."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

DATA = Path(__file__).resolve().parent.parent / "synthdata" / "data"
TINY_COLUMNS = ["encounter_id", "patient_nbr", "race", "gender", "age", "time_in_hospital",
                "num_lab_procedures", "num_medications", "number_inpatient", "A1Cresult", "insulin",
                "diabetesMed", "readmitted"]


@pytest.fixture()
def synthdata_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SYNTHDATA_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home


def tiny_schema() -> dict:
    full = yaml.safe_load((DATA / "diabetes_demo.schema.yaml").read_text())
    return {"subject": "patient_nbr", "missing_values": ["?"],
            "columns": {name: full["columns"][name] for name in TINY_COLUMNS}}


@pytest.fixture()
def tiny_table(tmp_path: Path) -> tuple[Path, Path]:
    """600 real rows x 13 columns of diabetes_130us and a schema declaring them (public domains)."""
    frame = pl.read_csv(DATA / "diabetes_demo.csv", infer_schema=False).select(TINY_COLUMNS).head(600)
    data = tmp_path / "input" / "tiny.csv"
    data.parent.mkdir()
    frame.write_csv(data)
    schema = tmp_path / "input" / "tiny.schema.yaml"
    schema.write_text(yaml.safe_dump(tiny_schema(), sort_keys=False))
    return data, schema


def tiny_spec_dict(data: Path, schema: Path | None, out: Path, **privacy) -> dict:
    return {
        "name": "tiny",
        "dataset": {"path": str(data), "schema": str(schema) if schema else None, "target": "readmitted"},
        "privacy": {"epsilon": 4.0, **privacy},
        "model": {"preset": "fast", "epochs": 2, "batch_size": 64, "hidden": 32, "depth": 1, "sample_steps": 10,
                  "timesteps": 100},
        "audits": {"max_rows": 300},
        "output": {"out": str(out)},
        "seed": 7,
    }
