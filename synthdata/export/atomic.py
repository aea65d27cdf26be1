"""Write a release folder all at once: build it in a hidden temporary folder beside the target, then rename.

A rename within one filesystem is atomic, so a run that fails part-way leaves no partial export: either the
whole folder appears or nothing does.  A process killed while exporting (SIGKILL, power loss) cannot delete
its hidden folder (``.<name>.partial-<pid>-...``); the next export to the same place deletes it once that
process is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synthdata.errors import BadInputError


def check_output_free(out: Path) -> None:
    """Refuse an output folder that already exists (never overwrite a release)."""
    out = Path(out)
    if out.exists():
        raise BadInputError(f"output folder {out} already exists; choose a new --out (releases are never overwritten)")
    if out.parent.exists() and not os.access(out.parent, os.W_OK):
        raise BadInputError(f"cannot write into {out.parent}")


@contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes ``out``, on any error it is deleted."""
    out = Path(out)
    check_output_free(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
    try:
        yield staging
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _remove_abandoned(out: Path) -> None:
    """Delete hidden staging folders of ``out`` left by export processes that no longer run (on this machine)."""
    for staging in out.parent.glob(f".{out.name}.partial-*"):
        pid = staging.name[len(f".{out.name}.partial-"):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
