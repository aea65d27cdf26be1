"""Human sign-off: a spec that requires approval exports only after `synthdata approve RUN --by NAME`."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from helpers import tiny_spec_dict
from pipelines.runner import run_release
from synthdata.cli import main
from synthdata.release_spec import parse_spec


@pytest.fixture()
def awaiting(synthdata_home: Path, tiny_table, tmp_path: Path):
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["audits"]["require_approval"] = True
    raw["audits"]["approvers"] = ["Dr. Ada Lovelace", "Someone Else"]
    raw["audits"]["internal_report"] = True
    spec = parse_spec(raw)
    return spec, run_release(spec)


def test_release_waits_for_sign_off_then_exports_with_who_and_when(awaiting, synthdata_home: Path, capsys) -> None:
    spec, outcome = awaiting
    out = spec.output.out
    assert outcome.exit_code == 5, outcome.message
    assert f"synthdata approve {outcome.run_id} --by" in outcome.message
    assert not out.exists()
    waiting = outcome.report.read_text()
    assert "Awaiting sign-off" in waiting
    with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME was set by the run
        assert instance.get_latest_materialization_event(dg.AssetKey(["tiny", "export"])) is None

    code = main(["approve", outcome.run_id, "--by", "Dr. Ada Lovelace"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["approval"]["by"] == "Dr. Ada Lovelace"
    assert manifest["approval"]["at"] and manifest["approval"]["run_id"] == outcome.run_id
    assert "Dr. Ada Lovelace" in (out / "report.html").read_text()
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["tiny", "export"]))
        assert event is not None

    # The internal report (closest real records) stays in the private work area, marked on every page.
    from pypdf import PdfReader

    internal = outcome.work_area / "synthetic" / "report_internal.pdf"
    assert all("INTERNAL" in page.extract_text() for page in PdfReader(internal).pages)
    assert "Closest synthetic/real pairs" in internal.with_suffix(".html").read_text()
    assert not list(out.glob("report_internal*"))
    assert "Closest synthetic/real pairs" not in (out / "report.html").read_text()

    # A second sign-off is refused: the release exists and names its approver.
    assert main(["approve", outcome.run_id, "--by", "Someone Else"]) == 2
    assert "already approved by Dr. Ada Lovelace" in capsys.readouterr().err


def test_a_blocked_run_cannot_be_approved(synthdata_home: Path, tiny_table, tmp_path: Path, capsys) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["audits"]["require_approval"] = True
    raw["audits"]["approvers"] = ["Dr. Ada Lovelace"]
    raw["audits"]["gates"]["fidelity.quality"] = 0.999
    spec = parse_spec(raw)
    outcome = run_release(spec)
    assert outcome.exit_code == 3
    code = main(["approve", outcome.run_id, "--by", "Dr. Ada Lovelace"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "gates failed" in err
    assert not spec.output.out.exists()
    assert not (outcome.work_area / "synthetic" / "approval.json").exists()


def test_approve_names_an_unknown_run(synthdata_home: Path, capsys) -> None:
    assert main(["approve", "no-such-run", "--by", "Dr. Ada Lovelace"]) == 2
    assert "no work area for run no-such-run" in capsys.readouterr().err
