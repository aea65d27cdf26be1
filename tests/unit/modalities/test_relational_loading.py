"""Loading a relational database from small fixtures: subjects through two levels, orphans dropped and
counted (or refused), caps and their counts, relative times, and every bad input refused naming table and
column before anything is returned."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from synthdata.errors import BadInputError
from synthdata.modalities.relational import (
    RelationalDatabase,
    load_database,
    parse_relational_schema,
)

PATIENTS = {"subject_id": ["p1", "p2", "p3"], "gender": ["F", "M", "F"],
            "dob": ["2100-01-01", "2060-06-01", "2080-01-01"]}
# a4 belongs to p9, who is not in PATIENTS: an orphan
ADMISSIONS = {"hadm_id": ["a1", "a2", "a3", "a4"], "subject_id": ["p1", "p1", "p2", "p9"],
              "admittime": ["2150-01-01 00:00", "2151-03-01 12:00", "2120-05-05 00:00", "2130-01-01 00:00"],
              "dischtime": ["2150-01-03 12:00", "2151-03-02 12:00", "2120-05-15 00:00", "2130-01-02 00:00"]}
# three codes of a1, one of a3, two of the orphan a4 (orphans of an orphan), one of a7 (no such admission)
DIAGNOSES = {"hadm_id": ["a1", "a1", "a1", "a3", "a4", "a4", "a7"],
             "code": ["401", "250", "428", "401", "250", "401", "428"],
             "charttime": ["2150-01-02 00:00", "2150-01-01 06:00", "2150-01-03 00:00", "2120-05-06 00:00",
                           "2130-01-01 00:00", "2130-01-01 00:00", "2140-01-01 00:00"]}

SCHEMA: dict = {
    "subject": "PATIENTS",
    "tables": {
        "PATIENTS": {"file": "patients.csv", "keys": ["subject_id"],
                     "columns": {"subject_id": {"type": "identifier"},
                                 "gender": {"type": "categorical", "categories": ["F", "M"]},
                                 "dob": {"type": "datetime", "min": "2000-01-01", "max": "2200-01-01"}}},
        "ADMISSIONS": {"file": "admissions.csv", "keys": ["hadm_id"],
                       "references": {"subject_id": "PATIENTS.subject_id"},
                       "columns": {"hadm_id": {"type": "identifier"}, "subject_id": {"type": "identifier"},
                                   "admittime": {"type": "datetime"}, "dischtime": {"type": "datetime"}},
                       "derived": {"los_days": {"start": "admittime", "end": "dischtime", "min": 0, "max": 100}}},
        "DIAGNOSES": {"file": "diagnoses.csv",
                      "references": {"hadm_id": "ADMISSIONS.hadm_id"},
                      "columns": {"hadm_id": {"type": "identifier"},
                                  "code": {"type": "categorical", "categories": ["250", "401", "428"]},
                                  "charttime": {"type": "datetime"}},
                      "derived": {
                          "hours_in": {"start": "ADMISSIONS.admittime", "end": "charttime", "unit": "hours",
                                       "min": -24, "max": 1000},
                          "age": {"start": "PATIENTS.dob", "end": "charttime", "unit": "years", "min": 0,
                                  "max": 90, "clip": True}}},
    },
}


def _write(folder: Path, tables: dict[str, dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, columns in tables.items():
        pl.DataFrame(columns).write_csv(folder / name)
    return folder


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    return _write(tmp_path / "db", {"patients.csv": PATIENTS, "admissions.csv": ADMISSIONS,
                                    "diagnoses.csv": DIAGNOSES})


def _load(folder: Path, schema: dict | None = None, *, seed: int = 0) -> RelationalDatabase:
    return load_database(schema=parse_relational_schema(schema or SCHEMA), folder=folder, seed=seed)


def _refused(folder: Path, schema: dict | None = None) -> str:
    with pytest.raises(BadInputError) as caught:
        _load(folder, schema)
    assert caught.value.exit_code == 2
    return caught.value.message


def _with(**tables: dict) -> dict:
    """SCHEMA with some tables' settings replaced (``ADMISSIONS={"max_rows_per_parent": 1}``)."""
    schema = copy.deepcopy(SCHEMA)
    for name, settings in tables.items():
        schema["tables"][name].update(settings)
    return schema


