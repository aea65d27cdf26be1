"""Malformed release specs and command lines: refused with exit 2 before a run starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bad_input.corpus import SPEC_CASES, Case
from bad_input.refusal import assert_refused


@pytest.mark.parametrize("case", SPEC_CASES, ids=lambda case: case.id)
def test_bad_spec_is_refused(case: Case, corpus_home: Path, tmp_path: Path, capsys) -> None:
    assert_refused(case, root=tmp_path, home=corpus_home, capsys=capsys)
