from pathlib import Path

import pytest

from synthdata.errors import BadInputError
from synthdata.export.atomic import atomic_folder


def test_failure_leaves_no_partial_folder(tmp_path: Path) -> None:
    out = tmp_path / "release"
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as staging:
            (staging / "synthetic.csv").write_text("a\n1\n")
            raise RuntimeError("disk full")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_success_renames_and_existing_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "release"
    with atomic_folder(out) as staging:
        (staging / "f.txt").write_text("x")
    assert (out / "f.txt").read_text() == "x"
    with pytest.raises(BadInputError, match="already exists"):
        with atomic_folder(out):
            pass
