import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from synthdata.errors import BadInputError
from synthdata.export.atomic import atomic_folder


def test_failure_leaves_no_partial_folder(tmp_path: Path) -> None:
    out = tmp_path / "release"
    with pytest.raises(RuntimeError), atomic_folder(out) as staging:
        (staging / "synthetic.csv").write_text("a\n1\n")
        raise RuntimeError("disk full")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_success_renames_and_existing_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "release"
    with atomic_folder(out) as staging:
        (staging / "f.txt").write_text("x")
    assert (out / "f.txt").read_text() == "x"
    with pytest.raises(BadInputError, match="already exists"), atomic_folder(out):
        pass


_KILLED_WHILE_EXPORTING = """
import sys, time
from pathlib import Path
from synthdata.export.atomic import atomic_folder
with atomic_folder(Path(sys.argv[1])) as staging:
    (staging / "synthetic.csv").write_text("a\\n1\\n")
    print("WRITING", flush=True)
    time.sleep(60)
"""


def test_a_process_killed_while_exporting_leaves_no_release_and_its_leftovers_go(tmp_path: Path) -> None:
    out = tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WHILE_EXPORTING, str(out)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[3])
    try:
        assert proc.stdout.readline().strip() == "WRITING"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()  # no partial release under the release's name
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".release.partial-") and (left / "synthetic.csv").is_file()

    with atomic_folder(out) as staging:  # the next export (a resumed run) cleans up after the dead process
        (staging / "f.txt").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


def test_a_live_exports_staging_folder_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "release"
    live = tmp_path / f".release.partial-{os.getpid()}-abc"
    live.mkdir()
    with atomic_folder(out) as staging:
        (staging / "f.txt").write_text("x")
    assert live.is_dir()
