"""Fixtures of the bad-input corpus: a fresh synthdata home per case, on a memory file system when there is one,
and one Dagster instance folder shared by the module's cases.

A CLI release runs its Dagster job in-process on ``$DAGSTER_HOME`` when it is set (``pipelines.runner``).  Each
run writes some thirty events to the instance's SQLite event log; on this project's disks each commit waits for
the disk (a refused release took 4 s on a fresh instance under load, 0.8 s on /dev/shm).  The instance holds
only Dagster's run history; each case's ledger and work areas stay in its own home.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_MEMORY = Path("/dev/shm")


def _scratch(prefix: str) -> Path:
    base = _MEMORY if _MEMORY.is_dir() and os.access(_MEMORY, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@pytest.fixture(scope="module")
def dagster_folder() -> Iterator[Path]:
    """A Dagster instance folder (telemetry off) for the module's releases, deleted afterwards."""
    folder = _scratch("synthdata-bad-input-dagster-")
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def corpus_home(synthdata_home: Path, dagster_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ``$SYNTHDATA_HOME`` (the root fixture clears a developer's ledger, sign-off and Dagster settings)
    on the memory file system, with ``$DAGSTER_HOME`` the module's shared instance folder."""
    home = _scratch("synthdata-bad-input-home-")
    monkeypatch.setenv("SYNTHDATA_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_folder))
    yield home
    shutil.rmtree(home, ignore_errors=True)
