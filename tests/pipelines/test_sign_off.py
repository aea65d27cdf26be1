"""Sign-off by someone who is allowed to, and the releases awaiting it in the UI and the terminal.

One tiny release that requires approval (the spec names one approver, the installation's list two) serves
the module: names off the list are refused by ``synthdata approve`` and by the approve job without changing
anything; the run-status sensor, evaluated as the daemon does on the real instance, tags the waiting run and
notes it on the export asset; ``synthdata runs --awaiting`` lists it; once a listed approver signs off, the
sign-off records the OS and deployment user, and neither view lists the run any more.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from helpers import DATA, TINY_COLUMNS, tiny_schema, tiny_spec_dict
from pipelines.registry import build_definitions
from pipelines.runner import run_approval, run_release
from pipelines.sensors import DETAIL_TAG, SIGN_OFF_TAG, releases_awaiting_sign_off
from synthdata import home
from synthdata.cli import main
from synthdata.privacy.ledger import default_ledger
from synthdata.release_spec import parse_spec

EXPORT = dg.AssetKey(["tiny", "export"])


@pytest.fixture(scope="module")
def waiting(tmp_path_factory: pytest.TempPathFactory):
    """A tiny release awaiting sign-off on a real instance; the sensor's first tick came before it."""
    tmp = tmp_path_factory.mktemp("sign_off")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SYNTHDATA_HOME", str(tmp / "home"))
        for name in ("SYNTHDATA_LEDGER_URL", "SYNTHDATA_DAGSTER_POSTGRES_URL", "SYNTHDATA_APPROVERS_FILE",
                     "SYNTHDATA_DEPLOYMENT_USER"):
            env.delenv(name, raising=False)
        env.setenv("DAGSTER_HOME", str(home.dagster_home()))
        (home.home() / "approvers.yaml").write_text("approvers: [Dr. Ada Lovelace, Dr. Grace Hopper]\n")
        data = tmp / "tiny.csv"
        pl.read_csv(DATA / "diabetes_demo.csv", infer_schema=False).select(TINY_COLUMNS).head(600).write_csv(data)
        schema = tmp / "tiny.schema.yaml"
        schema.write_text(yaml.safe_dump(tiny_schema(), sort_keys=False))
        raw = tiny_spec_dict(data, schema, tmp / "release")
        raw["audits"].update(require_approval=True, approvers=["Dr. Ada Lovelace"])
        spec = parse_spec(raw)
        with dg.DagsterInstance.get() as instance:  # the daemon's first tick: the cursor starts at the newest event
            first = releases_awaiting_sign_off.evaluate_tick(dg.build_sensor_context(instance=instance))
        outcome = run_release(spec)
        assert outcome.exit_code == 5, outcome.message
        yield spec, outcome, first.cursor, env


def _tick(cursor: str | None) -> str | None:
    """One evaluation of the sensor as the daemon runs it; returns the new cursor."""
    with dg.DagsterInstance.get() as instance:
        return releases_awaiting_sign_off.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor)).cursor


def _tags(run_id: str) -> dict[str, str]:
    with dg.DagsterInstance.get() as instance:
        return dict(instance.get_run_by_id(run_id).tags)


def _observations() -> list:
    with dg.DagsterInstance.get() as instance:
        return list(instance.fetch_observations(EXPORT, limit=10).records)


def _budget() -> list[str]:
    return [state.describe() for state in default_ledger(home_folder=home.home()).datasets()]


