"""Malformed tables and table schemas: each refused with exit 2 before any budget is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bad_input.corpus import TABLE_CASES, Case
from bad_input.refusal import INTERNAL, assert_refused


@pytest.mark.parametrize("case", TABLE_CASES, ids=lambda case: case.id)
def test_bad_table_is_refused(case: Case, corpus_home: Path, tmp_path: Path, capsys) -> None:
    assert_refused(case, root=tmp_path, home=corpus_home, capsys=capsys)


def test_the_installed_command_refuses_in_its_own_process(corpus_home: Path, tmp_path: Path) -> None:
    """The same contract from the ``synthdata`` executable (a refusal inside the Dagster run): exit 2, the
    message on stderr, no traceback."""
    case = next(case for case in TABLE_CASES if case.id == "csv-latin1")
    invocation = case.build(tmp_path)
    command = Path(sys.executable).with_name("synthdata")
    done = subprocess.run([str(command), *invocation.argv], capture_output=True, text=True, timeout=300,
                          env=os.environ.copy())
    assert done.returncode == 2, done.stderr
    assert "is not UTF-8 text: row 7" in done.stderr and invocation.names[0] in done.stderr
    assert not INTERNAL.search(done.stderr + done.stdout), done.stderr
    assert not invocation.out.exists() and not (corpus_home / "ledger.sqlite").exists()
