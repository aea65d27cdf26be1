"""A declared-public prior (``model.pretrain``): pretrained without privacy cost, then DP fine-tuned; stated in
the report; refused (before any budget) when it shares a record with the private data.  A simulation on
BreastMNIST: its train split plays the public data, its val and test splits the private data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import DATA, tiny_image_spec_dict, tiny_spec_dict
from synthdata import api, home
from synthdata.errors import BadInputError
from synthdata.release_spec import parse_spec


def _public_npz(tmp_path: Path, *, leak: int = 0) -> Path:
    """The train split under the keys the private spec reads (val, test); ``leak`` private images mixed in."""
    stored = np.load(DATA / "imaging" / "breastmnist.npz")
    private = {image.tobytes() for split in ("val", "test") for image in stored[f"{split}_images"]}
    # MedMNIST's splits are not disjoint: an image of the train split recurs in val or test (the check found it)
    keep = [i for i, image in enumerate(stored["train_images"]) if image.tobytes() not in private][:300]
    images, labels = stored["train_images"][keep], stored["train_labels"][keep]
    if leak:
        images = np.concatenate([images, stored["val_images"][:leak]])
        labels = np.concatenate([labels, stored["val_labels"][:leak]])
    path = tmp_path / "public.npz"
    np.savez(path, val_images=images[:150], val_labels=labels[:150], test_images=images[150:],
             test_labels=labels[150:])
    return path


def test_a_public_prior_pretrains_the_model_and_the_report_says_so(synthdata_home: Path, tmp_path: Path) -> None:
    raw = tiny_image_spec_dict(tmp_path / "release")
    raw["model"].update(pretrain=str(_public_npz(tmp_path)), pretrain_epochs=2)
    done = api.release(spec=parse_spec(raw), progress=False)
    area = home.run_path(done.run_id)
    training = json.loads((area / "model" / "training.json").read_text())
    assert training["pretrain"] == {"path": "public.npz", "records": 300, "epochs": 2}
    pretrained = torch.load(area / "model" / "pretrained.pt", weights_only=True)["weights"]
    final = torch.load(area / "model" / "denoiser.pt", weights_only=True)["weights"]
    assert any(not torch.equal(pretrained[k], final[k]) for k in final)  # DP-SGD fine-tuned the prior
    report = (done.out / "report.html").read_text()
    assert "300 records declared public" in report and "public.npz" in report
    manifest = json.loads((done.out / "manifest.json").read_text())
    assert manifest["epsilon"] <= 8.0 + 1e-9  # the prior cost nothing


def test_a_prior_that_shares_records_with_the_private_data_is_refused(synthdata_home: Path, tmp_path: Path) -> None:
    raw = tiny_image_spec_dict(tmp_path / "release")
    raw["model"]["pretrain"] = str(_public_npz(tmp_path, leak=3))
    with pytest.raises(BadInputError, match="shares 3 record"):
        api.release(spec=parse_spec(raw), progress=False)
    assert not (synthdata_home / "ledger.sqlite").exists()  # refused before any budget was reserved


def test_tables_refuse_a_prior_clearly(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["model"]["pretrain"] = str(data)
    with pytest.raises(BadInputError, match="signals and images, not table"):
        api.release(spec=parse_spec(raw), progress=False)