def _ids(db: RelationalDatabase, table: str, column: str) -> list[str]:
    return db.tables[table].frame[column].to_list()


def _subjects(db: RelationalDatabase, table: str) -> list[str]:
    patients = db.tables["PATIENTS"].frame["subject_id"].to_list()
    return [patients[i] for i in db.tables[table].subject]


def test_every_row_resolves_to_its_patient_through_two_levels(folder: Path) -> None:
    db = _load(folder)
    assert db.order == ("PATIENTS", "ADMISSIONS", "DIAGNOSES")
    assert db.children("PATIENTS") == ["ADMISSIONS"] and db.children("ADMISSIONS") == ["DIAGNOSES"]
    assert _ids(db, "ADMISSIONS", "hadm_id") == ["a1", "a2", "a3"]
    assert _subjects(db, "ADMISSIONS") == ["p1", "p1", "p2"]
    assert _ids(db, "DIAGNOSES", "hadm_id") == ["a1", "a1", "a1", "a3"]
    assert _subjects(db, "DIAGNOSES") == ["p1", "p1", "p1", "p2"]  # patient <- admission <- diagnosis
    parents = db.tables["DIAGNOSES"].parent_row
    assert [db.tables["ADMISSIONS"].frame["hadm_id"][int(i)] for i in parents] == ["a1", "a1", "a1", "a3"]
    assert db.tables["PATIENTS"].parent_row is None
    assert list(db.tables["PATIENTS"].subject) == [0, 1, 2]  # p3 has no admission and stays a patient


def test_orphans_are_dropped_and_counted_directly_and_through_their_parent(folder: Path) -> None:
    counts = {name: c.as_dict() for name, c in _load(folder).counts().items()}
    assert counts["PATIENTS"] == {"read": 3, "orphans": 0, "orphans_of_orphans": 0, "unlinked": 0,
                                  "capped_per_parent": 0, "capped_per_subject": 0, "removed_with_parent": 0,
                                  "kept": 3}
    assert (counts["ADMISSIONS"]["orphans"], counts["ADMISSIONS"]["kept"]) == (1, 3)
    # a7's code points nowhere; a4's two codes point at an admission that was itself dropped
    assert (counts["DIAGNOSES"]["orphans"], counts["DIAGNOSES"]["orphans_of_orphans"]) == (1, 2)
    assert counts["DIAGNOSES"]["kept"] == 4


def test_on_orphan_error_refuses_naming_table_column_and_rows(folder: Path) -> None:
    message = _refused(folder, {**SCHEMA, "on_orphan": "error"})
    assert "table ADMISSIONS (on_orphan: error): 1 row(s) whose 'subject_id' matches no PATIENTS.subject_id " \
           "(rows 4; 1-based data rows)" in message
    assert "table DIAGNOSES (on_orphan: error): 1 row(s) whose 'hadm_id' matches no ADMISSIONS.hadm_id (rows 7;" \
           in message
    assert "2 row(s) whose ADMISSIONS.hadm_id row is itself an orphan (rows 5, 6;" in message
    assert "p9" not in message and "a7" not in message  # never a value
    # one table may refuse while the others drop
    message = _refused(folder, _with(DIAGNOSES={"on_orphan": "error"}))
    assert message.startswith("table DIAGNOSES (on_orphan: error)") and "ADMISSIONS (" not in message


def test_unlink_keeps_the_row_and_forgets_the_link(tmp_path: Path) -> None:
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "admissions.csv": ADMISSIONS,
                                      "diagnoses.csv": {**DIAGNOSES, "subject_id": ["p1"] * 3 + ["p2"] * 4}})
    schema = _with(DIAGNOSES={"references": {"subject_id": "PATIENTS.subject_id",
                                             "hadm_id": {"to": "ADMISSIONS.hadm_id", "on_orphan": "unlink"}},
                              "parent": "subject_id"})
    schema["tables"]["DIAGNOSES"]["columns"]["subject_id"] = {"type": "identifier"}
    schema["tables"]["DIAGNOSES"]["derived"].pop("hours_in")
    db = _load(folder, schema)
    diagnoses = db.tables["DIAGNOSES"]
    assert diagnoses.counts.unlinked == 3 and diagnoses.counts.dropped_as_orphans == 0
    assert list(diagnoses.links["hadm_id"][-3:]) == [-1, -1, -1]
    assert _subjects(db, "DIAGNOSES") == ["p1"] * 3 + ["p2"] * 4


