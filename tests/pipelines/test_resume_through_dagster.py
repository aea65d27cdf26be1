"""A CLI release killed with SIGKILL mid-training, then ``synthdata resume``: the resumed run goes through
Dagster (a re-execution of the killed run, which the UI shows), finishes with the epsilon of an uninterrupted
run, and the ledger holds one charge.  A run whose process is still alive is not resumed beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from helpers import tiny_spec_dict

from synthdata.cli import main
from synthdata.privacy.checkpoint import peek_checkpoint
from synthdata.privacy.ledger import Ledger
from synthdata.run_area import RunArea

ROOT = Path(__file__).resolve().parents[2]

# `synthdata release` as a user runs it, with a checkpoint after every DP-SGD step and a pause after each, so
# the test can kill it between two steps.
_SLOW_RELEASE = """
import sys, time
import synthdata.privacy.training as training
save = training.save_checkpoint
def slow_save(path, checkpoint):
    save(path, checkpoint)
    time.sleep(0.3)
training.save_checkpoint = slow_save
training.CHECKPOINT_SECONDS = 0.0
from synthdata.cli import main
sys.exit(main(["release", "--config", sys.argv[1], "--quiet"]))
"""


def _start_release(spec_file: Path, home: Path) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    env.update(SYNTHDATA_HOME=str(home), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", _SLOW_RELEASE, str(spec_file)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_checkpoint(proc: subprocess.Popen, home: Path) -> Path:
    deadline = time.monotonic() + 180
    while True:
        found = list((home / "runs").glob("*/model/checkpoint.pt")) if (home / "runs").is_dir() else []
        if found:
            return found[0]
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the release ended before its first checkpoint: {out[-500:]} {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint within 180 s")
        time.sleep(0.05)


def test_killed_cli_release_resumes_through_dagster_with_one_charge(
        synthdata_home: Path, tiny_table, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["model"]["epochs"] = 3  # 9 DP-SGD steps on the tiny table
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(raw))

    proc = _start_release(spec_file, synthdata_home)
    try:
        checkpoint = _first_checkpoint(proc, synthdata_home)
        run_id = checkpoint.parents[1].name
        # While it runs, a resume is refused (exit 2) and changes nothing: two processes never train one run.
        assert main(["resume", run_id, "--quiet"]) == 2
        assert "is running in another process" in capsys.readouterr().err
        assert main(["runs"]) == 0
        assert f"{run_id}  tiny  running" in capsys.readouterr().out
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert main(["runs"]) == 0
    assert f"{run_id}  tiny  not audited: no audit record and no process working in it" in capsys.readouterr().out
    done, total = peek_checkpoint(checkpoint)
    assert 0 < done < total
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    (state,) = ledger.datasets()
    assert [c["status"] for c in ledger.history(fingerprint=state.fingerprint)] == ["reserved"]

    assert main(["resume", run_id, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"released: {tmp_path / 'release'}" in out

    # One charge, for the run that was killed, of exactly the epsilon the finished model states.
    (charge,) = ledger.history(fingerprint=state.fingerprint)
    manifest = json.loads((tmp_path / "release" / "manifest.json").read_text())
    assert (charge["run_id"], charge["status"]) == (run_id, "spent")
    assert charge["epsilon"] == pytest.approx(manifest["epsilon"], rel=1e-12)
    training = json.loads((RunArea(synthdata_home / "runs" / run_id).model / "training.json").read_text())
    assert training["steps"] == total and training["dp_valid"]
    assert manifest["epsilon"] <= raw["privacy"]["epsilon"] * (1 + 1e-6)

    # Dagster's record: the killed run marked failed, a re-execution of it (child in the UI) that succeeded,
    # which re-ran training onwards and not the data preparation.
    with dg.DagsterInstance.from_config(str(synthdata_home / "dagster")) as instance:
        killed = instance.get_run_by_id(run_id)
        assert killed.status == dg.DagsterRunStatus.FAILURE
        (resumed,) = [r for r in instance.get_runs() if r.parent_run_id == run_id]
        assert resumed.status == dg.DagsterRunStatus.SUCCESS and resumed.root_run_id == run_id
        records = instance.get_records_for_run(resumed.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        materialized = {r.event_log_entry.dagster_event.asset_key.path[-1] for r in records.records}
        assert materialized == {"model", "synthetic", "export"}

    # Resuming a finished run changes nothing and says where it went.
    assert main(["resume", run_id, "--quiet"]) == 0
    assert f"released: {tmp_path / 'release'}" in capsys.readouterr().out
    assert len(ledger.history(fingerprint=state.fingerprint)) == 1
