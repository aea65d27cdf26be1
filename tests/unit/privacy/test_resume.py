"""Checkpoints and resume: a DP training run killed with SIGKILL resumes to the epsilon of an uninterrupted
run, refuses checkpoints of other runs, and the train stage charges the ledger exactly once."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import tiny_spec_dict
from opacus.accountants import RDPAccountant

from synthdata import home
from synthdata.flow import stages
from synthdata.release_spec import parse_spec
from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.errors import BadInputError
from synthdata.privacy import training
from synthdata.privacy.checkpoint import peek_checkpoint
from synthdata.privacy.ledger import Ledger
from synthdata.privacy.training import TrainingPlan, train_private
from synthdata.run_area import RunArea

DIFFUSION = GaussianDiffusion(timesteps=50)
PLAN = TrainingPlan(epochs=4, batch_size=32, lr=1e-2, max_grad_norm=1.0, augmentation=1)  # 7 x 4 = 28 steps
BUDGET = {"epsilon": 3.0, "delta": 1e-4, "accountant": "rdp"}  # RDP: calibration takes milliseconds
SEED = 7
ROOT = Path(__file__).resolve().parents[3]


def mixture(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    units = (0.5 * torch.randn(n, 1, 2, generator=g)).clamp(-1, 1)
    return units, torch.ones(n, 1, dtype=torch.bool)


def fresh_model() -> MLPDenoiser:
    torch.manual_seed(0)
    return MLPDenoiser(data_dim=2, hidden=16, depth=1, time_dim=8)


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


# The killed process: this module's own setup, checkpoints every 3 steps, and a pause after each save so
# the parent sees a checkpoint long before training could finish.
_TRAIN_AND_DIE = """
import importlib.util, sys, time
import torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[3])  # tests/, for helpers
spec = importlib.util.spec_from_file_location("resume_case", sys.argv[1])
case = importlib.util.module_from_spec(spec)
spec.loader.exec_module(case)
import synthdata.privacy.training as training
save = training.save_checkpoint
def slow_save(path, checkpoint):
    save(path, checkpoint)
    time.sleep(0.4)
training.save_checkpoint = slow_save
units, mask = case.mixture()
training.train_private(model=case.fresh_model(), diffusion=case.DIFFUSION, units=units, mask=mask, plan=case.PLAN,
                       reproducible_seed=case.SEED, progress=False, checkpoint=__import__("pathlib").Path(sys.argv[2]),
                       checkpoint_every=3, **case.BUDGET)
print("FINISHED")
"""

# The killed train stage: a checkpoint after every step, each followed by a pause.
_STAGE_AND_DIE = """
import json, sys, time
import torch
torch.set_num_threads(1)
import synthdata.privacy.training as training
from synthdata import home
from synthdata.flow import stages
from synthdata.release_spec import parse_spec
from synthdata.privacy.ledger import Ledger
from synthdata.run_area import RunArea
save = training.save_checkpoint
def slow_save(path, checkpoint):
    save(path, checkpoint)
    time.sleep(0.4)
training.save_checkpoint = slow_save
training.CHECKPOINT_SECONDS = 0.0
spec = parse_spec(json.loads(sys.argv[1]))
stages.train(spec=spec, area=RunArea(home.run_dir(sys.argv[2])), ledger=Ledger(path=__import__("pathlib").Path(sys.argv[3])),
             run_id=sys.argv[2], progress=False)
