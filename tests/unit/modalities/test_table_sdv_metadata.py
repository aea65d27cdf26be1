"""SDV metadata in and out, on a metadata file SDV itself wrote (tests/fixtures/sdv/make_metadata.py)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from synthdata.cli import main
from synthdata.errors import BadInputError
from synthdata.modalities.table.reader import read_table
from synthdata.modalities.table.schema import BooleanColumn, IdentifierColumn, parse_schema
from synthdata.modalities.table.sdv_metadata import from_sdv, to_sdv

SDV_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "sdv" / "encounters.metadata.json"


def _sdv() -> dict:
    return json.loads(SDV_FILE.read_text())


def test_every_sdtype_maps_and_detected_ranges_stay_out() -> None:
    schema, notes = from_sdv(_sdv(), subject="patient_nbr")
    columns = schema.columns
    assert schema.subject == "patient_nbr" and not schema.draft
    assert isinstance(columns["encounter_id"], IdentifierColumn) and not columns["encounter_id"].pii
    assert isinstance(columns["email"], IdentifierColumn) and columns["email"].pii  # PII is never modelled
    assert "email" not in schema.modelled_columns and "encounter_id" not in schema.modelled_columns
    assert isinstance(columns["diabetesMed"], BooleanColumn)
    assert columns["admitted_on"].type == "datetime" and columns["admitted_on"].resolution == "day"
    assert columns["admitted_on"].format == "%Y-%m-%d"
    assert columns["num_lab_procedures"].integer and not columns["weight_kg"].integer
    # SDV read race's categories and num_lab_procedures' range off the rows: not public, so learned with DP
    assert columns["race"].categories == "discover"
    assert columns["num_lab_procedures"].min is None and columns["num_lab_procedures"].max is None
    assert set(schema.needs_discovery) >= {"race", "gender", "readmitted", "num_lab_procedures"}
    assert any("race" in note and "read from the private data" in note for note in notes)


def test_keeping_detected_ranges_makes_a_draft_a_release_refuses() -> None:
    schema, notes = from_sdv(_sdv(), subject="patient_nbr", keep_ranges=True)
    assert schema.draft and any("draft" in note for note in notes)
    assert set(schema.columns["race"].categories) == {"Caucasian", "AfricanAmerican", "Hispanic", "Other", "Asian"}
    assert (schema.columns["num_lab_procedures"].min, schema.columns["num_lab_procedures"].max) == (1, 111)


def test_round_trip_keeps_sdtypes_and_schema() -> None:
    original = _sdv()
    schema, _ = from_sdv(original, subject="patient_nbr")
    written = to_sdv(schema, table="encounters", primary_key="encounter_id")
    table = written["tables"]["encounters"]
    assert table["primary_key"] == "encounter_id"
    assert {c: s["sdtype"] for c, s in table["columns"].items()} == {
        c: s["sdtype"] for c, s in original["tables"]["encounters"]["columns"].items()}
    assert table["columns"]["email"]["pii"] is True
    assert "range_values" not in json.dumps(written)  # nothing of the data goes out
    again, _ = from_sdv(written, subject="patient_nbr")
    assert again == schema


def test_layouts_and_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    single = {"METADATA_SPEC_VERSION": "SINGLE_TABLE_V1", "columns": {"x": {"sdtype": "numerical"}}}
    assert from_sdv(single)[0].columns["x"].type == "numeric"
    two = {"tables": {"a": single, "b": single}}
    with pytest.raises(BadInputError, match="2 tables .*--table"):
        from_sdv(two)
    assert from_sdv(two, table="b")[0].modelled_columns == ["x"]
    with pytest.raises(BadInputError, match="subject column 'nope'"):
        from_sdv(single, subject="nope")
    with pytest.raises(BadInputError, match="'y' .* no sdtype"):
        from_sdv({"columns": {"y": {}}})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["schema", "from-sdv", str(broken)]) == 2
    assert "broken.json is not valid JSON" in capsys.readouterr().err
    out = tmp_path / "encounters.schema.yaml"
    assert main(["schema", "from-sdv", str(SDV_FILE), "--subject", "patient_nbr", "--out", str(out)]) == 0
    assert "learned with DP" in capsys.readouterr().err and out.read_text().startswith("# Schema converted")
    assert main(["schema", "from-sdv", str(SDV_FILE), "--out", str(out)]) == 2  # never overwritten silently
    meta = tmp_path / "m.json"
    assert main(["schema", "to-sdv", str(out), "--primary-key", "encounter_id", "--out", str(meta)]) == 0
    assert json.loads(meta.read_text())["tables"]["encounters"]["primary_key"] == "encounter_id"
    assert main(["schema", "to-sdv", str(out), "--primary-key", "race", "--out", str(tmp_path / "n.json")]) == 2


def test_boolean_columns_read_the_usual_spellings(tmp_path: Path) -> None:
    data = tmp_path / "b.csv"
    pl.DataFrame({"flag": ["Yes", "no", "TRUE", "0", "1", "f", ""], "n": ["1"] * 7}).write_csv(data)
    schema = parse_schema({"columns": {"flag": {"type": "boolean", "nullable": True},
                                       "n": {"type": "numeric", "min": 0, "max": 2}}})
    frame = read_table(path=data, schema=schema)
    assert frame["flag"].to_list() == ["true", "false", "true", "false", "true", "false", None]
    pl.DataFrame({"flag": ["yes", "maybe"], "n": ["1", "1"]}).write_csv(data)
    with pytest.raises(BadInputError, match="flag.*not among the declared categories"):
        read_table(path=data, schema=schema)
    with pytest.raises(BadInputError, match="levels are false and true"):
        parse_schema({"columns": {"flag": {"type": "boolean", "categories": ["no", "yes"]}}})
