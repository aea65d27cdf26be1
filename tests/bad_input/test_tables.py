"""Malformed tables and table schemas: each refused with exit 2 before any budget is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from bad_input.corpus import TABLE_CASES, Case
from bad_input.refusal import assert_refused


@pytest.mark.parametrize("case", TABLE_CASES, ids=lambda case: case.id)
def test_bad_table_is_refused(case: Case, corpus_home: Path, tmp_path: Path, capsys) -> None:
    assert_refused(case, root=tmp_path, home=corpus_home, capsys=capsys)
