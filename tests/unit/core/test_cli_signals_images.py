"""The CLI's short form for signals and images: --modality ecg|eeg|image with --schema naming the declared
settings; bad input (a truncated .dat, a header with the wrong sample count, an EDF with no data records, a
label column that does not exist, mixed image sizes, a corrupted npz, DICOM without pixel data, an empty
folder) exits 2, names the file or column, and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import DATA
from synthdata.cli import main


def _nothing_written(home: Path, out: Path) -> None:
    assert not out.exists()
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    assert not (home / "ledger.sqlite").exists()  # nothing was reserved


def _run(data: Path, modality: str, settings: dict, tmp_path: Path) -> int:
    schema = tmp_path / f"{modality}.yaml"
    schema.write_text(yaml.safe_dump({"signal" if modality != "image" else "image": settings}))
    return main(["release", str(data), "--modality", modality, "--schema", str(schema), "--epsilon", "5",
                 "--out", str(tmp_path / "out"), "--quiet"])


ECG = {"sample_rate": 180, "amplitude": [-2.5, 2.5], "segment": "beats", "labels": {"N": "normal"}}
EEG = {"sample_rate": 80, "amplitude": [-150, 150], "window_seconds": 2, "label_table": "labels.csv",
       "classes": ["eyes_open", "eyes_closed"]}
IMAGE = {"size": [28, 28], "classes": ["0", "1"]}


def _ecg_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "ecg"
    shutil.copytree(DATA / "ecg", folder)
    return folder / "100"


def _eeg_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "eeg"
    shutil.copytree(DATA / "eeg", folder)
    return folder


def test_schema_is_required_for_signals(synthdata_home: Path, tmp_path: Path, capsys) -> None:
    code = main(["release", str(DATA / "ecg" / "100"), "--modality", "ecg", "--epsilon", "5", "--out",
                 str(tmp_path / "out")])
    assert code == 2 and "--schema" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["truncated dat", "header sample count", "missing label column"])
def test_bad_signal_input_exits_2_and_writes_nothing(case: str, synthdata_home: Path, tmp_path: Path, capsys) -> None:
    settings = dict(ECG)
    if case == "truncated dat":
        record = _ecg_copy(tmp_path)
        dat = record.with_suffix(".dat")
        dat.write_bytes(dat.read_bytes()[:-3000])
        data, modality, expected = record, "ecg", "100.dat"
    elif case == "header sample count":
        record = _ecg_copy(tmp_path)
        hea = record.with_suffix(".hea")
        first, *rest = hea.read_text().splitlines()
        parts = first.split()
        parts[3] = str(int(parts[3]) + 5000)
        hea.write_text("\n".join([" ".join(parts), *rest]) + "\n")
        data, modality, expected = record, "ecg", "100"
    else:
        data, modality = _eeg_copy(tmp_path), "eeg"
        settings = {**EEG, "label_table": str(data / "labels.csv"), "label_column": "diagnosis"}
        expected = "diagnosis"
    code = _run(data, modality, settings, tmp_path)
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err and "Traceback" not in err
    _nothing_written(synthdata_home, tmp_path / "out")


def test_edf_without_data_records(synthdata_home: Path, tmp_path: Path, capsys) -> None:
    folder = _eeg_copy(tmp_path)
    for edf in folder.glob("*.edf"):
        raw = edf.read_bytes()
        header_bytes = int(raw[184:192].decode().strip())
        edf.write_bytes(raw[:236] + b"0".ljust(8) + raw[244:header_bytes])  # 0 data records, no data
    code = _run(folder, "eeg", {**EEG, "label_table": str(folder / "labels.csv")}, tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and ".edf" in err and "Traceback" not in err
    _nothing_written(synthdata_home, tmp_path / "out")


@pytest.mark.parametrize("case", ["mixed sizes", "corrupted npz", "dicom without pixels", "empty folder"])
def test_bad_image_input_exits_2_and_writes_nothing(case: str, synthdata_home: Path, tmp_path: Path, capsys) -> None:
    from PIL import Image

    settings = dict(IMAGE)
    if case == "mixed sizes":
        data = tmp_path / "images"
        for label, size in (("0", 28), ("1", 32)):
            (data / label).mkdir(parents=True)
            Image.fromarray(np.zeros((size, size), dtype=np.uint8)).save(data / label / f"x{size}.png")
        expected = "x32.png"
    elif case == "corrupted npz":
        data = tmp_path / "broken.npz"
        data.write_bytes((DATA / "imaging" / "breastmnist.npz").read_bytes()[:5000])
        expected = "broken.npz"
    elif case == "dicom without pixels":
        import pydicom
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian, generate_uid

        data = tmp_path / "dicom"
        data.mkdir()
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientID = "P1"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.save_as(data / "empty.dcm", enforce_file_format=True)
        settings = {"size": [28, 28]}
        expected = "empty.dcm"
    else:
        data = tmp_path / "nothing"
        data.mkdir()
        settings = {"size": [28, 28], "format": "folder"}
        expected = "nothing"
    code = _run(data, "image", settings, tmp_path)
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err and "Traceback" not in err
    _nothing_written(synthdata_home, tmp_path / "out")


def test_short_form_reads_the_declared_settings_and_resolves_their_paths(tmp_path: Path) -> None:
    from synthdata.cli import build_parser, spec_from_args

    folder = _eeg_copy(tmp_path)
    schema = folder / "signal.yaml"
    schema.write_text(yaml.safe_dump({"signal": EEG}))  # label_table relative to the settings file
    args = build_parser().parse_args(["release", str(folder), "--modality", "eeg", "--schema", str(schema),
                                      "--epsilon", "5", "--out", str(tmp_path / "out"), "--preset", "fast"])
    spec = spec_from_args(args)
    assert spec.dataset.modality == "eeg" and spec.dataset.schema_path is None
    assert spec.dataset.settings.label_table == folder / "labels.csv"
    assert spec.dataset.target == "label"  # the window class is what the utility audit predicts
    assert spec.model.epochs == 40 and spec.model.unet_base == 16  # the signal family's fast preset
