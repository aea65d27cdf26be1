"""Progress, written once (``synthdata.progress``): the trainer and the samplers report to it; the event log gets a
line every tenth of the steps (or every minute), never every step and never a loss; the bar and the log are two
implementations of one protocol."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch

from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.diffusion.samplers import ddim_sample, ddpm_sample
from synthdata.privacy.training import TrainingPlan, train_non_private, train_private
from synthdata.progress import (
    LogLines,
    NoProgress,
    Progress,
    TerminalBar,
    Update,
    as_progress,
    combined,
    titled,
)

DIFFUSION = GaussianDiffusion(timesteps=50)
PLAN = TrainingPlan(epochs=2, batch_size=32, lr=1e-2, max_grad_norm=1.0, augmentation=1)


class Recorder:
    """A Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.started: list[dict] = []
        self.done: list[int] = []
        self.epsilons: list[float] = []
        self.finished = 0

    def start(self, *, task: str, total: int, done: int = 0, elapsed: float = 0.0,
              epsilon_target: float | None = None) -> None:
        self.started.append({"task": task, "total": total, "done": done, "epsilon_target": epsilon_target})

    def advance(self, *, done: int, epsilon=None) -> None:
        self.done.append(done)
        if epsilon is not None and done % 5 == 0:
            self.epsilons.append(epsilon())

    def finish(self) -> None:
        self.finished += 1


def units(n: int = 120) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (0.3 * torch.randn(n, 1, 2, generator=g)).clamp(-1, 1), torch.ones(n, 1, dtype=torch.bool)


def model() -> MLPDenoiser:
    torch.manual_seed(0)
    return MLPDenoiser(data_dim=2, hidden=16, depth=1, time_dim=8)


def test_every_implementation_keeps_the_protocol_and_no_update_has_a_loss() -> None:
    for progress in (NoProgress(), TerminalBar(), LogLines(say=print), combined(TerminalBar(), LogLines(say=print))):
        assert isinstance(progress, Progress)
    assert not any("loss" in field.name for field in dataclasses.fields(Update))


def test_log_lines_say_a_line_every_tenth_and_ask_the_accountant_only_then() -> None:
    said: list[str] = []
    asked = []
    log = LogLines(say=said.append)
    log.start(task="DP training", total=100, epsilon_target=3.0)
    for step in range(1, 101):
        log.advance(done=step, epsilon=lambda: asked.append(1) or 0.03 * len(asked))
    assert [u.step for u in log.updates] == list(range(10, 101, 10))
    assert said[0] == "DP training: 100 steps to run (epsilon target 3)"
    assert len(said) - 1 == len(asked) == 10  # the accountant is asked for the progress lines only
    assert said[5].startswith("DP training: step 50 of 100 (50%), epsilon spent so far 0.15 of 3, ")
    assert "s left" in said[5] and "s left" not in said[-1]
    assert all("loss" not in line for line in said)


def test_log_lines_also_speak_when_a_minute_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("synthdata.progress.time", SimpleNamespace(monotonic=lambda: now[0], perf_counter=lambda: now[0]))
    log = LogLines(say=lambda line: None, every_seconds=60.0)
    log.start(task="sampling", total=1000, done=0)
    for step in range(1, 31):  # 30 slow steps of 45 s: 3 % of the loop, a line every other step
        now[0] += 45.0
        log.advance(done=step)
    assert [u.step for u in log.updates] == list(range(2, 31, 2))
    last = log.updates[-1]
    assert last.elapsed == pytest.approx(30 * 45.0) and last.seconds_left == pytest.approx(970 * 45.0)
    assert last.epsilon is None and "epsilon" not in last.line()


def test_a_resumed_loop_counts_its_earlier_time_and_its_own_pace() -> None:
    said: list[str] = []
    log = LogLines(say=said.append)
    log.start(task="DP training", total=20, done=10, elapsed=100.0)
    assert said == ["DP training: resuming at step 10 of 20"]
    log.advance(done=12)
    (update,) = log.updates
    assert update.step == 12 and update.elapsed >= 100.0 and update.seconds_left is not None
    assert update.seconds_left < 100.0  # this attempt's pace (2 fast steps), not the earlier seconds


def test_combined_asks_for_epsilon_once_per_step() -> None:
    asked = []
    first, second = Recorder(), LogLines(say=lambda line: None, reports=1)
    both = combined(first, None, second)
    both.start(task="DP training", total=5)
    for step in range(1, 6):
        both.advance(done=step, epsilon=lambda: asked.append(1) or 1.0)
    assert len(asked) == 1  # step 5: the recorder and the log line share one answer
    assert isinstance(combined(), NoProgress) and combined(first) is first


def test_titled_names_every_loop_it_forwards() -> None:
    said: list[str] = []
    log = titled(LogLines(say=said.append, reports=1), task="canary audit: DP training (throwaway model)")
    log.start(task="DP training", total=3, epsilon_target=1.0)
    for step in (1, 2, 3):
        log.advance(done=step, epsilon=lambda: 0.5)
    log.finish()
    assert said[0] == "canary audit: DP training (throwaway model): 3 steps to run (epsilon target 1)"
    assert len(said) == 2 and said[1].startswith("canary audit: DP training (throwaway model): step 3 of 3")
    assert isinstance(titled(False, task="x"), NoProgress)


def test_as_progress() -> None:
    assert isinstance(as_progress(True), TerminalBar) and isinstance(as_progress(False), NoProgress)
    recorder = Recorder()
    assert as_progress(recorder) is recorder
    with pytest.raises(TypeError):
        as_progress("yes")


def test_the_trainers_report_every_step_with_epsilon_within_the_target() -> None:
    data, mask = units()
    recorder = Recorder()
    out = train_private(model=model(), diffusion=DIFFUSION, units=data, mask=mask, plan=PLAN, epsilon=2.0,
                        delta=1e-3, accountant="rdp", progress=recorder)
    assert recorder.started == [{"task": "DP training", "total": out.steps, "done": 0, "epsilon_target": 2.0}]
    assert recorder.done == list(range(1, out.steps + 1)) and recorder.finished == 1
    assert recorder.epsilons == sorted(recorder.epsilons) and 0 < recorder.epsilons[-1] <= 2.0 * (1 + 1e-6)

    public = Recorder()
    baseline = train_non_private(model=model(), diffusion=DIFFUSION, units=data, mask=mask, plan=PLAN, seed=1,
                                 progress=public)
    assert public.done[-1] == baseline.steps and public.epsilons == [] and public.started[0]["epsilon_target"] is None


@pytest.mark.parametrize("sampler", [ddim_sample, ddpm_sample])
def test_the_samplers_report_every_denoising_step_of_every_batch(sampler) -> None:
    recorder = Recorder()
    kwargs = {"steps": 7} if sampler is ddim_sample else {}
    out = sampler(model=model(), diffusion=DIFFUSION, shape=(50, 2), generator=torch.Generator().manual_seed(0),
                  batch_size=20, progress=recorder, **kwargs)
    total = math.ceil(50 / 20) * (7 if sampler is ddim_sample else DIFFUSION.timesteps)
    assert out.shape == (50, 2)
    assert recorder.started[0]["task"] == "sampling" and recorder.started[0]["total"] == total
    assert recorder.done == list(range(1, total + 1)) and recorder.finished == 1
