"""Checkpoints of a DP training run, so a killed run resumes without miscounting epsilon.

A checkpoint holds everything the rest of the run depends on: the model's and the optimizer's state (and the
weights' moving average when the plan keeps one, :mod:`synthdata.privacy.ema`), the privacy accountant's
history ``[(noise_multiplier, sample_rate, steps)]``, the steps done, and what the run
was planned as (plan, epsilon, delta, accountant, noise multiplier, sample rate, total steps, number of units, a
SHA-256 fingerprint of the training tensors, the noise source, the diffusion process's settings).
``load_checkpoint`` refuses, with a ``BadInputError``, a checkpoint made for other data, another plan, budget
or diffusion process, or other randomness, so a run is never silently continued under a mechanism its noise
was not calibrated for.  Files are written atomically (a temporary file, fsync, ``os.replace``), so a run
killed while writing leaves the previous checkpoint intact; they are read with ``torch.load(..., weights_only=True)``, which unpickles tensors and
plain containers only.

Random streams.  A DP-valid run's checkpoint holds NO generator state: its resumed steps draw from fresh,
unrecorded OS entropy (``dp_randomness``).  Poisson steps are independent, so the resumed run is the same
mechanism with the same epsilon; the steps a killed process did after its last checkpoint are lost and
redone with new draws (their iterates never left that process).  Storing the noise or sampling generators'
states would amount to recording the seed (privacy rule 2): whoever read the file could regenerate every
step's Gaussian noise (Mersenne Twister's state runs backwards too) and would know each batch's members,
which voids the amplification by subsampling the epsilon relies on.  A replayable run (``reproducible_seed``
set, NOT DP anyway) stores the three streams' states (``Generator.get_state()``, uint8 tensors) and resumes
bit for bit as if never interrupted.

Privacy caveat, stated outright: a checkpoint is PRIVATE state of the run's work area.  It holds a model
and optimizer state trained on private data (an intermediate DP-SGD iterate, covered by the run's epsilon
once the run is accounted, but not yet released or audited), and for replayable runs the random streams.
Retention: ``train_private`` deletes the checkpoint as soon as training completes (only the final weights
are kept, as ``denoiser.pt``); a run killed and never resumed keeps it in its work area until
``synthdata purge RUN`` deletes the work area, checkpoint included.  Never copy a checkpoint out of the
work area, and keep the work area on storage approved for the source data.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from synthdata.errors import BadInputError

FORMAT = 1
STREAMS = ("sampling", "noise", "diffusion")


def data_fingerprint(units: Tensor, mask: Tensor) -> str:
    """SHA-256 of the training tensors' shapes, dtypes and bytes (ties a checkpoint to its data)."""
    digest = hashlib.sha256()
    for tensor in (units, mask):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())  # the buffer itself: no copy
    return digest.hexdigest()


