"""Malformed relational databases: refused through the CLI with exit 2, naming table and column, before any
budget is touched (no work area, the ledger as it was, nothing exported)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bad_input.corpus import RELATIONAL_CASES, Case
from bad_input.refusal import assert_refused


@pytest.mark.parametrize("case", RELATIONAL_CASES, ids=lambda case: case.id)
def test_bad_database_is_refused(case: Case, corpus_home: Path, tmp_path: Path, capsys) -> None:
    assert_refused(case, root=tmp_path, home=corpus_home, capsys=capsys)
