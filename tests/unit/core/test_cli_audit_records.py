"""`synthdata audit --modality image|eeg`: another tool's images or recordings audited like a release's, from
real files written and read back with their own libraries (PNG with Pillow, EDF with MNE)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from helpers import DATA
from synthdata.cli import main


def _png_folders(tmp_path: Path) -> dict[str, Path]:
    stored = np.load(DATA / "imaging" / "breastmnist.npz")
    images, labels = stored["train_images"], stored["train_labels"].ravel()
    parts = {"train": range(0, 300), "holdout": range(300, 420), "fresh": range(420, 546),
             "copier": [*range(0, 60), *range(420, 480)]}  # half of it exact copies of training images
    folders = {}
    for name, indices in parts.items():
        for i in indices:
            folder = tmp_path / name / str(labels[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(folder / f"img{i:04d}.png")
        folders[name] = tmp_path / name
    settings = tmp_path / "image.yaml"
    settings.write_text(yaml.safe_dump({"image": {"size": [28, 28], "classes": ["0", "1"]}}))
    folders["settings"] = settings
    return folders


def _audit(modality: str, folders: dict[str, Path], synthetic: str, out: Path) -> int:
    return main(["audit", "--modality", modality, "--train", str(folders["train"]), "--holdout",
                 str(folders["holdout"]), "--synthetic", str(folders[synthetic]), "--schema",
                 str(folders["settings"]), "--out", str(out), "--target", "label"])


def test_image_folders_of_another_tool_are_audited_and_a_copier_is_blocked(tmp_path: Path) -> None:
    folders = _png_folders(tmp_path)
    assert _audit("image", folders, "copier", tmp_path / "copier-audit") == 3
    record = json.loads((tmp_path / "copier-audit" / "audit.json").read_text())
    verdicts = {a["name"]: a for a in record["audits"]}
    assert verdicts["memorization.exact_copies"]["passed"] is False and verdicts["memorization.exact_copies"]["value"] == 60
    assert (tmp_path / "copier-audit" / "report.html").is_file() and (tmp_path / "copier-audit" / "report.pdf").is_file()
    assert _audit("image", folders, "fresh", tmp_path / "fresh-audit") == 0  # unseen real images copy nothing
    fresh = {a["name"]: a for a in json.loads((tmp_path / "fresh-audit" / "audit.json").read_text())["audits"]}
    assert fresh["memorization.exact_copies"]["value"] == 0 and fresh["utility.tstr"]["passed"] is True


def test_image_audit_refuses_bad_input_and_writes_nothing(tmp_path: Path, capsys) -> None:
    folders = _png_folders(tmp_path)
    code = main(["audit", "--modality", "image", "--train", str(folders["train"]), "--holdout", str(folders["holdout"]),
                 "--synthetic", str(folders["fresh"]), "--out", str(tmp_path / "a")])
    assert code == 2 and "--schema" in capsys.readouterr().err
    small = tmp_path / "small" / "0"
    small.mkdir(parents=True)
    for i, png in enumerate(sorted((folders["fresh"] / "0").glob("*.png"))[:5]):
        shutil.copyfile(png, small / f"s{i}.png")
    folders["small"] = small.parent
    assert _audit("image", folders, "small", tmp_path / "b") == 2
    assert "synthetic input" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_edf_recordings_of_another_tool_are_audited(tmp_path: Path) -> None:
    mne = pytest.importorskip("mne")
    rows = []
    for run, label in (("S001R01", "eyes_open"), ("S001R02", "eyes_closed")):
        raw = mne.io.read_raw_edf(DATA / "eeg" / f"{run}.edf", preload=True, verbose="error")
        for part, (start, stop) in {"train": (0, 28), "holdout": (30, 58)}.items():
            folder = tmp_path / part
            folder.mkdir(exist_ok=True)
            name = f"{run}{part[0]}"
            mne.export.export_raw(folder / f"{name}.edf", raw.copy().crop(start, stop, include_tmax=False),
                                  fmt="edf", verbose="error")
            rows.append((name, label))
        copier = tmp_path / "copier"
        copier.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "train" / f"{run}t.edf", copier / f"{run}c.edf")  # the training files again
        rows.append((f"{run}c", label))
    table = tmp_path / "labels.csv"
    table.write_text("record,label\n" + "".join(f"{r},{lab}\n" for r, lab in rows))
    settings = tmp_path / "eeg.yaml"
    settings.write_text(yaml.safe_dump({"signal": {"sample_rate": 80, "bandpass": [1.0, 30.0],
                                                   "amplitude": [-150.0, 150.0], "window_seconds": 2.0,
                                                   "label_table": str(table), "classes": ["eyes_open", "eyes_closed"]}}))
    folders = {"train": tmp_path / "train", "holdout": tmp_path / "holdout", "copier": copier, "settings": settings}
    assert _audit("eeg", folders, "copier", tmp_path / "audit") == 3
    verdicts = {a["name"]: a for a in json.loads((tmp_path / "audit" / "audit.json").read_text())["audits"]}
    assert verdicts["memorization.exact_copies"]["passed"] is False
    assert "fidelity.spectrum" in verdicts