def test_links_that_lead_to_different_patients_are_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "admissions.csv": ADMISSIONS,
                                      "diagnoses.csv": {**DIAGNOSES, "subject_id": ["p1", "p2"] + ["p1"] * 5}})
    schema = _with(DIAGNOSES={"references": {"subject_id": "PATIENTS.subject_id", "hadm_id": "ADMISSIONS.hadm_id"},
                              "parent": "hadm_id"})
    schema["tables"]["DIAGNOSES"]["columns"]["subject_id"] = {"type": "identifier"}
    message = _refused(folder, schema)
    # row 2 (a1 of p1, but says p2) and row 4 (a3 of p2, but says p1)
    assert "table DIAGNOSES: 2 row(s) whose foreign keys (subject_id, hadm_id) lead to different patients " \
           "(rows 2, 4; 1-based data rows)" in message


def test_a_key_that_is_not_unique_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "diagnoses.csv": DIAGNOSES,
                                      "admissions.csv": {**ADMISSIONS, "hadm_id": ["a1", "a2", "a1", "a4"]}})
    message = _refused(folder)
    assert message == ("table ADMISSIONS: key column 'hadm_id' is not unique: 2 row(s) share a key with another "
                       "(rows 1, 3; 1-based data rows)")


def test_an_empty_key_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "diagnoses.csv": DIAGNOSES,
                                      "admissions.csv": {**ADMISSIONS, "hadm_id": ["a1", "", "a3", "a4"]}})
    assert "table ADMISSIONS: key column 'hadm_id' has 1 empty value(s) (rows 2;" in _refused(folder)


def test_a_key_column_missing_from_the_file_is_refused(tmp_path: Path) -> None:
    admissions = {k: v for k, v in ADMISSIONS.items() if k != "hadm_id"}
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "admissions.csv": admissions,
                                      "diagnoses.csv": DIAGNOSES})
    message = _refused(folder)
    assert message.startswith("table ADMISSIONS: data file ")
    assert "declared column(s) 'hadm_id' are missing from the data" in message


def test_a_child_whose_parent_file_is_absent_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "diagnoses.csv": DIAGNOSES})
    message = _refused(folder)
    assert message.startswith("table ADMISSIONS: data file ") and "admissions.csv does not exist" in message


