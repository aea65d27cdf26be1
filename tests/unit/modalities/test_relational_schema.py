"""The relational schema: what it accepts, and every bad declaration refused (exit 2) naming table and column."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from synthdata.errors import BadInputError
from synthdata.modalities.relational import load_relational_schema, parse_relational_schema
from synthdata.modalities.relational.graph import find_cycle, parent_chain, topological_order
from synthdata.modalities.table.schema import CategoricalColumn

SHIPPED = Path(__file__).resolve().parents[3] / "synthdata" / "data" / "mimic3_demo.schema.yaml"

BASE: dict = {
    "subject": "PATIENTS",
    "tables": {
        "PATIENTS": {"file": "patients.csv", "keys": "subject_id",
                     "columns": {"subject_id": {"type": "identifier"},
                                 "gender": {"type": "categorical", "categories": ["F", "M"]}}},
        "ADMISSIONS": {"file": "admissions.csv", "keys": ["hadm_id"],
                       "references": {"subject_id": "PATIENTS.subject_id"},
                       "columns": {"hadm_id": {"type": "identifier"}, "subject_id": {"type": "identifier"},
                                   "admittime": {"type": "datetime"}, "dischtime": {"type": "datetime"}},
                       "derived": {"los": {"start": "admittime", "end": "dischtime", "min": 0, "max": 100}}},
        "DIAGNOSES": {"file": "diagnoses.csv",
                      "references": {"hadm_id": "ADMISSIONS.hadm_id"},
                      "columns": {"hadm_id": {"type": "identifier"},
                                  "code": {"type": "categorical", "categories": "discover"}}},
    },
}


def _schema(**changes: object) -> dict:
    """BASE with ``changes`` applied at dotted places (``tables.ADMISSIONS.keys``); None deletes."""
    raw = copy.deepcopy(BASE)
    for place, value in changes.items():
        *parents, key = place.split("__")
        holder = raw
        for parent in parents:
            holder = holder[parent]
        if value is None:
            holder.pop(key)
        else:
            holder[key] = value
    return raw


def _refused(raw: dict) -> str:
    with pytest.raises(BadInputError) as caught:
        parse_relational_schema(raw, source="s.yaml")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("s.yaml is not a valid relational schema")
    return caught.value.message


def test_a_valid_schema_parses_with_its_defaults() -> None:
    schema = parse_relational_schema(BASE)
    assert schema.subject_key == "subject_id"
    assert schema.tables["PATIENTS"].keys == ["subject_id"]  # a string key is a one-column list
    assert schema.tables["DIAGNOSES"].parent_column == "hadm_id"  # the only reference is the parent
    assert schema.tables["DIAGNOSES"].parent_table == "ADMISSIONS"
    assert schema.tables["PATIENTS"].parent_table is None
    assert schema.on_orphan_of("DIAGNOSES", "hadm_id") == "drop"
    assert schema.tables["ADMISSIONS"].derived["los"].as_column().max == 100


def test_on_orphan_is_taken_from_the_reference_then_the_table_then_the_schema() -> None:
    raw = _schema(on_orphan="error", tables__ADMISSIONS__on_orphan="drop",
                  tables__DIAGNOSES__references={"hadm_id": {"to": "ADMISSIONS.hadm_id", "on_orphan": "drop"}})
    schema = parse_relational_schema(raw)
    assert schema.on_orphan_of("ADMISSIONS", "subject_id") == "drop"
    assert schema.on_orphan_of("DIAGNOSES", "hadm_id") == "drop"
    raw = _schema(on_orphan="error")
    assert parse_relational_schema(raw).on_orphan_of("DIAGNOSES", "hadm_id") == "error"


def test_the_shipped_mimic_schema_parses_without_its_data() -> None:
    schema = load_relational_schema(SHIPPED)
    assert schema.subject == "PATIENTS"
    assert list(schema.tables) == ["PATIENTS", "ADMISSIONS", "ICUSTAYS", "DIAGNOSES_ICD", "PRESCRIPTIONS", "LABEVENTS"]
    assert schema.tables["PRESCRIPTIONS"].parent_table == "ADMISSIONS"
    assert schema.on_orphan_of("PRESCRIPTIONS", "icustay_id") == "unlink"
    assert schema.tables["LABEVENTS"].columns["itemid"].categories_from == "D_LABITEMS.itemid"


def test_a_cycle_of_references_is_refused_naming_its_tables_and_columns() -> None:
    raw = _schema(tables__ADMISSIONS__references={"subject_id": "PATIENTS.subject_id", "last_code": "CODES.code_id"},
                  tables__ADMISSIONS__parent="subject_id")
    raw["tables"]["ADMISSIONS"]["columns"]["last_code"] = {"type": "identifier"}
    raw["tables"]["CODES"] = {"file": "codes.csv", "keys": ["code_id"],
                              "references": {"hadm_id": "ADMISSIONS.hadm_id"},
                              "columns": {"code_id": {"type": "identifier"}, "hadm_id": {"type": "identifier"},
                                          "n": {"type": "numeric", "min": 0, "max": 1}}}
    message = _refused(raw)
    assert "the references form a cycle: ADMISSIONS.last_code -> CODES.hadm_id -> ADMISSIONS" in message


def test_a_table_referencing_itself_is_a_cycle() -> None:
    raw = _schema(tables__ADMISSIONS__references={"subject_id": "PATIENTS.subject_id", "previous": "ADMISSIONS.hadm_id"},
                  tables__ADMISSIONS__parent="subject_id")
    raw["tables"]["ADMISSIONS"]["columns"]["previous"] = {"type": "identifier", "nullable": True}
    assert "cycle: ADMISSIONS.previous -> ADMISSIONS" in _refused(raw)


def test_a_key_column_that_is_not_declared_is_refused() -> None:
    message = _refused(_schema(tables__ADMISSIONS__keys=["admission_id"]))
    assert "table ADMISSIONS: key column 'admission_id' is not declared under columns" in message


def test_a_key_column_must_be_an_identifier() -> None:
    raw = _schema(tables__ADMISSIONS__keys=["admittime"])
    assert "table ADMISSIONS: key column 'admittime' must have type identifier" in _refused(raw)


def test_a_child_whose_parent_table_is_absent_is_refused() -> None:
    raw = _schema()
    raw["tables"].pop("ADMISSIONS")
    message = _refused(raw)
    assert "table DIAGNOSES: column 'hadm_id' references ADMISSIONS.hadm_id, but table 'ADMISSIONS' is not in " \
           "the schema" in message


def test_a_reference_to_an_unknown_column_is_refused() -> None:
    raw = _schema(tables__DIAGNOSES__references={"hadm_id": "ADMISSIONS.admission"})
    assert "table DIAGNOSES: column 'hadm_id' references ADMISSIONS.admission, but 'admission' is not a column " \
           "of table ADMISSIONS" in _refused(raw)


def test_a_reference_to_a_column_that_is_not_the_key_is_refused() -> None:
    raw = _schema(tables__DIAGNOSES__references={"hadm_id": "ADMISSIONS.subject_id"})
    assert "'subject_id' is not table ADMISSIONS's one-column key (keys: hadm_id)" in _refused(raw)


def test_a_reference_from_an_undeclared_or_modelled_column_is_refused() -> None:
    raw = _schema(tables__DIAGNOSES__references={"admission": "ADMISSIONS.hadm_id"})
    assert "table DIAGNOSES: foreign key column 'admission' is not declared under columns" in _refused(raw)
    raw = _schema(tables__DIAGNOSES__references={"code": "ADMISSIONS.hadm_id"})
    assert "table DIAGNOSES: foreign key column 'code' must have type identifier" in _refused(raw)


def test_several_references_need_a_parent() -> None:
    raw = _schema(tables__DIAGNOSES__references={"hadm_id": "ADMISSIONS.hadm_id", "subject_id": "PATIENTS.subject_id"})
    raw["tables"]["DIAGNOSES"]["columns"]["subject_id"] = {"type": "identifier"}
    assert "table DIAGNOSES has several references (hadm_id, subject_id): name the one to its parent" in _refused(raw)
    raw["tables"]["DIAGNOSES"]["parent"] = "code"
    assert "table DIAGNOSES: parent 'code' is not one of its references" in _refused(raw)
    raw["tables"]["DIAGNOSES"]["parent"] = "hadm_id"
    assert parse_relational_schema(raw).tables["DIAGNOSES"].parent_table == "ADMISSIONS"


def test_the_parent_link_cannot_be_unlinked() -> None:
    raw = _schema(tables__DIAGNOSES__references={"hadm_id": {"to": "ADMISSIONS.hadm_id", "on_orphan": "unlink"}})
    assert "table DIAGNOSES: the parent reference 'hadm_id' cannot be unlinked" in _refused(raw)


def test_the_subject_table_must_exist_have_one_key_and_no_parent() -> None:
    assert "subject table 'PATIENT' is not one of the tables" in _refused(_schema(subject="PATIENT"))
    assert "table PATIENTS is the subject table: it needs exactly one key column" in _refused(
        _schema(tables__PATIENTS__keys=[]))
    assert "table PATIENTS is the subject table: it has no parent, so no max_rows_per_parent" in _refused(
        _schema(tables__PATIENTS__max_rows_per_parent=3))


def test_a_table_without_references_is_refused() -> None:
    raw = _schema(tables__DIAGNOSES__references=None)
    assert "table DIAGNOSES references no table: declare the foreign key that ties its rows to PATIENTS" in _refused(raw)


def test_derived_times_must_be_datetimes_of_the_table_or_its_parent_chain() -> None:
    raw = _schema(tables__ADMISSIONS__derived={"los": {"start": "admittime", "end": "hadm_id"}})
    assert "derived column 'los' end hadm_id: 'hadm_id' is not a datetime column of table ADMISSIONS" in _refused(raw)
    raw = _schema(tables__ADMISSIONS__derived={"x": {"start": "DIAGNOSES.code", "end": "admittime"}})
    assert "table 'DIAGNOSES' is not ADMISSIONS or on its parent chain (ADMISSIONS -> PATIENTS)" in _refused(raw)
    raw = _schema(tables__DIAGNOSES__derived={"x": {"start": "ADMISSIONS.admittime", "end": "ADMISSIONS.dischtime"}})
    assert parse_relational_schema(raw).tables["DIAGNOSES"].derived["x"].unit == "days"
    raw = _schema(tables__ADMISSIONS__derived={"los": {"start": "admittime", "end": "dischtime", "min": 5, "max": 1}})
    assert "tables.ADMISSIONS.derived.los" in _refused(raw)


def test_dictionary_columns_need_a_declared_dictionary_and_resolve_to_categories() -> None:
    raw = _schema()
    raw["tables"]["DIAGNOSES"]["columns"]["code"] = {"type": "categorical", "categories_from": "D_CODES.code",
                                                     "other": "(other)"}
    assert "column 'code' takes its categories from 'D_CODES', which is not a declared dictionary" in _refused(raw)
    raw["dictionaries"] = {"D_CODES": {"file": "d_codes.csv"}}
    column = parse_relational_schema(raw).tables["DIAGNOSES"].columns["code"]
    resolved = column.resolved(["a", "b"])
    assert isinstance(resolved, CategoricalColumn)
    assert resolved.categories == ["a", "b", "(other)"] and resolved.other == "(other)"


def test_a_reference_to_a_dictionary_is_refused_with_the_way_to_declare_it() -> None:
    raw = _schema(dictionaries={"ADMISSIONS": {"file": "x.csv"}})
    assert "'ADMISSIONS' is both a table and a dictionary" in _refused(raw)
    raw = _schema(dictionaries={"D_CODES": {"file": "d.csv"}},
                  tables__DIAGNOSES__references={"hadm_id": "ADMISSIONS.hadm_id", "code": "D_CODES.code"},
                  tables__DIAGNOSES__parent="hadm_id")
    assert "a public dictionary: declare the column categorical with categories_from: D_CODES.code" in _refused(raw)


def test_structural_errors_name_the_place() -> None:
    message = _refused(_schema(tables__ADMISSIONS__max_rows=3))
    assert "tables.ADMISSIONS.max_rows: Extra inputs are not permitted" in message
    message = _refused(_schema(tables__ADMISSIONS__references={"subject_id": "PATIENTS"}))
    assert "tables.ADMISSIONS.references.subject_id.to" in message
    message = _refused(_schema(tables__ADMISSIONS__max_rows_per_parent=0))
    assert "tables.ADMISSIONS.max_rows_per_parent" in message


def test_schema_files_are_read_and_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        load_relational_schema(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=f"{bad} must be a mapping"):
        load_relational_schema(bad)


def test_rows_per_patient_are_bounded_by_the_declared_caps() -> None:
    schema = parse_relational_schema(_schema(tables__ADMISSIONS__max_rows_per_parent=4,
                                             tables__DIAGNOSES__max_rows_per_parent=10))
    assert [schema.rows_per_subject_bound(t) for t in ("PATIENTS", "ADMISSIONS", "DIAGNOSES")] == [1, 4, 40]
    schema = parse_relational_schema(_schema(tables__DIAGNOSES__max_rows_per_parent=10))
    assert schema.rows_per_subject_bound("ADMISSIONS") is None and schema.rows_per_subject_bound("DIAGNOSES") is None
    schema = parse_relational_schema(_schema(tables__DIAGNOSES__max_rows_per_subject=25,
                                             tables__DIAGNOSES__max_rows_per_parent=10,
                                             tables__ADMISSIONS__max_rows_per_parent=4))
    assert schema.rows_per_subject_bound("DIAGNOSES") == 25
    mimic = load_relational_schema(SHIPPED)
    # lab events outside any admission (an empty hadm_id) are one more group of at most 300 per patient
    assert mimic.rows_per_subject_bound("ADMISSIONS") == 8
    assert mimic.rows_per_subject_bound("LABEVENTS") == 300 * (8 + 1)
    assert mimic.rows_per_subject_bound("DIAGNOSES_ICD") == 30 * 8  # hadm_id declared nullable: false


def test_graph_helpers() -> None:
    edges = {"D": ["A"], "A": ["P"], "P": [], "I": ["A", "P"]}
    assert topological_order(edges) == ["P", "A", "D", "I"]
    assert find_cycle(edges) is None
    assert find_cycle({"A": ["B"], "B": ["C"], "C": ["A"]}) == ["A", "B", "C", "A"]
    with pytest.raises(ValueError):
        topological_order({"A": ["B"], "B": ["A"]})
    assert parent_chain({"D": "A", "A": "P", "P": None}, "D") == ["A", "P"]
