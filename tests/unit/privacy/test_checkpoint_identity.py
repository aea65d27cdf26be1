"""A checkpoint resumes only the run it belongs to, whichever process recomputes that run's identity."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from synthdata.errors import BadInputError
from synthdata.privacy.checkpoint import Checkpoint, RunIdentity, load_checkpoint, save_checkpoint

IDENTITY = RunIdentity(plan={"epochs": 3, "batch_size": 64}, epsilon=2.9400531158227583, delta=1e-6,
                       accountant="prv", noise_multiplier=1.2345678901234567, sample_rate=0.5, total_steps=6,
                       n_units=128, data_fingerprint="ds-0123456789abcdef", noise_source="os", diffusion={})


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, Checkpoint(identity=IDENTITY, steps=2, model={"w": torch.zeros(2)}, optimizer={},
                                     history=[(1.23, 0.5, 2)], generators={}, loss_sum=0.0, loss_count=0,
                                     seconds=1.0))
    return path


def test_the_same_budget_recomputed_in_another_process_resumes(tmp_path: Path) -> None:
    # the CLI process and a resume computed this epsilon 1 ulp apart: the resume was refused
    recomputed = replace(IDENTITY, epsilon=2.9400531158227587)
    assert load_checkpoint(_saved(tmp_path), expected=recomputed).steps == 2


@pytest.mark.parametrize("field, value", [("epsilon", 2.9400531158227583 * (1 + 1e-6)),
                                          ("noise_multiplier", 1.2345678901234567 * (1 - 1e-6)),
                                          ("total_steps", 7)])
def test_another_budget_noise_or_plan_is_refused(tmp_path: Path, field: str, value: float) -> None:
    with pytest.raises(BadInputError, match=f"differs in: {field}"):
        load_checkpoint(_saved(tmp_path), expected=replace(IDENTITY, **{field: value}))
