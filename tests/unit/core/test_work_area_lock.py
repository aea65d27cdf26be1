"""The work area's lock: a second holder is refused, a momentary look (``synthdata runs``, the sign-off
sensor) never refuses a step that starts at that instant, and a work area that does not exist is not made."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from synthdata.errors import BadInputError
from synthdata.run_area import RunArea


def test_a_second_holder_is_refused_and_a_brief_look_only_delays_a_step(tmp_path: Path) -> None:
    area = RunArea(tmp_path / "run")
    area.root.mkdir()
    with area.working():
        assert area.is_working()
        with pytest.raises(BadInputError, match="running in another process"), area.working(wait=0.0):
            pass
    assert not area.is_working()

    looked = threading.Event()

    def look() -> None:  # holds the lock for 0.3 s, as a status probe would for a moment
        with area.working(wait=0.0):
            looked.set()
            time.sleep(0.3)

    probe = threading.Thread(target=look)
    probe.start()
    looked.wait(5)
    with area.working():  # the step waits for the look to end instead of failing
        assert not probe.is_alive()
    probe.join()


def test_a_missing_work_area_is_not_made(tmp_path: Path) -> None:
    area = RunArea(tmp_path / "never")
    with area.working():
        pass
    assert not area.root.exists() and not area.is_working()
