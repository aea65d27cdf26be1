"""The generator object: fit a DataFrame once (one charge), sample many (free), save/load, release (gated)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import torch

from helpers import tiny_schema, tiny_spec_dict
from synthdata import home
from synthdata.api import Synthesizer, TableSynthesizer
from synthdata.errors import BadInputError
from synthdata.privacy.ledger import Ledger


def _tiny_synth(**overrides) -> TableSynthesizer:
    spec = tiny_spec_dict(Path("unused.csv"), None, Path("unused"))
    keywords = dict(schema=tiny_schema(), epsilon=4.0, target="readmitted", name="tiny", preset="fast",
                    epochs=spec["model"]["epochs"], batch_size=spec["model"]["batch_size"], gates=spec["audits"]["gates"],
                    seed=7)
    return TableSynthesizer(**{**keywords, **overrides})


def test_fit_once_sample_many_save_load_release(synthdata_home: Path, tiny_table, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = tiny_table
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    synth = _tiny_synth().fit(frame)
    plan = capsys.readouterr().err  # the plan is printed before anything is spent
    assert "fit tiny: the plan" in plan and "DP-SGD:" in plan and "a new dataset: its budget would be 10" in plan
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    (state,) = ledger.datasets()
    assert state.spent == pytest.approx(synth.privacy["epsilon"]) and synth.privacy["epsilon"] <= 4.0 + 1e-9
    charges = len(ledger.history(fingerprint=state.fingerprint))

    rows = synth.sample(2000, seed=3)
    assert isinstance(rows, pd.DataFrame) and len(rows) == 2000
    assert "patient_nbr" not in rows.columns and "readmitted" in rows.columns  # identifiers never modelled
    assert rows.equals(synth.sample(2000, seed=3)) and not rows.equals(synth.sample(2000, seed=4))
    assert set(rows["readmitted"]) <= {"NO", "<30", ">30"}

    saved = synth.save(tmp_path / "tiny.synth")
    again = Synthesizer.load(saved)
    assert again.run_id == synth.run_id and again.privacy == synth.privacy
    assert again.sample(2000, seed=3).equals(rows)  # same weights, codec and distributions: the same draw
    # the file holds DP outputs and public facts only: no real record's value of a free-text-like column
    blob = saved.read_bytes()
    for patient in frame["patient_nbr"].head(50):
        assert patient.encode() not in blob

    done = again.release(800, out=tmp_path / "release", progress=False)
    assert pl.read_parquet(done.out / "synthetic.parquet").height == 800
    assert json.loads((done.out / "manifest.json").read_text())["generated_from"]["run_id"] == synth.run_id
    assert len(ledger.history(fingerprint=state.fingerprint)) == charges  # sampling and releasing cost nothing

    # a second fit of the same rows (as a file now) is a second charge on the same dataset's budget
    _tiny_synth().fit(data, progress=False)
    (after,) = ledger.datasets()
    assert after.fingerprint == state.fingerprint and after.spent == pytest.approx(2 * state.spent)
    with pytest.raises(BadInputError, match="fitted already"):
        synth.fit(frame, progress=False)

    home.purge_run(synth.run_id)
    with pytest.raises(BadInputError, match="purged"):
        again.release(10, out=tmp_path / "late", progress=False)
    assert len(again.sample(10)) == 10  # the saved model still samples


def test_bad_input_is_refused_and_leaves_nothing(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, _ = tiny_table
    frame = pl.read_csv(data, infer_schema=False).drop("readmitted")
    with pytest.raises(BadInputError, match="readmitted"):
        _tiny_synth().fit(frame, progress=False)
    assert not list(home.runs_dir().iterdir())  # the DataFrame written for the run is gone with it
    assert not (synthdata_home / "ledger.sqlite").exists() or not Ledger(
        path=synthdata_home / "ledger.sqlite").datasets()
    with pytest.raises(BadInputError, match="fit the synthesizer first"):
        _tiny_synth().sample(5)
    with pytest.raises(BadInputError, match="not a saved synthdata synthesizer"):
        Synthesizer.load(data)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(BadInputError, match="not a saved synthdata synthesizer"):
        Synthesizer.load(tmp_path / "other.pt")
    with pytest.raises(BadInputError, match="DataFrame"):
        _tiny_synth().fit([1, 2, 3], progress=False)


def test_a_signal_synthesizer_fits_samples_and_round_trips(synthdata_home: Path, tmp_path: Path) -> None:
    """The same object for another modality, from its spec: windows come back in the modality's own form."""
    from helpers import tiny_signal_spec_dict
    from synthdata.release_spec import parse_spec

    synth = Synthesizer(spec=parse_spec(tiny_signal_spec_dict("eeg", tmp_path / "out"))).fit(progress=False)
    drawn = synth.sample(12, seed=1)
    again = Synthesizer.load(synth.save(tmp_path / "eeg.synth")).sample(12, seed=1)
    assert len(drawn.data) == 12 and drawn.data.shape == again.data.shape
    assert (drawn.data == again.data).all() and (drawn.labels == again.labels).all()
    assert synth.privacy["epsilon"] <= synth.spec.privacy.epsilon + 1e-9