def test_a_schema_error_comes_before_any_file_is_read(tmp_path: Path) -> None:
    schema = _with(DIAGNOSES={"references": {"hadm_id": "ADMISSIONS.nope"}})
    with pytest.raises(BadInputError, match="'nope' is not a column of table ADMISSIONS"):
        parse_relational_schema(schema)
    schema_file = tmp_path / "schema.yaml"
    schema_file.write_text("subject: PATIENTS\ntables: {}\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="subject table 'PATIENTS' is not one of the tables"):
        load_database(schema=schema_file, folder=tmp_path / "not-there")


def test_caps_truncate_and_count_what_they_removed(folder: Path) -> None:
    db = _load(folder, _with(ADMISSIONS={"max_rows_per_parent": 1}, DIAGNOSES={"max_rows_per_parent": 2}))
    admissions, diagnoses = db.tables["ADMISSIONS"].counts, db.tables["DIAGNOSES"].counts
    assert (admissions.capped_per_parent, admissions.kept) == (1, 2)  # p1 had two admissions
    assert _subjects(db, "ADMISSIONS") == ["p1", "p2"]
    kept = _ids(db, "ADMISSIONS", "hadm_id")[0]
    if kept == "a1":  # a1's three codes: one over the cap
        assert (diagnoses.removed_with_parent, diagnoses.capped_per_parent, diagnoses.kept) == (0, 1, 3)
    else:  # a2 was kept: a1's three codes went with it
        assert (diagnoses.removed_with_parent, diagnoses.capped_per_parent, diagnoses.kept) == (3, 0, 1)
    assert diagnoses.dropped_as_orphans == 3 and diagnoses.removed_by_caps + diagnoses.kept + 3 == 7


def test_the_clipped_counts_count_each_patient_at_most_the_table_s_bound(folder: Path, tmp_path: Path) -> None:
    """What the report may show (with DP): orphans grouped by the patient their keys name, removed rows by their
    patient, each group counted for at most the table's bound on rows per patient."""
    db = _load(folder, _with(ADMISSIONS={"max_rows_per_parent": 1}, DIAGNOSES={"max_rows_per_parent": 1}))
    admissions, diagnoses = db.tables["ADMISSIONS"].counts, db.tables["DIAGNOSES"].counts
    assert (admissions.clip, admissions.orphans_clipped, admissions.removed_clipped) == (1, 1, 1)  # p9; p1's a2
    # p9's two codes (through the orphan a4) count once, a7's code (no such admission, no patient named) once
    assert (diagnoses.clip, diagnoses.dropped_as_orphans, diagnoses.orphans_clipped) == (1, 3, 2)
    assert diagnoses.removed_by_caps >= 2 and diagnoses.removed_clipped == 1  # all p1's
    assert db.tables["PATIENTS"].counts.clip is None
    many = {"hadm_id": [f"a1{i}" for i in range(12)] + ["a3"], "subject_id": ["p1"] * 12 + ["p2"],
            "admittime": ["2150-01-01 00:00"] * 13, "dischtime": ["2150-01-02 00:00"] * 13}
    capped = _load(_write(tmp_path / "many", {"patients.csv": PATIENTS, "admissions.csv": many,
                                              "diagnoses.csv": DIAGNOSES}),
                   _with(ADMISSIONS={"max_rows_per_parent": 4}, DIAGNOSES={"max_rows_per_parent": 1, "derived": {}}))
    assert (capped.tables["ADMISSIONS"].counts.capped_per_parent, capped.tables["ADMISSIONS"].counts.removed_clipped) \
        == (8, 4)
    # no cap bounds the table's rows per patient: nothing clipped, nothing to release
    unbounded = _load(folder).tables["DIAGNOSES"].counts
    assert (unbounded.clip, unbounded.orphans_clipped) == (None, 0)


def test_a_cap_per_subject_counts_across_admissions(folder: Path) -> None:
    db = _load(folder, _with(DIAGNOSES={"max_rows_per_subject": 2}))
    assert db.tables["DIAGNOSES"].counts.capped_per_subject == 1
    assert sorted(_subjects(db, "DIAGNOSES")) == ["p1", "p1", "p2"]


def test_what_a_cap_keeps_depends_on_the_seed_and_the_patients_own_rows_only(tmp_path: Path) -> None:
    many = {"hadm_id": [f"a1{i}" for i in range(12)] + ["a3"], "subject_id": ["p1"] * 12 + ["p2"],
            "admittime": ["2150-01-01 00:00"] * 13, "dischtime": ["2150-01-02 00:00"] * 13}
    schema = _with(ADMISSIONS={"max_rows_per_parent": 4}, DIAGNOSES={"max_rows_per_parent": 1, "derived": {}})
    one = _load(_write(tmp_path / "one", {"patients.csv": PATIENTS, "admissions.csv": many,
                                          "diagnoses.csv": DIAGNOSES}), schema)
    # another patient with five admissions, before p1 in the files: p1's kept admissions do not move
    more = {"hadm_id": [f"b{i}" for i in range(5)] + many["hadm_id"], "subject_id": ["x1"] * 5 + many["subject_id"],
            "admittime": ["2160-01-01 00:00"] * 18, "dischtime": ["2160-01-02 00:00"] * 18}
    patients = {"subject_id": ["x1", *PATIENTS["subject_id"]], "gender": ["M", *PATIENTS["gender"]],
                "dob": ["2090-01-01", *PATIENTS["dob"]]}
    two = _load(_write(tmp_path / "two", {"patients.csv": patients, "admissions.csv": more,
                                          "diagnoses.csv": DIAGNOSES}), schema)
    kept_one = [h for h in _ids(one, "ADMISSIONS", "hadm_id") if h.startswith("a1")]
    kept_two = [h for h in _ids(two, "ADMISSIONS", "hadm_id") if h.startswith("a1")]
    assert len(kept_one) == 4 and kept_one == kept_two
    assert two.tables["ADMISSIONS"].counts.capped_per_parent == 8 + 1
    other_seed = {h for s in range(1, 6) for h in _ids(_load(tmp_path / "one", schema, seed=s), "ADMISSIONS", "hadm_id")}
    assert len(other_seed) > 5  # other seeds keep other admissions


def test_relative_times_follow_the_parent_chain(folder: Path) -> None:
    db = _load(folder)
    assert db.tables["ADMISSIONS"].frame["los_days"].to_list() == [2.5, 1.0, 10.0]
    assert db.tables["ADMISSIONS"].derived == ("los_days",)
    diagnoses = db.tables["DIAGNOSES"].frame
    assert diagnoses["hours_in"].to_list() == [24.0, 6.0, 48.0, 24.0]
    ages = diagnoses["age"].to_list()
    assert ages[0] == pytest.approx(18263 / 365.25)  # 2100-01-01 to 2150-01-02: 50 years and a day
    assert ages[3] == pytest.approx(59.93, abs=0.01)
    schema = db.tables["DIAGNOSES"].schema
    assert list(schema.columns)[-2:] == ["hours_in", "age"] and schema.columns["age"].max == 90
    assert list(diagnoses.columns) == list(schema.columns)


def test_derived_values_outside_their_bounds_are_refused_unless_clipped(folder: Path) -> None:
    schema = _with(ADMISSIONS={"derived": {"los_days": {"start": "admittime", "end": "dischtime", "max": 2,
                                                        "min": 0}}})
    message = _refused(folder, schema)
    assert message.startswith("data table ADMISSIONS (derived columns; rows counted among its kept rows) does not "
                              "match its schema: column 'los_days': 2 value(s) outside the declared bounds [0.0, 2.0] "
                              "(rows 1, 3; 1-based data rows)")
    schema["tables"]["ADMISSIONS"]["derived"]["los_days"]["clip"] = True
    assert _load(folder, schema).tables["ADMISSIONS"].frame["los_days"].to_list() == [2.0, 1.0, 2.0]


def test_a_row_without_a_parent_row_gets_null_relative_times(tmp_path: Path) -> None:
    labs = {"subject_id": ["p1", "p2", "p1"], "hadm_id": ["a1", "", "a2"],
            "charttime": ["2150-01-02 00:00", "2120-01-01 00:00", "2151-03-01 18:00"]}
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "admissions.csv": ADMISSIONS,
                                      "diagnoses.csv": DIAGNOSES, "labs.csv": labs})
    schema = copy.deepcopy(SCHEMA)
    schema["tables"]["LABS"] = {
        "file": "labs.csv", "parent": "hadm_id", "max_rows_per_parent": 1,
        "references": {"subject_id": "PATIENTS.subject_id", "hadm_id": "ADMISSIONS.hadm_id"},
        "columns": {"subject_id": {"type": "identifier"}, "hadm_id": {"type": "identifier"},
                    "charttime": {"type": "datetime"}},
        "derived": {"days_in": {"start": "ADMISSIONS.admittime", "end": "charttime", "nullable": True}}}
    labs_loaded = _load(folder, schema).tables["LABS"]
    assert labs_loaded.frame["days_in"].to_list() == [1.0, None, 0.25]
    assert list(labs_loaded.parent_row) == [0, -1, 1]
    assert _subjects(_load(folder, schema), "LABS") == ["p1", "p2", "p1"]
    assert labs_loaded.counts.capped_per_parent == 0  # the lab outside an admission is its patient's group
    schema["tables"]["LABS"]["derived"]["days_in"]["nullable"] = False
    assert "column 'days_in': 1 missing value(s) in a column declared nullable: false" in _refused(folder, schema)


