"""Signals and images through the Dagster release graph: a release exports native files that read back with
their own libraries and a manifest that states the per-window / per-image guarantee; a generator that copies
its training records fails the memorization gates with the DEFAULT thresholds, and nothing is exported."""

from __future__ import annotations

import json
from pathlib import Path

import mne
import numpy as np
import pytest

from helpers import tiny_image_spec_dict, tiny_signal_spec_dict
from pipelines.runner import run_release
from synthdata import home
from synthdata.flow import publish, stages
from synthdata.release_spec import parse_spec
from synthdata.errors import GateFailedError
from synthdata.export.manifest import sha256_file
from synthdata.modalities import get_modality
from synthdata.privacy.ledger import Ledger
from synthdata.run_area import RunArea


def test_eeg_release_through_dagster_exports_edf_that_mne_reads(synthdata_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "release"
    spec = parse_spec(tiny_signal_spec_dict("eeg", out))
    outcome = run_release(spec)
    assert outcome.exit_code == 0, outcome.message
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["modality"] == "eeg" and manifest["records"] == 40
    assert "windows, not the person" in manifest["privacy_unit"]
    assert {a["name"] for a in manifest["audits"]} >= {"fidelity.spectrum", "memorization.dcr_share",
                                                       "utility.tstr"}
    for entry in manifest["files"]:
        assert sha256_file(out / entry["path"]) == entry["sha256"]
    edfs = sorted((out / "edf").glob("*.edf"))
    assert len(edfs) == 40
    raw = mne.io.read_raw_edf(edfs[0], preload=True, verbose="error")
    assert raw.info["sfreq"] == 40 and raw.n_times == 80 and len(raw.ch_names) == 2
    assert "synthdata:SYNTHETIC" in raw.annotations.description
    labels = (out / "labels.csv").read_text().splitlines()[1:]
    assert len(labels) == 40 and {line.split(",")[1] for line in labels} == {"eyes_open", "eyes_closed"}
    report = (out / "report.html").read_text()
    assert "windows, not the person" in report and "Synthetic examples" in report


def _trained_run(raw: dict, synthdata_home: Path) -> tuple[object, RunArea]:
    spec = parse_spec(raw)
    area = RunArea(home.run_dir("copier"))
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    stages.prepare(spec=spec, area=area, ledger=ledger, run_id="copier")
    stages.train(spec=spec, area=area, ledger=ledger, run_id="copier", progress=False)
    stages.sample(spec=spec, area=area)
    return spec, area


@pytest.mark.parametrize("kind", ["ecg", "eeg", "image"])
def test_a_generator_that_copies_its_training_records_is_blocked(kind: str, synthdata_home: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "release"
    raw = tiny_image_spec_dict(out) if kind == "image" else tiny_signal_spec_dict(kind, out)
    raw["audits"]["gates"] = {}  # the default thresholds
    spec, area = _trained_run(raw, synthdata_home)
    modality = get_modality(kind)
    codec = modality.read_codec(path=area.prepared / "codec.json")
    train = modality.read_data(path=area.prepared / modality.data_file("train"), codec=codec)
    # The "generator" returns its training records: replace the sampled data with them.
    modality.save_data(data=train, path=area.synthetic / modality.data_file("synthetic"))
    (area.synthetic / "synthetic.json").write_text(json.dumps({
        "records": len(train), "sha256": sha256_file(area.synthetic / modality.data_file("synthetic")),
        "sampler": "copy"}))
    results = {r.name: r for r in publish.audit(spec=spec, area=area)}
    failed = {name for name, r in results.items() if r.passed is False}
    # a few dozen holdout records: the DCR share may be too imprecise to judge, never a pass; the copies
    # are caught outright by the exact-copy gate.  One subject's windows are split by blocks of time, and a
    # handful of blocks cannot support a near-copy or membership verdict (they never pass); separate images
    # can, and fail.
    assert results["memorization.dcr_share"].passed is not True and results["memorization.dcr_share"].value > 0.6
    assert "memorization.exact_copies" in failed and results["memorization.exact_copies"].value == len(train)
    for name in ("memorization.near_copies", "attack.membership_inference"):
        assert results[name].passed is not True and results[name].value > (0.5 if name.startswith("attack") else 0.3)
    if kind == "image":
        assert {"memorization.near_copies", "attack.membership_inference"} <= failed
    with pytest.raises(GateFailedError, match="memorization"):
        publish.export(spec=spec, area=area, run_id="copier")
    assert not out.exists() and not list(tmp_path.glob(".release*"))
    # the report says what failed, and shows no real record (the copies are real records: no example grid
    # of "synthetic" data may reach a public release, and none did, since nothing was exported)
    assert (area.synthetic / "report.html").is_file()


def test_image_release_writes_medmnist_npz_that_numpy_reads(synthdata_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "release"
    spec = parse_spec(tiny_image_spec_dict(out, output_format="npz"))
    outcome = run_release(spec)
    assert outcome.exit_code == 0, outcome.message
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["modality"] == "image" and "protects images, not patients" in manifest["privacy_unit"]
    with np.load(out / "synthetic.npz") as npz:
        images, labels = npz["train_images"], npz["train_labels"]
        provenance = json.loads(str(npz["synthetic_provenance"]))
    assert images.shape == (40, 28, 28) and images.dtype == np.uint8 and labels.shape == (40, 1)
    assert set(labels[:, 0].tolist()) == {0, 1} and provenance["synthetic"] is True
    assert provenance["epsilon"] == pytest.approx(manifest["epsilon"], rel=1e-5)
