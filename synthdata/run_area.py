"""One run's private work area under ``$SYNTHDATA_HOME/runs/<run_id>``: its folders and JSON records.

Privacy caveat: the work area holds private data (training and holdout splits, the model, synthetic data
before the gates, internal reports); it stays on storage approved for the source data until purged.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthdata import home
from synthdata.errors import BadInputError


@dataclass(frozen=True)
class RunArea:
    """Paths inside one run's private work area.  Folders are made when first asked for, so a run refused on
    bad input (before it wrote anything) leaves no work area behind."""

    root: Path

    def _dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def prepared(self) -> Path:
        return self._dir("prepared")

    @property
    def model(self) -> Path:
        return self._dir("model")

    @property
    def synthetic(self) -> Path:
        return self._dir("synthetic")

    @property
    def report(self) -> Path:
        return self.synthetic / "report.html"

    @property
    def report_inputs(self) -> Path:
        return self.synthetic / "report_inputs.json"

    @property
    def approval(self) -> Path:
        return self.synthetic / "approval.json"

    @property
    def spec(self) -> Path:
        return self.root / "spec.yaml"

    @contextmanager
    def working(self, *, wait: float = 2.0) -> Iterator[None]:
        """Hold the work area while a step runs in it: a second process (``synthdata resume`` of a run that is
        still going, a second re-execution) is refused instead of training on the same checkpoint.  The hold
        is an OS file lock on ``.working``: a process that is killed (even with SIGKILL) lets go of it.  A work
        area that does not exist yet (a new run's first step) is not made here: a refused input leaves none.
        ``wait``: seconds to keep trying, so that a momentary look (:meth:`is_working`, from ``synthdata runs`` or
        the sign-off sensor) never refuses a step that starts at that instant."""
        if not self.root.is_dir():
            yield
            return
        handle = os.open(self.root / ".working", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise BadInputError(f"run {self.root.name} is running in another process: wait for it to "
                                            "finish, or stop it before resuming") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(handle)  # closing the descriptor releases the lock

    def is_working(self) -> bool:
        """Whether some process holds this work area now (see :meth:`working`)."""
        try:
            with self.working(wait=0.0):
                return False
        except BadInputError:
            return True


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BadInputError(f"{path} is missing: run the earlier stages of this release first")
    return json.loads(path.read_text(encoding="utf-8"))




def existing_run_area(run_id: str) -> RunArea:
    """The work area of an earlier run (it recorded its spec); BadInputError if never made or purged."""
    path = home.run_path(run_id)
    if not (path / "spec.yaml").is_file():
        raise BadInputError(f"no work area for run {run_id} under {home.runs_dir()} (never made, or purged)")
    return RunArea(path)