@dataclass(frozen=True)
class RunIdentity:
    """What a checkpoint must match to be resumed: the data, the plan, the budget and the mechanism."""

    plan: dict[str, Any]
    epsilon: float
    delta: float
    accountant: str
    noise_multiplier: float
    sample_rate: float
    total_steps: int
    n_units: int
    data_fingerprint: str
    noise_source: str
    diffusion: dict[str, Any]  # the process's settings (GaussianDiffusion.settings): timesteps, prediction, scale


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: ``steps`` done of ``identity.total_steps``; ``loss_sum``/``loss_count`` are the
    current epoch's (non-private) loss diagnostics and ``seconds`` the training time spent so far."""

    identity: RunIdentity
    steps: int
    model: dict[str, Tensor]
    optimizer: dict[str, Any]
    history: list[tuple[float, float, int]]
    generators: dict[str, Tensor]  # empty for DP-valid runs (resumed from fresh OS entropy)
    loss_sum: float
    loss_count: int
    seconds: float
    ema: dict[str, Any] | None = None  # the weights' moving average (synthdata.privacy.ema), when the plan keeps one


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically (owner-only permissions: it is private state)."""
    payload = {
        "format": FORMAT,
        "identity": asdict(checkpoint.identity),
        "steps": int(checkpoint.steps),
        "model": checkpoint.model,
        "optimizer": checkpoint.optimizer,
        "history": [[float(nm), float(sr), int(n)] for nm, sr, n in checkpoint.history],
        "generators": {name: checkpoint.generators[name] for name in STREAMS if name in checkpoint.generators},
        "loss_sum": float(checkpoint.loss_sum),
        "loss_count": int(checkpoint.loss_count),
        "seconds": float(checkpoint.seconds),
        **({"ema": checkpoint.ema} if checkpoint.ema is not None else {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def remove_checkpoint(path: Path) -> None:
    """Delete the checkpoint and any temporary file a killed writer left behind."""
    for stale in (path, path.with_name(path.name + ".tmp")):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def _differences(stored: dict[str, Any], expected: RunIdentity) -> list[str]:
    wanted = asdict(expected)
    names = []
    for key, value in wanted.items():
        have = stored.get(key)
        if isinstance(value, float) and isinstance(have, (int, float)):
            # The same budget computed in another process can differ in its last bit (the accountants' float
            # arithmetic): 1e-9 apart is the same run; a budget or noise that differs at all meaningfully is not.
            same = math.isclose(float(have), value, rel_tol=1e-9, abs_tol=0.0)
        else:
            same = have == value
        if not same:
            names.append(key)
    return names


def load_checkpoint(path: Path, *, expected: RunIdentity) -> Checkpoint | None:
    """The checkpoint at ``path`` if there is one (None otherwise), checked against ``expected``.

    Raises:
        BadInputError: the file is unreadable, or was made for other data, plan, budget or randomness.
            The message names what differs, never a value derived from the data.
    """
    if not path.is_file():
        return None
    try:
        raw = torch.load(path, weights_only=True, map_location="cpu")
        identity = raw["identity"]
        if raw.get("format") != FORMAT:
            raise BadInputError(f"checkpoint {path} has format {raw.get('format')!r}, expected {FORMAT}")
    except BadInputError:
        raise
    except Exception as err:  # truncated, not a checkpoint, or a pickle weights_only refuses
        raise BadInputError(f"checkpoint {path} cannot be read ({type(err).__name__}); delete it to start over") from err
    differs = _differences(identity, expected)
    if differs:
        raise BadInputError(
            f"checkpoint {path} belongs to another training run (differs in: {', '.join(differs)}); "
            "resume with the original data, plan and budget; to start over instead, charge the interrupted "
            "run's partial training to the budget (e.g. `synthdata budget settle`) and delete the checkpoint"
        )
    steps = raw["steps"]
    history = [(float(nm), float(sr), int(n)) for nm, sr, n in raw["history"]]
    if not (0 < steps < expected.total_steps) or sum(n for _, _, n in history) != steps:
        raise BadInputError(f"checkpoint {path} is inconsistent ({steps} steps, accountant disagrees)")
    generators = dict(raw["generators"])
    if generators and set(generators) != set(STREAMS):
        raise BadInputError(f"checkpoint {path} is inconsistent (random streams {sorted(generators)})")
    return Checkpoint(
        identity=RunIdentity(**identity), steps=int(steps), model=raw["model"], optimizer=raw["optimizer"],
        history=history, generators=generators,
        loss_sum=float(raw["loss_sum"]), loss_count=int(raw["loss_count"]), seconds=float(raw["seconds"]),
        ema=raw.get("ema"),
    )


def peek_checkpoint(path: Path) -> tuple[int, int] | None:
    """``(steps done, total steps)`` of the checkpoint at ``path``, or None if there is none or it cannot
    be read (``load_checkpoint`` then says why).  For log messages; it checks nothing."""
    if not path.is_file():
        return None
    try:
        raw = torch.load(path, weights_only=True, map_location="cpu")
        return int(raw["steps"]), int(raw["identity"]["total_steps"])
    except (OSError, RuntimeError, EOFError, KeyError, TypeError, ValueError, pickle.UnpicklingError):
        # reported properly by load_checkpoint
        return None
