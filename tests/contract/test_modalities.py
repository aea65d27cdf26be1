"""Contract: every registered modality, with its own denoiser, prepares, trains with DP-SGD, samples and
writes its release files on tiny data on the CPU, through the shared stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from opacus.validators import ModuleValidator

from helpers import tiny_image_spec_dict, tiny_signal_spec_dict, tiny_spec_dict
from synthdata import home
from synthdata.flow import stages
from synthdata.release_spec import parse_spec
from synthdata.modalities import MODALITIES, get_modality
from synthdata.modalities.base import DatabaseModality
from synthdata.modalities.classes import allocate
from synthdata.privacy.ledger import Ledger
from synthdata.run_area import RunArea, read_json

ADVERTISED = {"table", "ecg", "eeg", "image"}
#: Modalities of several tables (``DatabaseModality``: one generator of their own), released end to end by
#: tests/pipelines/test_relational_release.py.
DATABASES = {"relational"}


def tiny_spec(modality: str, tiny_table, tmp_path: Path) -> dict:
    if modality == "table":
        data, schema = tiny_table
        return tiny_spec_dict(data, schema, tmp_path / "release")
    if modality == "image":
        return tiny_image_spec_dict(tmp_path / "release")
    return tiny_signal_spec_dict(modality, tmp_path / "release")


def test_every_registered_modality_is_covered() -> None:
    assert set(MODALITIES) == ADVERTISED | DATABASES
    assert all(isinstance(get_modality(name), DatabaseModality) for name in DATABASES)
    assert not any(isinstance(get_modality(name), DatabaseModality) for name in ADVERTISED)


@pytest.mark.parametrize("name", sorted(ADVERTISED))
def test_prepare_train_sample_and_write(name: str, synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    spec = parse_spec(tiny_spec(name, tiny_table, tmp_path))
    modality = get_modality(name)
    area = RunArea(home.run_dir("contract"))
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    prepared = stages.prepare(spec=spec, area=area, ledger=ledger, run_id="contract")
    codec = modality.read_codec(path=area.prepared / "codec.json")
    net = modality.build_denoiser(codec=codec, model=spec.model)
    assert ModuleValidator.validate(net, strict=False) == []
    units = torch.load(area.prepared / "units.pt", weights_only=True)
    assert units["data"].shape[-1] == prepared["encoded_width"]
    assert prepared["units"] >= 10 and prepared["holdout_records"] > 0

    trained = stages.train(spec=spec, area=area, ledger=ledger, run_id="contract", progress=False)
    assert 0 < trained["epsilon"] <= spec.privacy.epsilon + 1e-9 and trained["dp_valid"]
    (state,) = ledger.datasets()
    assert state.spent == pytest.approx(trained["epsilon"]) and state.reserved == 0

    sampled = stages.sample(spec=spec, area=area)
    n = spec.output.records or prepared["train_records"]
    data = modality.read_data(path=area.synthetic / modality.data_file("synthetic"), codec=codec)
    assert sampled["records"] == modality.count_records(data=data) == n
    frames = modality.audit_frames(data=data, codec=codec)
    assert len(frames) == n
    if modality.condition_dim(codec=codec):  # generated for their classes, in the declared/DP proportions
        labels = np.asarray(frames.labels).astype(str)
        # exactly the largest-remainder counts of the condition's proportions (a class whose DP-measured
        # share is below 1/(2n) may get no record at all: tiny ECG holds ~2% supraventricular beats)
        expected = allocate(proportions=codec.condition.proportions, n=n)
        assert [int((labels == c).sum()) for c in codec.condition.classes] == list(expected)
    out = tmp_path / "files"
    out.mkdir()
    names = modality.write_release(data=data, codec=codec, folder=out,
                                   provenance={"synthetic": "true", "epsilon": "8", "delta": "1e-05"})
    assert names and all((out / name).is_file() for name in names)
    assert read_json(area.prepared / "prepared.json")["modality"] == name
