"""Errors that reach Dagster's event log name no input file and no record."""

from __future__ import annotations

from pathlib import Path

from synthdata.errors import BadInputError, GateFailedError, redacted


def test_redacted_replaces_file_and_record_names_by_their_positions(tmp_path: Path) -> None:
    folder = tmp_path / "ward7"
    folder.mkdir()
    for name in ("MRN0042.dat", "MRN0042.hea", "MRN0107.dat", "MRN0107.hea"):
        (folder / name).write_text("x")
    cases = {
        "record MRN0107: sampling rate must be positive, got 0": "record #2 of 2: sampling rate must be positive, got 0",
        f"{folder / 'MRN0042.hea'}: not a WFDB header": "input file 2 of 4: not a WFDB header",
        "no label for record(s) ['MRN0042', 'MRN0107']": "no label for record(s) [record #1 of 2, record #2 of 2]",
        f"dataset {folder} has no recordings": "dataset the dataset (dataset.path) has no recordings",
    }
    for message, expected in cases.items():
        assert redacted(BadInputError(message, hint="SMITH-JOHN"), dataset=folder).message == expected
    copy = redacted(GateFailedError("record MRN0042 failed", hint="x"), dataset=folder)
    assert isinstance(copy, GateFailedError) and copy.hint is None and copy.exit_code == 3


def test_redacted_hides_a_single_data_files_name(tmp_path: Path) -> None:
    data = tmp_path / "MRN-88231.csv"
    data.write_text("a\n1\n")
    message = redacted(BadInputError(f"data file {data}: column 'age' row 18 is not a number"), dataset=data).message
    assert "MRN-88231" not in message and "column 'age' row 18" in message