def test_categories_from_a_public_dictionary(folder: Path) -> None:
    pl.DataFrame({"code": ["250", "401"], "label": ["diabetes", "hypertension"]}).write_csv(folder / "d_codes.csv")
    schema = copy.deepcopy(SCHEMA)
    schema["dictionaries"] = {"D_CODES": {"file": "d_codes.csv"}}
    schema["tables"]["DIAGNOSES"]["columns"]["code"] = {"type": "categorical", "categories_from": "D_CODES.code",
                                                        "other": "(other)"}
    db = _load(folder, schema)
    assert db.tables["DIAGNOSES"].schema.columns["code"].categories == ["250", "401", "(other)"]
    assert db.tables["DIAGNOSES"].frame["code"].to_list() == ["401", "250", "(other)", "401"]
    assert db.dictionaries["D_CODES"].height == 2
    schema["tables"]["DIAGNOSES"]["columns"]["code"] = {"type": "categorical", "categories_from": "D_CODES.icd"}
    assert "dictionary D_CODES (d_codes.csv) has no column 'icd'" in _refused(folder, schema)


def test_tables_may_be_parquet(folder: Path) -> None:
    pl.read_csv(folder / "diagnoses.csv", infer_schema=False).write_parquet(folder / "diagnoses.parquet")
    db = _load(folder, _with(DIAGNOSES={"file": "diagnoses.parquet"}))
    assert db.tables["DIAGNOSES"].counts.kept == 4


