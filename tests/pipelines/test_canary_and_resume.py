"""The canary audit inside a release and on its own, and resuming a run that stopped: every training is
charged to the ledger exactly once, and the report cites the ledger."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from helpers import tiny_spec_dict

from synthdata import home
from synthdata.flow import publish, stages
from synthdata.api import release
from synthdata.cli import main
from synthdata.release_spec import parse_spec
from synthdata.errors import GateFailedError
from synthdata.privacy.ledger import Ledger
from synthdata.run_area import RunArea


def test_release_with_canary_audit_gates_on_it_and_charges_both_trainings(
        synthdata_home: Path, tiny_table, tmp_path: Path) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["audits"]["canaries"] = 200
    done = release(spec=parse_spec(raw), progress=False)
    audit = {r["name"]: r for r in json.loads((done.out / "audit.json").read_text())["audits"]}
    canary = audit["privacy.canary_audit"]
    assert canary["passed"] is True and canary["threshold"] == 1.0
    assert canary["details"]["canaries"] == 200 and 0 <= canary["value"] <= 1.0
    manifest = json.loads((done.out / "manifest.json").read_text())
    # both trainings are calibrated for the same DP-SGD target; what one spends is within the calibration's
    # tolerance (min(0.01, 0.5% of epsilon)) below it
    assert canary["details"]["claimed_training_epsilon"] == pytest.approx(manifest["epsilon_training"], abs=0.011)

    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    (state,) = ledger.datasets()
    charges = ledger.history(fingerprint=state.fingerprint)
    assert [c["status"] for c in charges] == ["spent", "spent"] and state.reserved == 0
    assert charges[1]["run_id"] == f"{done.run_id}:canary-audit"
    assert charges[1]["mechanisms"][0]["steps"] > 0  # the throwaway training's mechanism is on record
    assert state.spent == pytest.approx(manifest["epsilon"] + charges[1]["epsilon"])
    # its figures are published, so the release as a whole is stated with both trainings composed
    assert manifest["epsilon_with_canary_audit"] == pytest.approx(manifest["epsilon"] + charges[1]["epsilon"])

    report = (done.out / "report.html").read_text()
    assert "Budget ledger" in report and state.dataset_id in report and state.fingerprint[:12] not in report
    assert "reserved by runs still open" not in report  # the canary charge was settled before the report
    assert "planted records" in report
    assert "the release as a whole, synthetic data and canary figures together" in report

    # export checks the canary result itself: without it, a spec that asked for one is refused
    area = RunArea(home.run_dir(done.run_id))
    (area.model / "canary_audit.json").unlink()
    publish.audit(spec=parse_spec(raw), area=area)
    with pytest.raises(GateFailedError, match="privacy.canary_audit"):
        publish.verified_results(area=area, spec=parse_spec(raw))


def test_dp_audit_command_charges_the_spec_and_exports_nothing(
        synthdata_home: Path, tiny_table, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(raw))
    assert main(["dp-audit", "--config", str(spec_file), "--canaries", "150", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "empirical lower bound" in out and "PASS" in out
    assert not (tmp_path / "release").exists()
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    (state,) = ledger.datasets()
    (charge,) = ledger.history(fingerprint=state.fingerprint)
    assert charge["status"] == "spent" and charge["epsilon"] <= raw["privacy"]["epsilon"] + 1e-9
    assert charge["run_id"].startswith("dpaudit-") and state.reserved == 0


def test_resume_finishes_a_run_that_stopped_after_prepare(
        synthdata_home: Path, tiny_table, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, schema = tiny_table
    spec = parse_spec(tiny_spec_dict(data, schema, tmp_path / "release"))
    run_id = f"crashed-{uuid.uuid4().hex[:8]}"
    ledger = Ledger(path=synthdata_home / "ledger.sqlite")
    stages.prepare(spec=spec, area=RunArea(home.run_dir(run_id)), ledger=ledger, run_id=run_id)
    (state,) = ledger.datasets()
    assert state.reserved == pytest.approx(spec.privacy.epsilon)  # the "crashed" run holds its reservation

    assert main(["resume", run_id, "--quiet"]) == 0
    assert "released:" in capsys.readouterr().out
    (charge,) = ledger.history(fingerprint=state.fingerprint)
    manifest = json.loads((tmp_path / "release" / "manifest.json").read_text())
    assert charge["run_id"] == run_id and charge["status"] == "spent"
    assert charge["epsilon"] == pytest.approx(manifest["epsilon"])
    assert main(["resume", "no-such-run"]) == 2
