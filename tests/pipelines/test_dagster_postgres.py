"""Dagster's own storage (runs, event log, schedules) on PostgreSQL as well as the SQLite default.

The release test runs the `synthdata release` command in a subprocess, as a steward would, with
$SYNTHDATA_DAGSTER_POSTGRES_URL and $SYNTHDATA_LEDGER_URL pointing at one database of a real throwaway
PostgreSQL server (``postgres_server`` in conftest.py; skipped, saying why, when the server binaries are not
installed), then reads the run, its audit checks and the ledger's charge back from that database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from helpers import PostgresServer
from helpers import tiny_spec_dict as tiny_spec

from pipelines.factory import build_release_graph
from synthdata import home
from synthdata.errors import BadInputError
from synthdata.privacy.ledger import Ledger
from synthdata.release_spec import parse_spec


def test_release_keeps_dagster_and_the_ledger_in_postgres(postgres_server: PostgresServer, synthdata_home: Path,
                                                         tiny_table, tmp_path: Path) -> None:
    database = postgres_server.create_database("synthdata_release")
    dagster_url = postgres_server.url(database, driver="psycopg2")  # dagster-postgres' driver
    ledger_url = postgres_server.url(database)  # psycopg 3: the same database
    data, schema = tiny_table
    out = tmp_path / "release"
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(tiny_spec(data, schema, out)))
    env = {**os.environ, "SYNTHDATA_HOME": str(synthdata_home), "SYNTHDATA_DAGSTER_POSTGRES_URL": dagster_url,
           "SYNTHDATA_LEDGER_URL": ledger_url}
    env.pop("DAGSTER_HOME", None)
    cli = subprocess.run([sys.executable, "-m", "synthdata.cli", "release", "--config", str(spec_file), "--quiet"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert f"released: {out}" in cli.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    audit = {a["name"]: a for a in json.loads((out / "audit.json").read_text())["audits"]}

    # synthdata's instance folder names the variable, not the URL; nothing went to SQLite there
    instance_folder = synthdata_home / "dagster"
    assert "env: SYNTHDATA_DAGSTER_POSTGRES_URL" in (instance_folder / "dagster.yaml").read_text()
    assert not [p for p in instance_folder.rglob("*") if p.suffix in (".db", ".sqlite")]
    assert not (synthdata_home / "ledger.sqlite").exists()

    # an instance that knows only the database sees the run and every audit check's evaluation
    reader = tmp_path / "reader"
    reader.mkdir()
    (reader / "dagster.yaml").write_text(yaml.safe_dump({"storage": {"postgres": {"postgres_url": dagster_url}}}))
    check_names = [s.name for s in build_release_graph(parse_spec(tiny_spec(data, schema, out))).checks[0].check_specs]
    with dg.DagsterInstance.from_config(str(reader)) as instance:
        (run,) = instance.get_runs(filters=dg.RunsFilter(job_name="tiny_release"))
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_latest_materialization_event(dg.AssetKey(["tiny", "export"])).run_id == run.run_id
        for name in check_names:
            key = dg.AssetCheckKey(dg.AssetKey(["tiny", "synthetic"]), name)
            (record,) = instance.event_log_storage.get_asset_check_execution_history(key, limit=5)
            assert record.run_id == run.run_id
            assert record.status.value == "SUCCEEDED", name
            evaluation = record.event.dagster_event.event_specific_data
            assert evaluation.passed is True
        key = dg.AssetCheckKey(dg.AssetKey(["tiny", "synthetic"]), "fidelity__quality")
        (record,) = instance.event_log_storage.get_asset_check_execution_history(key, limit=5)
        metadata = record.event.dagster_event.event_specific_data.metadata
        assert metadata["value"].value == pytest.approx(audit["fidelity.quality"]["value"])

    # the ledger's charge for that run, from the same database
    ledger = Ledger(url=ledger_url)
    (state,) = ledger.datasets()
    assert state.dataset_id == manifest["dataset_id"]
    (charge,) = ledger.history(fingerprint=state.fingerprint)
    assert (charge["run_id"], charge["status"]) == (run.run_id, "spent")
    assert state.spent == pytest.approx(charge["epsilon"]) and 0 < state.spent <= 4.0 + 1e-9
    with psycopg.connect(host=str(postgres_server.socket_dir), port=postgres_server.port,
                         user=postgres_server.user, dbname=database) as connection:
        (status,) = connection.execute("SELECT status FROM runs WHERE run_id = %s", (run.run_id,)).fetchone()
        (spent,) = connection.execute("SELECT status FROM charges WHERE run_id = %s", (run.run_id,)).fetchone()
    assert (status, spent) == ("SUCCESS", "spent")  # Dagster's tables and the ledger's, side by side


def test_dagster_yaml_follows_the_variable_and_leaves_edited_files_alone(synthdata_home: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNTHDATA_DAGSTER_POSTGRES_URL", raising=False)
    yaml_file = home.dagster_home() / "dagster.yaml"
    sqlite = yaml.safe_load(yaml_file.read_text())
    assert "storage" not in sqlite and sqlite["telemetry"] == {"enabled": False}
    assert "python_logs" not in sqlite  # progress reaches the event log through context.log, on any instance

    monkeypatch.setenv("SYNTHDATA_DAGSTER_POSTGRES_URL", "postgresql+psycopg2://dagster:s3cret@db.internal:5432/dagster")
    home.dagster_home()
    text = yaml_file.read_text()
    assert yaml.safe_load(text)["storage"] == {"postgres": {"postgres_url": {"env": "SYNTHDATA_DAGSTER_POSTGRES_URL"}}}
    assert "s3cret" not in text and "db.internal" not in text  # Dagster reads the variable; nothing on disk

    monkeypatch.delenv("SYNTHDATA_DAGSTER_POSTGRES_URL")
    home.dagster_home()
    assert "storage" not in yaml.safe_load(yaml_file.read_text())  # back to SQLite

    edited = "telemetry:\n  enabled: true\n"  # someone's own file: never rewritten
    yaml_file.write_text(edited)
    monkeypatch.setenv("SYNTHDATA_DAGSTER_POSTGRES_URL", "postgresql+psycopg2://dagster@db.internal/dagster")
    home.dagster_home()
    assert yaml_file.read_text() == edited


def test_the_file_older_synthdata_wrote_is_brought_up_to_date(synthdata_home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = synthdata_home / "dagster"
    folder.mkdir(parents=True)
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\npython_logs:\n  managed_python_loggers:\n"
                                         "    - synthdata.progress\n  python_log_level: INFO\n")
    monkeypatch.setenv("SYNTHDATA_DAGSTER_POSTGRES_URL", "postgresql+psycopg2://dagster@db.internal/dagster")
    home.dagster_home()
    assert "postgres" in yaml.safe_load((folder / "dagster.yaml").read_text())["storage"]


@pytest.mark.parametrize("url", ["mysql://dagster:s3cret@db/dagster", "dagster:s3cret@db/dagster",
                                 "postgresql://dagster:s3cret@db/dagster",  # SQLAlchemy 2.1 would use psycopg 3
                                 "postgresql+psycopg://dagster:s3cret@db/dagster"])
def test_a_url_that_is_not_postgres_is_refused_without_quoting_it(url: str, synthdata_home: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHDATA_DAGSTER_POSTGRES_URL", url)
    with pytest.raises(BadInputError, match="SYNTHDATA_DAGSTER_POSTGRES_URL must be a URL of the form postgresql[+]psycopg2://") as refused:
        home.dagster_home()
    assert url not in refused.value.message and "s3cret" not in refused.value.message