print("FINISHED")
"""


def _kill_once_checkpointed(args: list[str], checkpoint: Path, env: dict[str, str] | None = None) -> None:
    """Start ``python -c args...``, wait for its first checkpoint, SIGKILL it mid-training."""
    proc = subprocess.Popen([sys.executable, "-c", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not checkpoint.is_file():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"training process ended before its first checkpoint: {out[-500:]} {err[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint within 60 s")
            time.sleep(0.02)
        time.sleep(0.1)  # let it train on past the checkpoint: those steps are lost and redone
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL and "FINISHED" not in out


@pytest.fixture()
def one_thread():
    """Same thread count as the killed process, so the resumed run can be compared bit for bit."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sigkilled_run_resumes_to_the_uninterrupted_epsilon(tmp_path: Path, one_thread) -> None:
    units, mask = mixture()
    checkpoint = tmp_path / "model" / "checkpoint.pt"
    _kill_once_checkpointed([_TRAIN_AND_DIE, __file__, str(checkpoint), str(ROOT / "tests")], checkpoint)
    done, total = peek_checkpoint(checkpoint)
    assert 0 < done < total == 28
    stored = torch.load(checkpoint, weights_only=True)["generators"]
    assert sorted(stored) == ["diffusion", "noise", "sampling"], "a replayable run stores its streams"

    resumed_model = fresh_model()
    resumed = train_private(model=resumed_model, diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN,
                            reproducible_seed=SEED, progress=False, checkpoint=checkpoint, checkpoint_every=3,
                            **BUDGET)
    assert not checkpoint.exists() and not list(checkpoint.parent.iterdir()), "checkpoint kept after success"

    whole_model = fresh_model()
    whole = train_private(model=whole_model, diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN,
                          reproducible_seed=SEED, progress=False, **BUDGET)
    assert resumed.steps == whole.steps == total
    assert resumed.epsilon == whole.epsilon
    assert resumed.noise_multiplier == whole.noise_multiplier and resumed.sample_rate == whole.sample_rate
    accountant = RDPAccountant()  # epsilon from the plan alone, independently of both runs
    accountant.history = [(whole.noise_multiplier, whole.sample_rate, total)]
    assert accountant.get_epsilon(delta=BUDGET["delta"]) == pytest.approx(resumed.epsilon, rel=1e-12)
    # Same generators restored at the same step: the resumed run IS the uninterrupted one (replayable seed
    # here only so that this can be checked; DP-valid runs resume the same way from OS-entropy states).
    assert torch.equal(flat(resumed_model), flat(whole_model))
    assert resumed.final_loss == pytest.approx(whole.final_loss)
    assert resumed.seconds > 0


class _Stop(Exception):
    pass


def _stop_at_first_checkpoint(monkeypatch: pytest.MonkeyPatch, run) -> None:
    """Call ``run`` (a training with a checkpoint) and stop it in-process right after its first save."""
    save = training.save_checkpoint

    def save_and_stop(path, state):
        save(path, state)
        raise _Stop

    monkeypatch.setattr(training, "save_checkpoint", save_and_stop)
    with pytest.raises(_Stop):
        run()
    monkeypatch.setattr(training, "save_checkpoint", save)


def _interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs) -> Path:
    """A run stopped in-process right after its first checkpoint (step 2)."""
    checkpoint = tmp_path / "checkpoint.pt"
    units, mask = mixture()
    _stop_at_first_checkpoint(monkeypatch, lambda: train_private(
        model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, progress=False,
        checkpoint=checkpoint, checkpoint_every=2, **{**BUDGET, **kwargs}))
    assert peek_checkpoint(checkpoint) == (2, 28)
    if "reproducible_seed" not in kwargs:
        # A DP-valid run records no generator state: that would be a recorded seed (privacy rule 2).
        assert torch.load(checkpoint, weights_only=True)["generators"] == {}
    return checkpoint


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"plan": TrainingPlan(epochs=4, batch_size=32, lr=2e-2, max_grad_norm=1.0, augmentation=1)}, "plan"),
        ({"plan": TrainingPlan(epochs=4, batch_size=32, lr=1e-2, max_grad_norm=1.0, augmentation=1, ema=0.1)},
         "plan"),
        ({"units": mixture(n=201)[0], "mask": mixture(n=201)[1]}, "data_fingerprint"),
        ({"units": mixture()[0] + 0.01}, "data_fingerprint"),
        ({"epsilon": 2.5}, "epsilon"),
        ({"reproducible_seed": SEED}, "noise_source"),
        ({"diffusion": GaussianDiffusion(timesteps=50, scale=4.0)}, "diffusion"),
    ],
)
def test_checkpoint_of_another_run_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict, differs: str
) -> None:
    checkpoint = _interrupted(tmp_path, monkeypatch)
    units, mask = mixture()
    kwargs = dict(model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, progress=False,
                  checkpoint=checkpoint, **BUDGET)
    with pytest.raises(BadInputError, match=f"another training run .*{differs}"):
        train_private(**{**kwargs, **change})
    assert checkpoint.is_file(), "a refused checkpoint must stay (its partial run has spent budget)"


