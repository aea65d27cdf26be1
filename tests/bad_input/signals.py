"""Malformed ECG (WFDB) and EEG (EDF) inputs of the bad-input corpus."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from bad_input.case import Case, Invocation
from helpers import DATA


ECG = {"sample_rate": 180, "amplitude": [-2.5, 2.5], "segment": "beats", "labels": {"N": "normal"}}
EEG = {"sample_rate": 80, "amplitude": [-150, 150], "window_seconds": 2, "label_table": "labels.csv",
       "classes": ["eyes_open", "eyes_closed"]}


def modality_release(root: Path, data: Path, modality: str, settings: dict) -> list[str]:
    """The short form for signals and images: ``--schema`` names a file of the declared settings."""
    section = "image" if modality == "image" else "signal"
    settings_file = root / f"{modality}.settings.yaml"
    settings_file.write_text(yaml.safe_dump({section: settings}, sort_keys=False))
    return ["release", str(data), "--modality", modality, "--schema", str(settings_file), "--epsilon", "5",
            "--out", str(root / "out"), "--preset", "fast", "--quiet"]


def copy_ecg(root: Path) -> Path:
    """MIT-BIH record 100 copied under ``root/ecg``; returns the record (``.../100``)."""
    shutil.copytree(DATA / "ecg", root / "ecg")
    return root / "ecg" / "100"


def copy_eeg(root: Path) -> Path:
    """eegmmidb S001R01/R02 and their label table copied under ``root/eeg``."""
    shutil.copytree(DATA / "eeg", root / "eeg")
    return root / "eeg"


def _ecg_case(edit: Callable[[Path], tuple[Path, tuple[str, ...]]], settings: dict | None = None
              ) -> Callable[[Path], Invocation]:
    def build(root: Path) -> Invocation:
        data, names = edit(copy_ecg(root))
        return Invocation(modality_release(root, data, "ecg", settings or dict(ECG)), root / "out", names)

    return build


def _eeg_case(edit: Callable[[Path], tuple[Path, tuple[str, ...]]], settings: dict | None = None
              ) -> Callable[[Path], Invocation]:
    def build(root: Path) -> Invocation:
        folder = copy_eeg(root)
        data, names = edit(folder)
        given = {**EEG, **(settings or {})}
        given["label_table"] = str(folder / given["label_table"])
        return Invocation(modality_release(root, data, "eeg", given), root / "out", names)

    return build


def _wfdb_sample_count(record: Path) -> tuple[Path, tuple[str, ...]]:
    hea = record.with_suffix(".hea")
    first, *rest = hea.read_text().splitlines()
    parts = first.split()
    parts[3] = str(int(parts[3]) + 5000)
    hea.write_text("\n".join([" ".join(parts), *rest]) + "\n")
    return record, ("100.dat", "100.hea")


def _wfdb_truncated_dat(record: Path) -> tuple[Path, tuple[str, ...]]:
    dat = record.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:-3000])
    return record, ("100.dat",)


def _wfdb_garbage_header(record: Path) -> tuple[Path, tuple[str, ...]]:
    record.with_suffix(".hea").write_text("this is not a WFDB header\n\x00\x01\n")
    return record, ("100.hea",)


def _wfdb_missing_dat(record: Path) -> tuple[Path, tuple[str, ...]]:
    record.with_suffix(".dat").unlink()
    return record, ("100.dat",)


def _wfdb_garbage_annotations(record: Path) -> tuple[Path, tuple[str, ...]]:
    record.with_suffix(".atr").write_bytes(bytes(range(7, 250)) * 3)
    return record, ("100.atr",)


def _wfdb_records_traversal(record: Path) -> tuple[Path, tuple[str, ...]]:
    # A RECORDS file naming a record outside its folder: the header exists there, and must not be read.
    outside = record.parent.parent / "outside"
    outside.mkdir()
    for suffix in (".hea", ".dat", ".atr"):
        shutil.copy(record.with_suffix(suffix), outside / f"100{suffix}")
    (record.parent / "RECORDS").write_text("100\n../outside/100\n")
    return record.parent / "RECORDS", ("RECORDS", "../outside/100")


def _wfdb_empty_folder(record: Path) -> tuple[Path, tuple[str, ...]]:
    folder = record.parent.parent / "no_records"
    folder.mkdir()
    return folder, ("no_records",)


def _edf_truncated(folder: Path) -> tuple[Path, tuple[str, ...]]:
    edf = folder / "S001R02.edf"
    edf.write_bytes(edf.read_bytes()[:-20_000])
    return folder, ("S001R02.edf", "truncated")


def _edf_no_records(folder: Path) -> tuple[Path, tuple[str, ...]]:
    edf = folder / "S001R01.edf"
    raw = edf.read_bytes()
    header_bytes = int(raw[184:192].decode().strip())
    edf.write_bytes(raw[:236] + b"0".ljust(8) + raw[244:header_bytes])
    return folder, ("S001R01.edf",)


def _edf_garbage(folder: Path) -> tuple[Path, tuple[str, ...]]:
    (folder / "S001R02.edf").write_bytes(b"\x89PNG\r\n" + bytes(range(256)) * 8)
    return folder, ("S001R02.edf",)


def _edf_zero_bytes(folder: Path) -> tuple[Path, tuple[str, ...]]:
    (folder / "S001R01.edf").write_bytes(b"")
    return folder, ("S001R01.edf",)


def _edf_wrong_record_count(folder: Path) -> tuple[Path, tuple[str, ...]]:
    # The header promises twice the data records the file holds.
    edf = folder / "S001R01.edf"
    raw = bytearray(edf.read_bytes())
    count = int(raw[236:244].decode().strip())
    raw[236:244] = str(count * 2).ljust(8).encode()
    edf.write_bytes(bytes(raw))
    return folder, ("S001R01.edf", "truncated")


def _label_table_utf16(folder: Path) -> tuple[Path, tuple[str, ...]]:
    table = folder / "labels.csv"
    table.write_bytes(table.read_text(encoding="utf-8").encode("utf-16"))
    return folder, ("labels.csv", "UTF-8")


def _label_table_missing_record(folder: Path) -> tuple[Path, tuple[str, ...]]:
    (folder / "labels.csv").write_text("record,label\nS001R01,eyes_open\n")
    return folder, ("labels.csv", "S001R02")


def _label_table_traversal(folder: Path) -> tuple[Path, tuple[str, ...]]:
    (folder / "labels.csv").write_text("record,label\n../S001R01,eyes_open\nS001R02,eyes_closed\n")
    return folder, ("labels.csv", "S001R01")


def _unknown_channel(folder: Path) -> tuple[Path, tuple[str, ...]]:
    return folder, ("Cz9",)


def _same(path: Path) -> tuple[Path, tuple[str, ...]]:
    return path, ("ecg.settings.yaml",)


SIGNAL_CASES: list[Case] = [
    Case("wfdb-header-wrong-sample-count", "ecg", _ecg_case(_wfdb_sample_count), ("sample count",)),
    Case("wfdb-truncated-dat", "ecg", _ecg_case(_wfdb_truncated_dat), ("truncated",)),
    Case("wfdb-garbage-header", "ecg", _ecg_case(_wfdb_garbage_header), ("header",)),
    Case("wfdb-missing-dat", "ecg", _ecg_case(_wfdb_missing_dat), ("does not exist",)),
    Case("wfdb-garbage-annotations", "ecg", _ecg_case(_wfdb_garbage_annotations), ("annotation",)),
    Case("wfdb-records-path-traversal", "ecg", _ecg_case(_wfdb_records_traversal), ("outside",)),
    Case("wfdb-folder-without-records", "ecg", _ecg_case(_wfdb_empty_folder), ("no wfdb header",)),
    Case("ecg-settings-unknown-key", "ecg", _ecg_case(_same, {**ECG, "sample_rte": 100}),
         ("signal.sample_rte", "not permitted")),
    Case("ecg-amplitude-reversed", "ecg", _ecg_case(_same, {**ECG, "amplitude": [2.5, -2.5]}), ("low < high",)),
    Case("edf-truncated", "eeg", _eeg_case(_edf_truncated), ("truncated",)),
    Case("edf-no-data-records", "eeg", _eeg_case(_edf_no_records), ("no data records",)),
    Case("edf-garbage", "eeg", _eeg_case(_edf_garbage), ("not an edf",)),
    Case("edf-zero-bytes", "eeg", _eeg_case(_edf_zero_bytes), ("edf",)),
    Case("edf-header-record-count-too-high", "eeg", _eeg_case(_edf_wrong_record_count), ("declares",)),
    Case("eeg-label-table-utf16", "eeg", _eeg_case(_label_table_utf16), ("encoding",)),
    Case("eeg-label-table-missing-record", "eeg", _eeg_case(_label_table_missing_record), ("no 'label'",)),
    Case("eeg-label-table-path-in-record", "eeg", _eeg_case(_label_table_traversal), ("no 'label'",)),
    Case("eeg-unknown-channel", "eeg", _eeg_case(_unknown_channel, {"channels": ["Cz9"]}), ("channel",)),
]
