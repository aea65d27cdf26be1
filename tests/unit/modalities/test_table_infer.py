"""Type inference (types only, domains left to DP) and the schema draft for the data steward."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import synthdata
from synthdata.modalities.table.infer import DRAFT_WARNING, draft_schema, infer_schema, render_draft
from synthdata.modalities.table.reader import read_table
from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    IdentifierColumn,
    NumericColumn,
    load_schema,
)

DATA = Path(synthdata.__file__).parent / "data"


@pytest.fixture(scope="module")
def demo_text() -> pl.DataFrame:
    return read_table(path=DATA / "diabetes_demo.csv", schema=None)


def test_demo_types(demo_text: pl.DataFrame) -> None:
    report = infer_schema(frame=demo_text)
    columns = report.schema.columns
    assert report.dropped == ["encounter_id", "patient_nbr"]
    assert all(isinstance(columns[name], IdentifierColumn) for name in report.dropped)
    for name in ["admission_type_id", "discharge_disposition_id", "admission_source_id", "race", "diag_1",
                 "readmitted"]:
        assert isinstance(columns[name], CategoricalColumn) and columns[name].categories == "discover", name
    for name in ["time_in_hospital", "num_lab_procedures", "num_procedures", "number_outpatient",
                 "number_diagnoses"]:
        column = columns[name]
        assert isinstance(column, NumericColumn) and column.integer, name
        assert column.min is None and column.max is None
    assert all(columns[name].nullable for name in report.schema.modelled_columns)
    assert report.schema.origin == "inferred"
    assert report.schema.subject is None
    assert sorted(report.schema.needs_discovery) == sorted(report.schema.modelled_columns)
    assert any("'race' inferred as categorical" in note for note in report.notes)


def test_notes_hold_no_values(demo_text: pl.DataFrame) -> None:
    notes = " ".join(infer_schema(frame=demo_text).notes)
    for name in ["race", "medical_specialty", "payer_code", "encounter_id"]:
        for value in demo_text[name].drop_nulls().unique().to_list():
            if len(value) >= 3:
                assert value not in notes, name


def _frame(**columns: list) -> pl.DataFrame:
    return pl.DataFrame({name: pl.Series(values, dtype=pl.String) for name, values in columns.items()})


def test_identifier_rules() -> None:
    n = 30
    frame = _frame(
        patient_id=[str(i % 20) for i in range(n)],  # ID name, 20/30 distinct -> identifier
        PatientID=[f"P{i % 20}" for i in range(n)],  # camelCase ID name
        ward_id=[str(i % 3) for i in range(n)],  # ID name, few values -> categorical code
        number_outpatient=[str(i % 16) for i in range(n)],  # 'number' is no ID suffix -> numeric
        free_text=[f"note {i}" for i in range(n)],  # unique per row -> identifier
        row=[str(1000 + i) for i in range(n)],  # unique whole numbers -> identifier
        creatinine=[f"{0.5 + i / 97:.4f}" for i in range(n)],  # unique fractions: a measurement
        visit_day=[f"2020-01-{i % 28 + 1:02d}" for i in range(n)],
    )
    report = infer_schema(frame=frame)
    columns = report.schema.columns
    assert report.dropped == ["patient_id", "PatientID", "free_text", "row"]
    assert isinstance(columns["ward_id"], CategoricalColumn)
    assert isinstance(columns["number_outpatient"], NumericColumn) and columns["number_outpatient"].integer
    assert isinstance(columns["creatinine"], NumericColumn) and not columns["creatinine"].integer
    assert isinstance(columns["visit_day"], DatetimeColumn) and columns["visit_day"].resolution == "day"
    assert any(note.startswith("WARNING: 'free_text'") for note in report.notes)


def test_patient_ids_repeated_over_many_rows_are_still_identifiers() -> None:
    n = 1200
    frame = _frame(subject_id=[str(10_000 + i % 150) for i in range(n)],  # 150 patients x 8 rows
                   visit_type_id=[str(i % 9) for i in range(n)])
    report = infer_schema(frame=frame)
    assert report.dropped == ["subject_id"]
    assert isinstance(report.schema.columns["visit_type_id"], CategoricalColumn)
    assert any("'subject_id' names the patient" in note for note in report.notes)


def test_unique_rule_needs_twenty_values() -> None:
    report = infer_schema(frame=_frame(name=[f"n{i}" for i in range(19)], x=[str(i) for i in range(19)]))
    assert report.dropped == []


def test_numbers_that_are_codes() -> None:
    n = 40
    frame = _frame(
        flag=[str(i % 2) for i in range(n)],  # whole numbers, 2 levels
        grade=[str(i % 5) for i in range(n)],  # 5 levels: still categorical
        score=[str(i % 6) for i in range(n)],  # 6 levels: numeric
        zip_code=[str(10000 + i % 7) for i in range(n)],
        unit=[f"0{i % 9}" for i in range(n)],  # leading zeros
        dose=[f"{(i % 6) / 2}" for i in range(n)],  # fractional: numeric, not integer
        stamp=[f"2020-01-01T{i % 24:02d}:00:00" for i in range(n)],
    )
    columns = infer_schema(frame=frame).schema.columns
    for name in ["flag", "grade", "zip_code", "unit"]:
        assert isinstance(columns[name], CategoricalColumn), name
    assert isinstance(columns["score"], NumericColumn) and columns["score"].integer
    assert isinstance(columns["dose"], NumericColumn) and not columns["dose"].integer
    assert isinstance(columns["stamp"], DatetimeColumn) and columns["stamp"].resolution == "second"


def test_draft_reads_domains_and_round_trips(demo_text: pl.DataFrame, tmp_path: Path) -> None:
    draft = draft_schema(frame=demo_text)
    assert draft.needs_discovery == []
    stay = draft.columns["time_in_hospital"]
    assert isinstance(stay, NumericColumn) and (stay.min, stay.max, stay.integer) == (1, 14, True)
    assert draft.columns["race"].nullable and not draft.columns["gender"].nullable
    race = draft.columns["race"]
    assert isinstance(race, CategoricalColumn) and "Caucasian" in race.categories
    admission = draft.columns["admission_type_id"]
    assert isinstance(admission, CategoricalColumn) and admission.categories[:3] == ["1", "2", "3"]

    text = render_draft(schema=draft, source="diabetes_demo.csv")
    for line in DRAFT_WARNING.splitlines():
        assert f"# {line}" in text
    assert text.index("READ FROM THE PRIVATE DATA") < text.index("columns:")
    path = tmp_path / "draft.yaml"
    path.write_text(text)
    assert load_schema(path) == draft.model_copy(update={"draft": True})  # the marker round-trips too
    # the drafted schema reads its own data back
    assert read_table(path=DATA / "diabetes_demo.csv", schema=load_schema(path)).height == 20000


def test_draft_of_constant_and_datetime_columns(tmp_path: Path) -> None:
    frame = _frame(k=["7.5"] * 25, d=["2021-03-04"] * 25, c=["a", None] * 12 + ["a"])
    draft = draft_schema(frame=frame)
    k, d, c = (draft.columns[name] for name in "kdc")
    assert isinstance(k, NumericColumn) and k.min == 7.5 and k.max > 7.5
    assert isinstance(d, DatetimeColumn) and d.min == dt.datetime(2021, 3, 4) and d.max > d.min
    assert isinstance(c, CategoricalColumn) and c.categories == ["a"] and c.nullable
    path = tmp_path / "d.yaml"
    path.write_text(render_draft(schema=draft, source="x.csv"))
    assert load_schema(path) == draft.model_copy(update={"draft": True})
