"""Where DP randomness comes from: OS entropy by default, a recorded seed only for non-DP replays."""

from __future__ import annotations

import pytest
import torch

from synthdata.privacy.randomness import dp_randomness, os_entropy_generator


def _draw(generator: torch.Generator) -> torch.Tensor:
    return torch.rand(8, generator=generator)


def test_os_entropy_generators_are_independent_and_leave_global_rng_alone() -> None:
    state = torch.get_rng_state()
    assert not torch.equal(_draw(os_entropy_generator()), _draw(os_entropy_generator()))
    assert torch.equal(torch.get_rng_state(), state)


def test_default_randomness_is_dp_valid_and_says_where_it_comes_from() -> None:
    first, second = dp_randomness(reproducible_seed=None), dp_randomness(reproducible_seed=None)
    assert first.dp_valid
    assert "OS entropy" in first.source and "not a cryptographically secure" in first.source
    streams = [_draw(g) for g in (first.sampling, first.noise, first.diffusion, second.sampling)]
    for i in range(len(streams)):
        for j in range(i + 1, len(streams)):
            assert not torch.equal(streams[i], streams[j])


def test_seeded_randomness_replays_and_is_flagged_not_dp() -> None:
    a, b = dp_randomness(reproducible_seed=7), dp_randomness(reproducible_seed=7)
    for name in ("sampling", "noise", "diffusion"):
        assert torch.equal(_draw(getattr(a, name)), _draw(getattr(b, name)))
    assert not a.dp_valid
    assert "NOT differentially private" in a.source and "7" in a.source
    assert a.source != dp_randomness(reproducible_seed=None).source
    fresh = dp_randomness(reproducible_seed=7)
    assert not torch.equal(_draw(fresh.sampling), _draw(fresh.noise))  # streams differ from each other
    other_seed = dp_randomness(reproducible_seed=8)
    assert not torch.equal(_draw(other_seed.noise), _draw(dp_randomness(reproducible_seed=7).noise))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "7"])
def test_rejects_bad_seeds(seed: object) -> None:
    with pytest.raises(ValueError):
        dp_randomness(reproducible_seed=seed)  # type: ignore[arg-type]
