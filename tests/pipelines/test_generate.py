"""Fit once, sample many: ``synthdata generate`` / ``api.generate`` on a trained run, audited and gated."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import torch

from helpers import tiny_spec_dict
from synthdata import api, home
from synthdata.cli import main
from synthdata.errors import BadInputError, GateFailedError
from synthdata.privacy.ledger import Ledger
from synthdata.release_spec import parse_spec


@pytest.fixture()
def released(synthdata_home: Path, tiny_table, tmp_path: Path) -> api.Release:
    data, schema = tiny_table
    return api.release(spec=parse_spec(tiny_spec_dict(data, schema, tmp_path / "release")), progress=False)


def _spent(home_folder: Path) -> tuple[float, int]:
    (state,) = Ledger(path=home_folder / "ledger.sqlite").datasets()
    return state.spent, len(Ledger(path=home_folder / "ledger.sqlite").history(fingerprint=state.fingerprint))


def test_generate_samples_more_audits_and_charges_nothing(released: api.Release, synthdata_home: Path,
                                                          tmp_path: Path) -> None:
    spent_before = _spent(synthdata_home)
    more = api.generate(run_id=released.run_id, records=1500, out=tmp_path / "more", progress=False)
    assert more.run_id == f"{released.run_id}+gen1"
    first = pl.read_parquet(released.out / "synthetic.parquet")
    second = pl.read_parquet(more.out / "synthetic.parquet")
    assert second.height == 1500 and second.columns == first.columns
    assert not second.head(first.height).equals(first)  # a new sample, not the release's rows again
    assert _spent(synthdata_home) == spent_before  # post-processing: no charge, no new ledger entry
    manifest = json.loads((more.out / "manifest.json").read_text())
    original = json.loads((released.out / "manifest.json").read_text())
    assert manifest["epsilon"] == pytest.approx(original["epsilon"])
    assert manifest["records"] == 1500
    assert manifest["generated_from"]["run_id"] == released.run_id
    assert {a["name"] for a in manifest["audits"]} == {a["name"] for a in original["audits"]}
    report = (more.out / "report.html").read_text()
    assert f"model trained in run {released.run_id}" in report and "1 earlier sample(s)" in report
    again = api.generate(run_id=released.run_id, records=200, out=tmp_path / "again", progress=False)
    assert again.run_id == f"{released.run_id}+gen2"
    assert "2 earlier sample(s)" in (again.out / "report.html").read_text()
    # purging the run purges its generations (their synthetic data before the gate is private)
    assert home.purge_run(released.run_id)
    assert not home.run_path(more.run_id).exists()
    with pytest.raises(BadInputError, match="never made, or purged"):
        api.generate(run_id=released.run_id, records=10, out=tmp_path / "gone", progress=False)


def test_generate_gates_the_new_sample(released: api.Release, synthdata_home: Path, tmp_path: Path) -> None:
    """A sample the gates block is not exported; the next generation's report counts the block."""
    area = home.run_path(released.run_id)
    spec_file = area / "spec.yaml"
    spec_file.write_text(spec_file.read_text().replace("fidelity.quality: 0.1", "fidelity.quality: 0.999"))
    with pytest.raises(GateFailedError):
        api.generate(run_id=released.run_id, records=300, out=tmp_path / "blocked", progress=False)
    assert not (tmp_path / "blocked").exists()
    spec_file.write_text(spec_file.read_text().replace("fidelity.quality: 0.999", "fidelity.quality: 0.1"))
    done = api.generate(run_id=released.run_id, records=300, out=tmp_path / "passed", progress=False)
    assert "2 earlier sample(s) of this model went through the audits (1 blocked)" in (
        done.out / "report.html").read_text()


def test_generate_refuses_bad_requests_before_writing(released: api.Release, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    assert main(["generate", released.run_id, "--records", "10", "--out", str(taken), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["generate", "no-such-run", "--records", "10", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert main(["generate", released.run_id, "--records", "0", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert not (home.run_path(released.run_id) / "generations").exists()
    assert main(["generate", released.run_id, "--records", "50", "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    assert pl.read_parquet(tmp_path / "cli" / "synthetic.parquet").height == 50
    with pytest.raises(BadInputError, match="is a generation"):
        api.generate(run_id=f"{released.run_id}+gen1", records=10, out=tmp_path / "y", progress=False)


def test_a_generation_waits_for_sign_off_when_the_spec_asks(released: api.Release, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = home.run_path(released.run_id) / "spec.yaml"
    spec_file.write_text(spec_file.read_text().replace("require_approval: false", "require_approval: true"))
    assert main(["generate", released.run_id, "--records", "120", "--out", str(tmp_path / "signed"), "--quiet"]) == 2
    assert "no approver is configured" in capsys.readouterr().err  # a sign-off nobody may give: refused first
    (home.home() / "approvers.yaml").write_text("approvers: [Dr. A. Name]\n")
    assert main(["generate", released.run_id, "--records", "120", "--out", str(tmp_path / "signed"), "--quiet"]) == 5
    assert "awaiting sign-off" in capsys.readouterr().err and not (tmp_path / "signed").exists()
    assert main(["approve", f"{released.run_id}+gen1", "--by", "Dr. A. Name"]) == 0
    manifest = json.loads((tmp_path / "signed" / "manifest.json").read_text())
    assert manifest["approval"]["by"] == "Dr. A. Name" and manifest["generated_from"]["run_id"] == released.run_id


def test_a_model_samples_only_under_the_diffusion_settings_it_was_trained_under(
        released: api.Release, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run's recorded spec read with another data scale than its model trained at (a default changed since),
    or a model file that does not say what it trained under: refused, exit 2, naming the setting; never sampled."""
    area = home.run_path(released.run_id)
    spec_file, weights = area / "spec.yaml", area / "model" / "denoiser.pt"
    recorded = spec_file.read_text()
    assert "data_scale: 1.0" in recorded
    spec_file.write_text(recorded.replace("data_scale: 1.0", "data_scale: 4.0"))
    assert main(["generate", released.run_id, "--records", "50", "--out", str(tmp_path / "scaled"), "--quiet"]) == 2
    said = capsys.readouterr().err
    assert "model.data_scale 1 when trained, 4 now" in said and "denoiser.pt" in said and "Traceback" not in said
    assert not list((area / "generations").glob("*/synthetic/*.parquet")) and not (tmp_path / "scaled").exists()

    spec_file.write_text(recorded)
    torch.save(torch.load(weights, weights_only=True)["weights"], weights)  # weights alone, as saved before
    assert main(["generate", released.run_id, "--records", "50", "--out", str(tmp_path / "bare"), "--quiet"]) == 2
    said = capsys.readouterr().err
    assert "does not record the diffusion settings" in said and "model.data_scale" in said
    assert not list((area / "generations").glob("*/synthetic/*.parquet")) and not (tmp_path / "bare").exists()
