"""The UI tells the story: a tiny release through the real Dagster job (in-process, on synthdata's instance)
leaves training and sampling progress in its event log (monotone steps, epsilon spent so far never above the
target) and the training's steps, final epsilon and seconds as the model's materialization metadata; no loss
value reaches the event log.  And ``model.device``: cuda where there is no GPU is refused before anything is
charged (exit 2)."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import dagster as dg
import pytest
import torch
import yaml

from helpers import tiny_spec_dict as tiny_spec
from pipelines.runner import run_release
from synthdata.cli import main
from synthdata.release_spec import parse_spec

LINE = re.compile(r"^(?P<task>[\w -]+): step (?P<step>\d+) of (?P<total>\d+) \(\d+%\)"
                  r"(, epsilon spent so far (?P<eps>[\d.e+-]+) of (?P<target>[\d.e+-]+))?, [\d.]+ s elapsed")


def _records(home: Path, run_id: str) -> list:
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    with dg.DagsterInstance.get() as instance:
        return list(instance.all_logs(run_id))


def _lines(messages: list[str], task: str) -> list[re.Match]:
    return [m for m in (LINE.match(message) for message in messages) if m and m["task"] == task]


def test_progress_reaches_the_event_log_and_metadata_without_a_loss(synthdata_home: Path, tiny_table,
                                                                    tmp_path: Path) -> None:
    data, schema = tiny_table
    spec = parse_spec(tiny_spec(data, schema, tmp_path / "release"))
    outcome = run_release(spec)
    assert outcome.exit_code == 0, outcome.message
    records = _records(synthdata_home, outcome.run_id)
    messages = [record.user_message for record in records]

    training = _lines(messages, "DP training")
    steps = [int(m["step"]) for m in training]
    total = int(training[-1]["total"])
    assert steps == sorted(set(steps)) and steps[-1] == total  # monotone, ends at the last step
    assert len(training) <= 11 < total or total <= 11  # every tenth of the steps, not every step
    eps = [float(m["eps"]) for m in training]
    target = float(training[-1]["target"])
    assert eps == sorted(eps) and 0 < eps[-1] <= target * (1 + 1e-6) and target <= spec.privacy.epsilon
    assert "s left" in training[0].string  # the first progress line already says how long
    started = messages.index(f"DP training: {total} steps to run (epsilon target {target:.4g})")
    assert started < messages.index(training[0].string)  # the UI hears of the start before the first tenth

    sampling = _lines(messages, "sampling")
    assert sampling and [int(m["step"]) for m in sampling] == sorted({int(m["step"]) for m in sampling})
    assert sampling[-1]["step"] == sampling[-1]["total"] and sampling[-1]["eps"] is None  # no budget in sampling

    # The model's materialization: steps, final epsilon (the accountant's), training seconds, the device.
    materialized = {tuple(r.dagster_event.asset_key.path): r.dagster_event.materialization.metadata
                    for r in records if r.dagster_event and r.dagster_event.event_type_value == "ASSET_MATERIALIZATION"}
    model = materialized[(spec.name, "model")]
    assert model["steps"].value == total
    assert model["epsilon_training"].value == pytest.approx(eps[-1], rel=1e-3)
    assert model["training_seconds"].value > 0 and model["device"].value == "cpu"
    assert materialized[(spec.name, "synthetic")]["sampling_seconds"].value > 0

    # No loss, by name or by value, anywhere in the run's event log (messages and metadata alike).
    final_loss = json.loads((outcome.work_area / "model" / "training.json").read_text())["final_loss"]
    assert math.isfinite(final_loss)
    logged = "\n".join(dg.serialize_value(record) for record in records)
    assert "loss" not in logged.lower()
    for shown in {repr(final_loss), f"{final_loss:.4f}", f"{final_loss:.5g}", f"{final_loss:.6g}"}:
        assert shown not in logged


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: cuda would not be refused")
def test_cuda_without_a_gpu_is_refused_before_any_budget(synthdata_home: Path, tiny_table, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data, schema = tiny_table
    spec_dict = tiny_spec(data, schema, tmp_path / "release")
    spec_dict["model"]["device"] = "cuda"
    path = tmp_path / "cuda.yaml"
    path.write_text(yaml.safe_dump(spec_dict))
    assert main(["release", "--config", str(path), "--quiet"]) == 2  # the CLI checks the spec before a run
    assert "model.device is cuda" in capsys.readouterr().err
    outcome = run_release(parse_spec(spec_dict))  # the Dagster job itself refuses it too, before prepare reserves
    assert outcome.exit_code == 2 and "model.device" in outcome.message
    assert not (tmp_path / "release").exists()
    ledger = synthdata_home / "ledger.sqlite"
    if ledger.exists():
        from synthdata.privacy.ledger import Ledger

        assert Ledger(path=ledger).datasets() == []  # nothing reserved, nothing charged
