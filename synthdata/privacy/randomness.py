"""Where DP training's randomness comes from.

The privacy rules require that the random draws the DP guarantee rests on (Poisson sampling of records,
the Gaussian noise added to gradients, and the diffusion timesteps and noise) come from unrecorded OS
entropy, never from a recorded seed: anyone who knows the seed could replay the noise and subtract it.

Caveat, stated outright: the generators are torch's Mersenne Twister seeded with 63 bits from
:mod:`secrets`.  That is unpredictable to anyone without access to the process, but it is not a
cryptographically secure generator, and the Gaussian sampling is not hardened against floating-point
attacks (Mironov 2012 style).  Opacus' ``secure_mode`` would fix both but imports ``torchcsprng``: checked on
2026-11-23, its last release (0.2.1, March 2021) was built for torch 1.8 and Python <= 3.9, and
``pip download torchcsprng`` finds no distribution for Python 3.11 / torch 2.13 (the project is archived),
so secure mode is not usable here.  What that means: an adversary who can observe this process's memory
or predict the OS-entropy seed could reproduce the noise; one who only sees released outputs cannot
exploit the generator, but the floating-point attack on Gaussian sampling is not mitigated.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import torch

OS_ENTROPY_SOURCE = (
    "OS entropy (Python secrets, 63 bits per generator, never recorded) seeding torch's Mersenne Twister; "
    "not a cryptographically secure generator (Opacus secure_mode needs torchcsprng, which has no build for "
    "Python 3.11 / torch 2.13); Gaussian sampling not hardened against floating-point attacks"
)


def os_entropy_generator(*, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` (default the CPU) seeded from ``secrets.randbits(63)``; the seed is never
    stored or returned."""
    generator = torch.Generator(device=device)
    generator.manual_seed(secrets.randbits(63))
    return generator


@dataclass(frozen=True)
class DPRandomness:
    """The three independent random streams of one DP training run.

    Attributes:
        sampling: Poisson sampling of privacy units (Opacus' DPDataLoader).
        noise: Gaussian noise added to the summed clipped gradients (Opacus' DPOptimizer).
        diffusion: diffusion timesteps and noise drawn for each training record.
        source: plain-words description of where these came from, for the privacy statement.
    """

    sampling: torch.Generator
    noise: torch.Generator
    diffusion: torch.Generator
    source: str

    @property
    def dp_valid(self) -> bool:
        """True when the streams come from unrecorded OS entropy (a run whose DP guarantee holds)."""
        return self.source == OS_ENTROPY_SOURCE


def _seeded(seed: int, stream: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator for one named stream, seeded from a hash of (seed, stream name): distinct streams."""
    digest = hashlib.sha256(f"synthdata:{stream}:{seed}".encode()).digest()
    generator = torch.Generator(device=device)
    generator.manual_seed(int.from_bytes(digest[:8], "big") >> 1)
    return generator


def dp_randomness(*, reproducible_seed: int | None, device: torch.device | str = "cpu", rank: int = 0) -> DPRandomness:
    """Random streams for DP training (of one process: ``rank`` when training across processes).

    Args:
        reproducible_seed: ``None`` (the default for releases, and the only DP-valid choice) draws three
            independent generators from OS entropy.  An integer seeds the three streams from it so the run
            replays exactly; such a run is NOT differentially private, because the seed is recorded and
            the DP noise can be regenerated from it.
        device: where training runs: the ``noise`` and ``diffusion`` generators live there (a CUDA tensor
            is drawn from a CUDA generator), ``sampling`` stays on the CPU (Opacus' Poisson sampler).  torch's
            CUDA generator is Philox rather than the Mersenne Twister, seeded the same way; it is no more
            cryptographically secure, and the caveat above applies to it equally.
        rank: the process's rank when training across processes (:mod:`synthdata.privacy.distributed`).
            OS-entropy streams are independent in every process anyway; replayable ones are seeded from
            ``(seed, stream, rank)`` for ranks above 0, so two ranks never draw the same sampling or diffusion
            stream (rank 0's are the single-process streams).
    """
    if reproducible_seed is None:
        return DPRandomness(
            sampling=os_entropy_generator(),
            noise=os_entropy_generator(device=device),
            diffusion=os_entropy_generator(device=device),
            source=OS_ENTROPY_SOURCE,
        )
    if isinstance(reproducible_seed, bool) or not isinstance(reproducible_seed, int) or reproducible_seed < 0:
        raise ValueError(f"reproducible_seed must be a non-negative integer or None, got {reproducible_seed!r}")
    suffix = f":rank{rank}" if rank else ""
    return DPRandomness(
        sampling=_seeded(reproducible_seed, "sampling" + suffix),
        noise=_seeded(reproducible_seed, "noise" + suffix, device),
        diffusion=_seeded(reproducible_seed, "diffusion" + suffix, device),
        source=(
            f"replayable: all DP randomness seeded from the recorded seed {reproducible_seed}; "
            "this run is NOT differentially private (the noise can be regenerated from the seed)"
        ),
    )
