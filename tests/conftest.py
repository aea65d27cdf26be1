"""Shared fixtures: a small real table cut from the shipped diabetes_130us demo slice, a fresh home, and a
throwaway PostgreSQL server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml

from helpers import DATA, TINY_COLUMNS, PostgresServer, postgres_binaries, postgres_cluster, tiny_schema

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one torch thread each, or their OpenMP threads contend
    # (a test that takes 60 s alone took 300 s beside another torch-heavy worker).
    torch.set_num_threads(1)


@pytest.fixture()
def synthdata_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SYNTHDATA_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("SYNTHDATA_LEDGER_URL", raising=False)
    monkeypatch.delenv("SYNTHDATA_DAGSTER_POSTGRES_URL", raising=False)  # a developer's own PostgreSQL storage
    for name in ("SYNTHDATA_APPROVERS_FILE", "SYNTHDATA_DEPLOYMENT_USER"):  # a developer's own sign-off settings
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture()
def tiny_table(tmp_path: Path) -> tuple[Path, Path]:
    """600 real rows x 13 columns of diabetes_130us and a schema declaring them (public domains)."""
    frame = pl.read_csv(DATA / "diabetes_demo.csv", infer_schema=False).select(TINY_COLUMNS).head(600)
    data = tmp_path / "input" / "tiny.csv"
    data.parent.mkdir()
    frame.write_csv(data)
    schema = tmp_path / "input" / "tiny.schema.yaml"
    schema.write_text(yaml.safe_dump(tiny_schema(), sort_keys=False))
    return data, schema


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this test session (Unix socket only); tests make their own databases on it
    (``create_database``).  Skipped, saying why, when the server binaries are not installed."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed on this machine")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root, and runuser (needed to start PostgreSQL as another user) is not installed")
    with postgres_cluster(*binaries) as server:
        yield server
