"""Retraining from earlier prepared data charges the new training once and keeps the composed guarantee."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import tiny_spec_dict
from synthdata import home
from synthdata.flow import stages
from synthdata.run_area import RunArea
from synthdata.release_spec import parse_spec
from synthdata.privacy.ledger import Ledger


def test_retraining_charges_training_only_and_states_the_composed_epsilon(
    synthdata_home: Path, tiny_table, tmp_path: Path
) -> None:
    data, _ = tiny_table
    raw = tiny_spec_dict(data, None, tmp_path / "release")  # no schema: domains are learned with DP
    raw["privacy"]["preprocessing_share"] = 0.3
    spec = parse_spec(raw)
    area = RunArea(home.run_dir("first"))
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    prepared = stages.prepare(spec=spec, area=area, ledger=ledger, run_id="first")
    first = stages.train(spec=spec, area=area, ledger=ledger, run_id="first", progress=False)
    second = stages.train(spec=spec, area=area, ledger=ledger, run_id="second", progress=False)
    assert prepared["epsilon_preprocessing"] == pytest.approx(1.2)
    for run in (first, second):
        assert run["epsilon"] == pytest.approx(run["epsilon_preprocessing"] + run["epsilon_marginals"]
                                               + run["epsilon_training"])
        assert run["epsilon_marginals"] == pytest.approx(4.0 * spec.privacy.marginals_share)
        assert run["epsilon_preprocessing"] == pytest.approx(1.2)
    (state,) = ledger.datasets()
    assert state.reserved == 0
    assert state.spent == pytest.approx(first["epsilon"] + second["epsilon_training"])
    charges = {c["run_id"]: c for c in ledger.history(fingerprint=state.fingerprint)}
    assert [m["stage"] for m in charges["second"]["mechanisms"]] == ["training"]
