"""Malformed ECG (WFDB), EEG (EDF) and image (NPZ, PNG, DICOM) inputs: refused with exit 2 before any budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from bad_input.corpus import IMAGE_CASES, SIGNAL_CASES, Case
from bad_input.refusal import assert_refused


@pytest.mark.parametrize("case", [*SIGNAL_CASES, *IMAGE_CASES], ids=lambda case: case.id)
def test_bad_signal_or_image_is_refused(case: Case, corpus_home: Path, tmp_path: Path, capsys) -> None:
    assert_refused(case, root=tmp_path, home=corpus_home, capsys=capsys)