def test_a_run_with_a_weight_average_resumes_to_the_uninterrupted_average(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread
) -> None:
    """The checkpoint carries the moving average (``plan.ema``) with its step count: the resumed run ends with
    the same averaged weights, bit for bit, as a run never interrupted; one without it is refused."""
    units, mask = mixture()
    plan = TrainingPlan(epochs=4, batch_size=32, lr=1e-2, max_grad_norm=1.0, augmentation=1, ema=0.2)
    kwargs = dict(diffusion=DIFFUSION, units=units, mask=mask, plan=plan, reproducible_seed=SEED, progress=False,
                  **BUDGET)
    checkpoint = tmp_path / "checkpoint.pt"
    _stop_at_first_checkpoint(monkeypatch, lambda: train_private(model=fresh_model(), checkpoint=checkpoint,
                                                                 checkpoint_every=5, **kwargs))
    stored = torch.load(checkpoint, weights_only=True)
    assert stored["steps"] == stored["ema"]["steps"] == 5 and stored["identity"]["plan"]["ema"] == 0.2
    assert not torch.equal(stored["ema"]["shadow"]["input.weight"], stored["model"]["input.weight"])

    resumed_model, whole_model, last_model = fresh_model(), fresh_model(), fresh_model()
    resumed = train_private(model=resumed_model, checkpoint=checkpoint, checkpoint_every=5, **kwargs)
    whole = train_private(model=whole_model, **kwargs)
    train_private(model=last_model, **{**kwargs, "plan": dataclasses.replace(plan, ema=None)})
    assert resumed.steps == whole.steps == 28 and resumed.epsilon == whole.epsilon
    assert torch.equal(flat(resumed_model), flat(whole_model))
    assert not torch.allclose(flat(whole_model), flat(last_model), atol=1e-4), "the average is not the last iterate"

    _stop_at_first_checkpoint(monkeypatch, lambda: train_private(model=fresh_model(), checkpoint=checkpoint,
                                                                 checkpoint_every=5, **kwargs))
    lost = torch.load(checkpoint, weights_only=True)
    del lost["ema"]
    torch.save(lost, checkpoint)
    with pytest.raises(BadInputError, match="no moving average"):
        train_private(model=fresh_model(), checkpoint=checkpoint, **kwargs)


def test_unreadable_or_foreign_checkpoint_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = _interrupted(tmp_path, monkeypatch)
    units, mask = mixture()
    other = MLPDenoiser(data_dim=2, hidden=8, depth=1, time_dim=8)
    with pytest.raises(BadInputError, match="another model architecture"):
        train_private(model=other, diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, progress=False,
                      checkpoint=checkpoint, **BUDGET)
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # truncated
    with pytest.raises(BadInputError, match="cannot be read"):
        train_private(model=fresh_model(), diffusion=DIFFUSION, units=units, mask=mask, plan=PLAN, progress=False,
                      checkpoint=checkpoint, **BUDGET)


