"""``model.processes: 2``: a release whose DP-SGD runs across two processes trains the single-process plan's
mechanism (same noise multiplier, sample rate and steps, so the same epsilon), charges it once, reports
progress from rank 0, and releases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import tiny_spec_dict

from synthdata.api import release
from synthdata.errors import BadInputError
from synthdata.flow import stages
from synthdata.privacy.ledger import Ledger
from synthdata.privacy.training import calibrate_noise
from synthdata.progress import LogLines
from synthdata.release_spec import parse_spec
from synthdata.run_area import RunArea


def test_release_trained_across_two_processes_states_the_one_process_mechanism(
        synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["model"]["processes"] = 2
    spec_one = parse_spec({**raw, "model": {**raw["model"], "processes": 1}})
    single = stages.plan(spec=spec_one, ledger=Ledger(path=tmp_path / "plan.sqlite"))

    lines: list[str] = []
    done = release(spec=parse_spec(raw), progress=LogLines(say=lines.append))
    training = json.loads((synthdata_home / "runs" / done.run_id / "model" / "training.json").read_text())
    assert training["processes"] == 2 and training["dp_valid"] and training["private"]
    # the noise one process would have used for this run's prepared data (chosen with the column distributions)
    prepared = json.loads((synthdata_home / "runs" / done.run_id / "prepared" / "prepared.json").read_text())
    target = stages.training_target(spec=spec_one, plan=stages.training_plan(spec_one), units=single["units"],
                                    before=stages.prepare_mechanisms(prepared), delta=prepared["delta"],
                                    epsilon_train=single["epsilon_training"],
                                    delta_train=prepared["delta"] - prepared["delta_marginals"])
    one_process = calibrate_noise(epsilon=target, delta=prepared["delta"] - prepared["delta_marginals"],
                                  sample_rate=single["sample_rate"], steps=single["steps"],
                                  accountant=spec_one.privacy.accountant)
    assert training["noise_multiplier"] == pytest.approx(one_process, rel=1e-9)
    assert training["sample_rate"] == pytest.approx(single["sample_rate"], rel=1e-12)
    assert training["steps"] == single["steps"]
    assert training["epsilon_training"] <= raw["privacy"]["epsilon"] * (1 + 1e-6)

    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    (state,) = ledger.datasets()
    (charge,) = ledger.history(fingerprint=state.fingerprint)
    assert charge["status"] == "spent" and charge["epsilon"] == pytest.approx(done.epsilon, rel=1e-12)
    assert (done.out / "manifest.json").is_file()

    steps = [line for line in lines if line.startswith("DP training: step")]
    assert steps and f"step {single['steps']} of {single['steps']}" in steps[-1] and "epsilon spent so far" in steps[-1]
    assert not list((synthdata_home / "runs" / done.run_id / "model").glob("ranks-*"))  # hand-over files removed


def test_processes_need_dp_sgd(tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["model"]["processes"] = 2
    raw["privacy"].update(reproducible=True, not_private=True)
    with pytest.raises(BadInputError, match="model.processes above 1"):
        parse_spec(raw)


def test_a_failing_worker_is_named_without_a_traceback(synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["model"]["processes"] = 2
    spec = parse_spec(raw)
    area = RunArea(synthdata_home / "runs" / "two")
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    stages.prepare(spec=spec, area=area, ledger=ledger, run_id="two")
    area.spec.write_text("model: [", encoding="utf-8")  # the workers read the run's recorded spec: it is broken
    with pytest.raises(BadInputError, match="DP-SGD across 2 processes failed") as refused:
        stages.train(spec=spec, area=area, ledger=ledger, run_id="two", progress=False)
    assert "spec.yaml is not valid YAML" in refused.value.message  # the worker's own message
    assert "Traceback" not in refused.value.message and "Error:" not in refused.value.message
    assert not list(area.model.glob("ranks-*"))  # hand-over files removed
