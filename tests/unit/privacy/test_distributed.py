"""DP-SGD across 2 CPU processes (gloo): what the accountant cannot see.

One spawn of 2 processes runs (``tests/distributed_training.py``), for the one-pass bookkeeping path (``nn.Linear`` only) and the Opacus hooks
path (a ``LayerNorm`` forces it), through ``train_private(world=...)``:

(a) the noise is added once per step: with a model whose gradients are all zero, the averaged gradient the
    optimizer applies is the noise alone; its sample std over 40 steps x 272 or 304 entries must be within 5 % of
    the single-process plan's ``sigma * C / B`` (``B`` the expected batch over both ranks).  Noise on every
    rank gives sqrt(2) times it, a per-rank denominator half or twice it;
(b) every row of a privacy unit is on one rank: the rows' features encode (unit, row), and every batch a
    rank trains on (``denoising_objective``'s input) holds whole units, each unit on one rank only;
(c) a unit's clipped gradient is counted once: with sample rate 1 and noise multiplier 1e-6, and a model whose per-unit
    gradient does not depend on the diffusion draws, the distributed averaged gradient equals the
    single-process one for the same (whole) batch.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
from distributed_training import (
    CLIP_PLAN,
    DIM,
    MODES,
    N_UNITS,
    NOISE_PLAN,
    STEPS,
    BiasOnly,
    ZeroGradient,
    dataset,
    run_recorded,
    worker,
)

from synthdata.privacy import distributed
from synthdata.privacy.distributed import World, local_units
from synthdata.privacy.randomness import dp_randomness


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], float]:
    out = tmp_path_factory.mktemp("distributed")
    start = time.perf_counter()
    distributed.spawn(worker, processes=2, args=(str(out),), backend="gloo", threads=1, timeout=120)
    seconds = time.perf_counter() - start
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)], seconds


def test_local_units_partition_whole_units() -> None:
    parts = [local_units(n_units=11, world=World(rank=r, size=3)) for r in range(3)]
    assert sorted(torch.cat(parts).tolist()) == list(range(11))
    with pytest.raises(ValueError, match="at least one"):
        local_units(n_units=2, world=World(rank=0, size=3))


def test_replayable_streams_differ_per_rank() -> None:
    zero, one = dp_randomness(reproducible_seed=1), dp_randomness(reproducible_seed=1, rank=1)
    assert torch.equal(torch.rand(4, generator=zero.sampling),
                       torch.rand(4, generator=dp_randomness(reproducible_seed=1).sampling))
    assert not torch.equal(torch.rand(4, generator=zero.sampling), torch.rand(4, generator=one.sampling))


def test_world_needs_a_process_group() -> None:
    with pytest.raises(RuntimeError, match="process group"):
        World.current()


def test_refusals_on_every_rank(two_ranks) -> None:
    ranks, _ = two_ranks
    for result in ranks:
        assert "checkpoints are not supported" in result["refusals"][0]
        assert "other data or settings" in result["refusals"][1]


@pytest.mark.parametrize("mode", MODES)
def test_noise_is_added_once_per_step(two_ranks, mode: str) -> None:
    ranks, seconds = two_ranks
    run = ranks[0][("noise", mode)]
    out = run["outcome"]
    assert run["mode"] == mode and out.steps == STEPS and out.sample_rate == 0.25
    expected_batch = int(N_UNITS * out.sample_rate)  # the single-process plan's B, over both ranks
    planned = out.noise_multiplier * NOISE_PLAN.max_grad_norm / expected_batch
    grads = run["grads"]
    assert grads.shape == (STEPS, DIM * DIM + DIM + (2 * DIM if mode == "hooks" else 0))
    measured = float(grads.std())
    print(f"{mode}: noise std {measured:.6g} vs sigma*C/B {planned:.6g} (ratio {measured / planned:.4f}); "
          f"spawn and both runs {seconds:.1f} s")
    assert abs(measured / planned - 1) < 0.05, (measured, planned)
    assert abs(float(grads.mean())) < 5 * planned / math.sqrt(grads.numel())
    # Every rank started from rank 0's weights (each drew its own), applied the same averaged gradient
    # and counted every step.
    assert torch.equal(run["weights"], ranks[1][("noise", mode)]["weights"])
    torch.manual_seed(0)
    assert torch.equal(run["weights"], torch.cat([p.flatten() for p in ZeroGradient(mode == "hooks").parameters()]))
    assert torch.equal(grads, ranks[1][("noise", mode)]["grads"])
    assert ranks[1][("noise", mode)]["outcome"].epsilon == out.epsilon


@pytest.mark.parametrize("mode", MODES)
def test_all_rows_of_a_unit_sit_on_one_rank(two_ranks, mode: str) -> None:
    ranks, _ = two_ranks
    units, mask = dataset()
    owner: dict[int, int] = {}
    sizes = []
    for step in range(STEPS):
        size = 0
        for rank, result in enumerate(ranks):
            ids, batch_mask = result[("noise", mode)]["batches"][step]
            for unit, rows in zip(ids, batch_mask):
                number = round(float(unit[0, 0]) * 100)
                assert owner.setdefault(number, rank) == rank, f"unit {number} trained on both ranks"
                assert torch.equal(rows, mask[number]), f"unit {number} lost rows on rank {rank}"
                assert torch.equal(unit[rows], units[number, mask[number], :2]), f"unit {number}'s rows differ"
            size += len(ids)
        sizes.append(size)
    assert len(owner) > N_UNITS / 2  # (all 40 are drawn in 40 steps unless p = 4e-4)
    for number, rank in owner.items():  # the partition is the trainer's: whole units, by position
        assert number in local_units(n_units=N_UNITS, world=World(rank=rank, size=2)).tolist()
    assert 7 < sum(sizes) / len(sizes) < 13  # Poisson batches of expected size q * N = 10 over both ranks


@pytest.mark.parametrize("mode", MODES)
def test_a_units_clipped_gradient_is_counted_once(two_ranks, mode: str) -> None:
    ranks, _ = two_ranks
    torch.manual_seed(0)
    hooks = mode == "hooks"
    single = run_recorded(BiasOnly(hooks), CLIP_PLAN, None, quiet_noise=True)
    spread = ranks[0][("clip", mode)]["grads"]
    assert spread.shape == single["grads"].shape == (CLIP_PLAN.epochs, single["grads"].shape[1])
    scale = float(single["grads"].abs().max())
    assert scale > 1e-3
    assert torch.allclose(spread, single["grads"], atol=1e-5 * scale), (spread - single["grads"]).abs().max()
    # Clipping is doing something: the batch mean is below C (some units' gradients exceed it).
    assert float(single["grads"][0].norm()) < CLIP_PLAN.max_grad_norm


def test_empty_local_batches_keep_the_ranks_in_step(two_ranks) -> None:
    """At q = 1/20 a rank's 20 units are often all left out; that rank still steps (Opacus' distributed
    sampler would skip it, and the ranks would sum gradients of different steps or hang)."""
    ranks, _ = two_ranks
    zero, one = ranks[0]["empty"], ranks[1]["empty"]
    assert zero["outcome"].steps == one["outcome"].steps == 20
    empty = [len(b[0]) == 0 for rank in (zero, one) for b in rank["batches"]]
    assert len(empty) == 40 and any(empty) and not all(empty)
    assert torch.equal(zero["grads"], one["grads"]) and zero["grads"].shape[0] == 20