def test_select_subjects_keeps_their_rows_and_renumbers_every_link(folder: Path) -> None:
    db = _load(folder)
    part = db.select_subjects(keep=np.array([False, True, True]))  # p2 and p3
    assert _ids(part, "PATIENTS", "subject_id") == ["p2", "p3"]
    assert _ids(part, "ADMISSIONS", "hadm_id") == ["a3"] and list(part.tables["ADMISSIONS"].parent_row) == [0]
    assert _ids(part, "DIAGNOSES", "hadm_id") == ["a3"] and list(part.tables["DIAGNOSES"].parent_row) == [0]
    assert _subjects(part, "DIAGNOSES") == ["p2"]
    rest = db.select_subjects(keep=np.array([True, False, False]))
    assert list(rest.tables["DIAGNOSES"].parent_row) == [0, 0, 0] and _subjects(rest, "ADMISSIONS") == ["p1", "p1"]
    with pytest.raises(ValueError):
        db.select_subjects(keep=np.array([True]))


def test_a_table_left_empty_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "admissions.csv": ADMISSIONS,
                                      "diagnoses.csv": {**DIAGNOSES, "hadm_id": ["a9"] * 7}})
    assert "no row is left after dropping orphans and applying caps in table(s) DIAGNOSES (7 read)" in _refused(folder)


def test_a_row_with_every_foreign_key_empty_has_no_patient(tmp_path: Path) -> None:
    labs = {"subject_id": ["p1", "", "p2"], "hadm_id": ["a1", "", ""], "charttime": ["2150-01-02 00:00"] * 3}
    folder = _write(tmp_path / "db", {"patients.csv": PATIENTS, "admissions.csv": ADMISSIONS,
                                      "diagnoses.csv": DIAGNOSES, "labs.csv": labs})
    schema = copy.deepcopy(SCHEMA)
    schema["tables"]["LABS"] = {
        "file": "labs.csv", "parent": "hadm_id",
        "references": {"subject_id": "PATIENTS.subject_id", "hadm_id": "ADMISSIONS.hadm_id"},
        "columns": {"subject_id": {"type": "identifier"}, "hadm_id": {"type": "identifier"},
                    "charttime": {"type": "datetime"}}}
    db = _load(folder, schema)
    assert db.tables["LABS"].counts.orphans == 1 and _subjects(db, "LABS") == ["p1", "p2"]
    schema["tables"]["LABS"]["on_orphan"] = "error"
    assert "table LABS: 1 row(s) have every foreign key empty, so no patient (rows 2;" in _refused(folder, schema)


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path / "not-there")
    assert message == f"database folder {tmp_path / 'not-there'} does not exist or is not a folder"
