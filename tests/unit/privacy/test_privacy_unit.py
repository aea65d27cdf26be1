"""The privacy statement describes what trained: a declared per-subject unit that the training split cannot
honour is refused before any budget is spent, and the unit text is computed from the training split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA, tiny_signal_spec_dict
from synthdata import home
from synthdata.errors import BadInputError
from synthdata.flow import stages
from synthdata.modalities import grouping
from synthdata.privacy.ledger import Ledger
from synthdata.release_spec import parse_spec
from synthdata.run_area import RunArea


def _two_subjects(tmp_path: Path) -> tuple[Path, Path]:
    """Two people's eyes-open / eyes-closed EEG runs (copies of S001's) and their label table."""
    folder = tmp_path / "eeg"
    folder.mkdir()
    for subject in ("S001", "S002"):
        for run, original in (("R01", "S001R01.edf"), ("R02", "S001R02.edf")):
            shutil.copy(DATA / "eeg" / original, folder / f"{subject}{run}.edf")
    table = tmp_path / "labels.csv"
    table.write_text("record,label\n" + "".join(f"S00{i}R01,eyes_open\nS00{i}R02,eyes_closed\n" for i in (1, 2)))
    return folder, table


def _seed_with_one_training_subject() -> int:
    for seed in range(200):
        holdout = grouping.split_by_subject(subjects=np.array(["S001", "S002"]), holdout_fraction=0.4, seed=seed)
        if int((~holdout).sum()) == 1:
            return seed
    raise AssertionError("no seed puts exactly one subject in training")


def _spec_with_one_training_subject(tmp_path: Path, *, unit: str):
    """Two subjects, holdout 0.4, and a seed whose split leaves one subject to train on."""
    folder, table = _two_subjects(tmp_path)
    raw = tiny_signal_spec_dict("eeg", tmp_path / "out", label_table=str(table), privacy_unit=unit)
    raw["dataset"]["path"] = str(folder)
    raw["audits"]["holdout_fraction"] = 0.4
    raw["seed"] = _seed_with_one_training_subject()
    return parse_spec(raw)


def test_a_subject_unit_with_one_training_subject_is_refused_before_any_charge(synthdata_home: Path,
                                                                               tmp_path: Path) -> None:
    spec = _spec_with_one_training_subject(tmp_path, unit="subject")
    ledger_path = synthdata_home / "ledger.sqlite"
    with pytest.raises(BadInputError, match="privacy_unit: subject cannot be honoured"):
        stages.prepare(spec=spec, area=RunArea(home.run_path("refused")), ledger=lambda: Ledger(path=ledger_path),
                       run_id="refused")
    assert not ledger_path.exists()  # the ledger was never opened: nothing reserved
    assert not home.run_path("refused").exists()


def test_the_unit_statement_describes_the_training_split(synthdata_home: Path, tmp_path: Path) -> None:
    """Declared per window on two subjects: the statement is computed from what trained."""
    spec = _spec_with_one_training_subject(tmp_path, unit="window")
    prepared = stages.prepare(spec=spec, area=RunArea(home.run_path("window")),
                              ledger=Ledger(path=synthdata_home / "ledger.sqlite"), run_id="window")
    assert prepared["privacy_unit"].startswith("one signal window (a single subject")
