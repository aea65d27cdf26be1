"""Progress of the long loops (DP training, sampling): one protocol, shown in two places.

The trainer (``synthdata.privacy.training``) and the samplers (``synthdata.diffusion.samplers``) call a
:class:`Progress`: ``start`` once, ``advance`` after every step, ``finish`` at the end.  Two implementations show
it: :class:`TerminalBar` (a tqdm bar on stderr: the CLI) and :class:`LogLines` (a few lines to a callable, e.g.
Dagster's ``context.log.info``: the run's event log, shown in the UI).  :func:`combined` joins several;
:func:`as_progress` turns the ``progress: bool`` flags of the public APIs into one.

Privacy: an update carries the step, the number of steps, wall-clock time and, for DP training, the epsilon
the accountant says was spent so far (a function of the public plan: noise multiplier, sample rate, steps
taken).  It has no field for a loss, by design: the training loss is a function of the private batches, and
neither the bar nor the event log may show it.  Nothing here reads data.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO, runtime_checkable

from tqdm import tqdm


@dataclass(frozen=True)
class Update:
    """Where a loop stands: ``step`` of ``total``; ``elapsed`` seconds (a resumed training counts the seconds of
    its earlier attempts); ``seconds_left`` extrapolated from this attempt's pace (None before its first step);
    ``epsilon`` spent so far by the accountant and the ``epsilon_target`` it may reach (None without DP)."""

    task: str
    step: int
    total: int
    elapsed: float
    seconds_left: float | None
    epsilon: float | None = None
    epsilon_target: float | None = None

    def line(self) -> str:
        """One line for a log: ``DP training: step 8 of 16 (50%), epsilon spent so far 1.21 of 2, 3.1 s elapsed,
        about 3 s left``."""
        percent = 100 * self.step / self.total if self.total else 100.0
        parts = [f"{self.task}: step {self.step} of {self.total} ({percent:.0f}%)"]
        if self.epsilon is not None:
            target = f" of {self.epsilon_target:.4g}" if self.epsilon_target is not None else ""
            parts.append(f"epsilon spent so far {self.epsilon:.4g}{target}")
        parts.append(f"{self.elapsed:.1f} s elapsed")
        if self.step < self.total and self.seconds_left is not None:
            parts.append(f"about {self.seconds_left:.{0 if self.seconds_left >= 10 else 1}f} s left")
        return ", ".join(parts)


@runtime_checkable
class Progress(Protocol):
    """What a long loop tells about itself.  ``epsilon`` is passed as a function because the accountant can take a
    noticeable time to answer: an implementation calls it only when it shows a figure."""

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        """A loop of ``total`` steps begins (at ``done``, with ``elapsed`` seconds behind it, when resumed)."""

    def advance(self, *, done: int, epsilon: Callable[[], float] | None = None) -> None:
        """``done`` steps are done (called after every step)."""

    def finish(self) -> None:
        """The loop ended (normally or not)."""


class _Clock:
    """What :class:`LogLines` keeps of a loop: task, total, time, and the pace of this attempt."""

    def __init__(self) -> None:
        self.task, self.total, self.first, self.earlier, self.began = "", 0, 0, 0.0, time.perf_counter()
        self.epsilon_target: float | None = None

    def reset(self, *, task: str, total: int, done: int, elapsed: float, epsilon_target: float | None) -> None:
        self.task, self.total, self.first, self.earlier = task, int(total), int(done), float(elapsed)
        self.epsilon_target, self.began = epsilon_target, time.perf_counter()

    def update(self, *, done: int, epsilon: float | None) -> Update:
        took = time.perf_counter() - self.began
        here = done - self.first
        left = took / here * (self.total - done) if here > 0 else None
        return Update(task=self.task, step=done, total=self.total, elapsed=self.earlier + took, seconds_left=left,
                      epsilon=epsilon, epsilon_target=self.epsilon_target if epsilon is not None else None)


class NoProgress:
    """Shows nothing."""

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        pass

    def advance(self, *, done: int, epsilon: Callable[[], float] | None = None) -> None:
        pass

    def finish(self) -> None:
        pass


class TerminalBar:
    """A tqdm bar on stderr (the CLI): moves every step, shows epsilon spent so far at most once a second and at
    most ~10 % of the loop's time (the accountant can be slow), and never a loss."""

    def __init__(self, *, file: TextIO | None = None) -> None:
        self._file = file
        self._bar: tqdm | None = None
        self._next_epsilon = -math.inf

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        self.finish()
        self._bar = tqdm(total=total, initial=done, desc=task, unit="step", file=self._file or sys.stderr)
        self._next_epsilon = -math.inf

    def advance(self, *, done: int, epsilon: Callable[[], float] | None = None) -> None:
        if self._bar is None:
            return
        if epsilon is not None and (time.monotonic() >= self._next_epsilon or done >= self._bar.total):
            asked = time.monotonic()
            self._bar.set_postfix({"eps": f"{epsilon():.3f}"}, refresh=False)
            self._next_epsilon = time.monotonic() + max(1.0, 10 * (time.monotonic() - asked))
        self._bar.update(done - self._bar.n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


#: ``LogLines`` reports this many times over a loop (every 10 % of its steps) ...
REPORTS = 10
#: ... and also when this many seconds passed since its last line (a slow loop still shows it is alive).
EVERY_SECONDS = 60.0


class LogLines:
    """A line to ``say`` (e.g. Dagster's ``context.log.info``) when a loop starts (its steps, the epsilon target),
    then every ``1/reports`` of the steps, when ``every_seconds`` passed since the last line, and at the last step;
    never every step.  Each progress line is :meth:`Update.line`: step, epsilon spent so far (asked of the
    accountant only for a line), time."""

    def __init__(self, *, say: Callable[[str], None], reports: int = REPORTS, every_seconds: float = EVERY_SECONDS) -> None:
        if reports < 1 or not every_seconds > 0:
            raise ValueError(f"reports must be >= 1 and every_seconds > 0, got {reports!r} and {every_seconds!r}")
        self._say, self._reports, self._every = say, int(reports), float(every_seconds)
        self._clock = _Clock()
        self._next_step, self._last_said = 0, time.monotonic()
        self.updates: list[Update] = []  # what was said, for the caller's summary

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        self._clock.reset(task=task, total=total, done=done, elapsed=elapsed, epsilon_target=epsilon_target)
        self._next_step = self._after(done)
        target = f" (epsilon target {epsilon_target:.4g})" if epsilon_target is not None else ""
        self._say(f"{task}: resuming at step {done} of {total}{target}" if done else f"{task}: {total} steps to run{target}")
        self._last_said = time.monotonic()

    def _after(self, done: int) -> int:
        """The first step of the next tenth (of ``reports``) after ``done``."""
        total = max(self._clock.total, 1)
        tenth = math.floor(done * self._reports / total) + 1
        return min(total, math.ceil(tenth * total / self._reports))

    def advance(self, *, done: int, epsilon: Callable[[], float] | None = None) -> None:
        if done < self._next_step and time.monotonic() - self._last_said < self._every:
            return
        update = self._clock.update(done=done, epsilon=None if epsilon is None else float(epsilon()))
        self.updates.append(update)
        self._say(update.line())
        self._next_step, self._last_said = self._after(done), time.monotonic()

    def finish(self) -> None:
        pass


def _once(function: Callable[[], float]) -> Callable[[], float]:
    asked: list[float] = []

    def once() -> float:
        if not asked:
            asked.append(function())
        return asked[0]

    return once


class _Combined:
    def __init__(self, parts: Sequence[Progress]) -> None:
        self._parts = tuple(parts)

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        for part in self._parts:
            part.start(task=task, total=total, done=done, elapsed=elapsed, epsilon_target=epsilon_target)

    def advance(self, *, done: int, epsilon: Callable[[], float] | None = None) -> None:
        shared = None if epsilon is None else _once(epsilon)  # asked at most once per step, whoever shows it
        for part in self._parts:
            part.advance(done=done, epsilon=shared)

    def finish(self) -> None:
        for part in self._parts:
            part.finish()


class _Titled:
    def __init__(self, inner: Progress, task: str) -> None:
        self._inner, self._task = inner, task

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        self._inner.start(task=self._task, total=total, done=done, elapsed=elapsed, epsilon_target=epsilon_target)

    def advance(self, *, done: int, epsilon: Callable[[], float] | None = None) -> None:
        self._inner.advance(done=done, epsilon=epsilon)

    def finish(self) -> None:
        self._inner.finish()


def titled(progress: bool | Progress | None, *, task: str) -> Progress:
    """``progress`` (see :func:`as_progress`) with every loop it hears of called ``task`` (e.g. the canary audit's
    throwaway training, told apart from the release's own)."""
    inner = as_progress(progress)
    return inner if isinstance(inner, NoProgress) else _Titled(inner, task)


def combined(*parts: Progress | None) -> Progress:
    """One :class:`Progress` that tells each of ``parts`` (None entries are skipped)."""
    kept = [part for part in parts if part is not None]
    if not kept:
        return NoProgress()
    return kept[0] if len(kept) == 1 else _Combined(kept)


def as_progress(progress: bool | Progress | None) -> Progress:
    """``True``: a :class:`TerminalBar`; ``False``/None: :class:`NoProgress`; a :class:`Progress`: itself."""
    if progress is None or progress is False:
        return NoProgress()
    if progress is True:
        return TerminalBar()
    if not isinstance(progress, Progress):
        raise TypeError(f"progress must be a bool or a synthdata.progress.Progress, got {type(progress).__name__}")
    return progress