def test_a_name_not_on_the_list_is_refused_and_nothing_changes(waiting, capsys: pytest.CaptureFixture[str]) -> None:
    spec, outcome, _, _ = waiting
    area = outcome.work_area
    before = (_budget(), sorted(p.relative_to(area) for p in area.rglob("*")))
    with dg.DagsterInstance.get() as instance:
        runs_before = len(instance.get_runs())

    # synthdata approve: refused before any Dagster run is launched
    assert main(["approve", outcome.run_id, "--by", "Mallory"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line, no traceback, no class name
    assert err.startswith("error: 'Mallory' is not on the approvers list of release tiny")
    assert "the spec's audits.approvers" in err and str(home.home() / "approvers.yaml") in err
    assert "Error" not in err and "Traceback" not in err
    # on the installation's list but not on the spec's: the spec narrows the list
    assert main(["approve", outcome.run_id, "--by", "Dr. Grace Hopper"]) == 2
    assert "'Dr. Grace Hopper' is not on the approvers list" in capsys.readouterr().err
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == runs_before

    # the approve job (what the UI launches) refuses it as well
    refused = run_approval(outcome.run_id, by="Mallory")
    assert refused.exit_code == 2 and refused.message.startswith("'Mallory' is not on the approvers list"), refused

    assert not spec.output.out.exists()
    assert not (area / "synthetic" / "approval.json").exists()
    assert (_budget(), sorted(p.relative_to(area) for p in area.rglob("*"))) == before
    with dg.DagsterInstance.get() as instance:
        assert instance.get_latest_materialization_event(EXPORT) is None


def test_the_sensor_and_runs_awaiting_list_the_run_until_a_listed_approver_signs(
        waiting, capsys: pytest.CaptureFixture[str]) -> None:
    spec, outcome, cursor, env = waiting
    assert "releases_awaiting_sign_off" in {s.name for s in build_definitions([spec]).sensors}

    assert main(["runs", "--awaiting"]) == 0
    listed = capsys.readouterr().out
    assert f"{outcome.run_id}  release tiny" in listed
    assert f"synthdata approve {outcome.run_id} --by NAME" in listed
    assert "who may sign off: Dr. Ada Lovelace (" in listed and "Dr. Grace Hopper" not in listed

    cursor = _tick(cursor)  # the daemon's next tick sees the release run (in-process, no code location) succeed
    assert _tags(outcome.run_id)[SIGN_OFF_TAG] == "awaiting"
    assert _tags(outcome.run_id)[DETAIL_TAG] == f"synthdata approve {outcome.run_id} --by NAME"
    (observed,) = _observations()
    metadata = observed.asset_observation.metadata
    assert metadata["run_id"].value == outcome.run_id and metadata["status"].value == "awaiting sign-off"
    assert metadata["who may sign off"].value == "Dr. Ada Lovelace"

    env.setenv("SYNTHDATA_DEPLOYMENT_USER", "ward7-data-team")
    assert main(["approve", outcome.run_id, "--by", "  dr. ada   LOVELACE "]) == 0, capsys.readouterr().err
    approval = json.loads((spec.output.out / "manifest.json").read_text())["approval"]
    assert approval["by"] == "Dr. Ada Lovelace"  # the list's spelling
    assert approval["account"] == getpass.getuser() and approval["deployment_user"] == "ward7-data-team"
    assert approval["via"].startswith("Dagster run ") and approval["via"].endswith("(tiny_approve)")
    assert (f"Approved for release by Dr. Ada Lovelace (OS account {getpass.getuser()}; deployment user "
            "ward7-data-team)") in (spec.output.out / "report.html").read_text()

    _tick(cursor)  # sees the approve run succeed
    assert _tags(outcome.run_id)[SIGN_OFF_TAG] == "approved"
    assert _tags(outcome.run_id)[DETAIL_TAG].startswith("approved by Dr. Ada Lovelace at ")
    # the exported run's own success, seen again, is not marked as waiting
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(outcome.run_id)
        (success,) = instance.get_records_for_run(outcome.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS).records
        releases_awaiting_sign_off(dg.build_run_status_sensor_context(
            sensor_name="releases_awaiting_sign_off", dagster_instance=instance, dagster_run=run,
            dagster_event=success.event_log_entry.dagster_event))
    assert _tags(outcome.run_id)[SIGN_OFF_TAG] == "approved"
    assert len(_observations()) == 1
    assert main(["runs", "--awaiting"]) == 0
    assert "no release awaits sign-off" in capsys.readouterr().out
    assert main(["runs"]) == 0
    assert f"{outcome.run_id}  tiny  released: approved by Dr. Ada Lovelace" in capsys.readouterr().out


def test_a_sign_off_nobody_may_give_is_refused_before_the_release_starts(
        synthdata_home: Path, tiny_table, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")
    raw["audits"]["require_approval"] = True
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert main(["release", "--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "audits.require_approval is true but no approver is configured" in err
    assert str(synthdata_home / "approvers.yaml") in err

    raw["audits"]["approvers"] = ["Dr. Ada Lovelace"]  # the installation's list does not name her
    config.write_text(yaml.safe_dump(raw))
    (synthdata_home / "approvers.yaml").write_text("approvers: [Dr. Grace Hopper]\n")
    assert main(["release", "--config", str(config), "--quiet"]) == 2
    assert "audits.approvers names nobody on the installation's approvers list" in capsys.readouterr().err

    raw["audits"]["require_approval"] = False  # approvers for a release nobody is asked to sign
    config.write_text(yaml.safe_dump(raw))
    assert main(["release", "--config", str(config), "--quiet"]) == 2
    assert "audits.require_approval is false" in capsys.readouterr().err
    assert not (synthdata_home / "runs").exists() or not list((synthdata_home / "runs").iterdir())
    assert not (synthdata_home / "ledger.sqlite").exists() and not (tmp_path / "release").exists()
