"""Malformed relational databases of the bad-input corpus: the shipped example (``synthdata/data/ehr_example``)
copied under a temporary folder with its schema or one table damaged, released with ``--config``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import yaml

from bad_input.case import Case, Invocation
from helpers import DATA


def _release(edit: Callable[[dict, Path], tuple[str, ...]]) -> Callable[[Path], Invocation]:
    """A case on the example: ``edit(schema, folder)`` damages the schema (a mapping, written afterwards) or a
    table of ``folder`` and returns what the message must name."""

    def build(root: Path) -> Invocation:
        folder = root / "input" / "ehr"
        shutil.copytree(DATA / "ehr_example", folder)
        schema = yaml.safe_load((DATA / "ehr_example.schema.yaml").read_text(encoding="utf-8"))
        names = edit(schema, folder)
        schema_file = root / "input" / "ehr.schema.yaml"
        schema_file.write_text(yaml.safe_dump(schema, sort_keys=False), encoding="utf-8")
        spec = root / "spec.yaml"
        spec.write_text(yaml.safe_dump({
            "name": "ehr", "dataset": {"path": str(folder), "modality": "relational", "schema": str(schema_file)},
            "privacy": {"epsilon": 3.0}, "model": {"preset": "fast"}, "output": {"out": str(root / "out")}},
            sort_keys=False), encoding="utf-8")
        return Invocation(["release", "--config", str(spec), "--quiet"], root / "out", names)

    return build


def _orphans_refused(schema: dict, folder: Path) -> tuple[str, ...]:
    schema["on_orphan"] = "error"  # the example holds 4 admissions of no patient and 10 diagnoses of no admission
    return ("ADMISSIONS", "subject_id")


def _cycle(schema: dict, folder: Path) -> tuple[str, ...]:
    patients = schema["tables"]["PATIENTS"]
    schema["subject"] = "ADMISSIONS"  # PATIENTS now points at ADMISSIONS, which points back
    patients["columns"]["first_hadm_id"] = {"type": "identifier"}
    patients["references"] = {"first_hadm_id": "ADMISSIONS.hadm_id"}
    return ("PATIENTS.first_hadm_id", "ADMISSIONS.subject_id")


def _missing_key_column(schema: dict, folder: Path) -> tuple[str, ...]:
    frame = pl.read_csv(folder / "admissions.csv", infer_schema=False)
    frame.drop("hadm_id").write_csv(folder / "admissions.csv")
    return ("ADMISSIONS", "hadm_id")


def _key_not_unique(schema: dict, folder: Path) -> tuple[str, ...]:
    frame = pl.read_csv(folder / "patients.csv", infer_schema=False)
    frame.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit(frame["subject_id"][0]))
                       .otherwise(pl.col("subject_id")).alias("subject_id")).write_csv(folder / "patients.csv")
    return ("PATIENTS", "subject_id")


def _parent_table_absent(schema: dict, folder: Path) -> tuple[str, ...]:
    del schema["tables"]["ADMISSIONS"]
    return ("DIAGNOSES", "hadm_id", "ADMISSIONS")


RELATIONAL_CASES: list[Case] = [
    Case("relational-orphans-on-orphan-error", "relational", _release(_orphans_refused), ("on_orphan: error",)),
    Case("relational-cycle", "relational", _release(_cycle), ("cycle",)),
    Case("relational-missing-key-column", "relational", _release(_missing_key_column), ("missing",)),
    Case("relational-key-not-unique", "relational", _release(_key_not_unique), ("not unique",)),
    Case("relational-parent-table-absent", "relational", _release(_parent_table_absent), ("not in the schema",)),
]