def test_killed_train_stage_resumes_and_charges_the_ledger_once(
    synthdata_home: Path, tiny_table, tmp_path: Path, caplog: pytest.LogCaptureFixture, one_thread
) -> None:
    data, schema = tiny_table
    raw = tiny_spec_dict(data, schema, tmp_path / "release")  # declared schema: no preprocessing charge
    spec = parse_spec(raw)
    ledger_path = synthdata_home / "ledger.sqlite"
    ledger = Ledger(path=ledger_path)
    area = RunArea(home.run_dir("killed"))
    stages.prepare(spec=spec, area=area, ledger=ledger, run_id="killed")
    checkpoint = area.model / "checkpoint.pt"
    env = {**os.environ, "SYNTHDATA_HOME": str(synthdata_home)}
    _kill_once_checkpointed([_STAGE_AND_DIE, json.dumps(raw), "killed", str(ledger_path)], checkpoint, env)
    (fingerprint,) = [state.fingerprint for state in ledger.datasets()]
    assert [c["status"] for c in ledger.history(fingerprint=fingerprint)] == ["reserved"]
    done, total = peek_checkpoint(checkpoint)
    assert 0 < done < total
    assert torch.load(checkpoint, weights_only=True)["generators"] == {}, "DP-valid: fresh entropy on resume"

    with caplog.at_level(logging.INFO, logger="synthdata"):
        trained = stages.train(spec=spec, area=area, ledger=ledger, run_id="killed", progress=False)
    assert f"resuming from step {done} of {total}" in caplog.text
    assert not checkpoint.exists() and (area.model / "denoiser.pt").is_file()
    assert trained["steps"] == total and trained["dp_valid"]
    (charge,) = ledger.history(fingerprint=fingerprint)
    assert (charge["run_id"], charge["status"]) == ("killed", "spent")
    on_disk = json.loads((area.model / "training.json").read_text())
    assert charge["epsilon"] == pytest.approx(on_disk["epsilon"], rel=1e-12) == trained["epsilon"]
    assert on_disk["epsilon"] <= spec.privacy.epsilon * (1 + 1e-6)
    marginals, mechanism = charge["mechanisms"]  # the DP column distributions prepare measured, then training
    assert marginals["stage"] == "marginals" and marginals["steps"] == 1 and marginals["sample_rate"] == 1.0
    assert mechanism["stage"] == "training" and mechanism["steps"] == total


def test_a_unet_run_interrupted_after_a_checkpoint_resumes_to_the_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread
) -> None:
    """The U-Net trains with per-sample-gradient hooks, not ghost clipping: its optimizer state, accountant
    history and random streams must resume just as the MLP's do."""
    from synthdata.diffusion.denoisers.unet import UNetDenoiser

    def unet() -> UNetDenoiser:
        torch.manual_seed(0)
        return UNetDenoiser(channels=1, shape=(16,), base=4)

    g = torch.Generator().manual_seed(1)
    units, mask = (0.3 * torch.randn(40, 2, 16, generator=g)).clamp(-1, 1), torch.ones(40, 2, dtype=torch.bool)
    plan = TrainingPlan(epochs=2, batch_size=10, lr=1e-2, max_grad_norm=0.5, augmentation=1)  # 4 x 2 = 8 steps
    kwargs = dict(diffusion=GaussianDiffusion(timesteps=50, prediction="x0"), units=units, mask=mask, plan=plan,
                  reproducible_seed=SEED, progress=False, **BUDGET)
    checkpoint = tmp_path / "checkpoint.pt"
    _stop_at_first_checkpoint(monkeypatch, lambda: train_private(model=unet(), checkpoint=checkpoint,
                                                                 checkpoint_every=3, **kwargs))
    assert peek_checkpoint(checkpoint) == (3, 8)

    resumed_model, whole_model = unet(), unet()
    resumed = train_private(model=resumed_model, checkpoint=checkpoint, checkpoint_every=3, **kwargs)
    whole = train_private(model=whole_model, **kwargs)
    assert resumed.grad_sample_mode == whole.grad_sample_mode == "hooks"
    assert resumed.steps == whole.steps == 8 and resumed.epsilon == whole.epsilon
    assert torch.equal(flat(resumed_model), flat(whole_model))
    assert not checkpoint.exists()
