"""Where the denoiser trains and samples: ``model.device`` in a spec (``auto``, ``cpu`` or ``cuda``).

``auto`` is CUDA when torch sees a GPU (``torch.cuda.is_available()``), else the CPU.  ``cuda`` on a machine
without one is refused with a :class:`BadInputError` (exit 2): the release flow checks it with the spec, before
the data is read or any budget is reserved.  One process, one device: training across processes is
``synthdata.privacy.distributed`` (each rank passes its own device), not reached from a spec yet.

Privacy: the device changes nothing in the guarantee.  The DP noise and the diffusion draws come from
OS-entropy-seeded generators on the device (``synthdata.privacy.randomness``), Poisson sampling from one on
the CPU; the trained weights are saved from the CPU, so a model trained on a GPU samples anywhere.
"""

from __future__ import annotations

import torch

from synthdata.errors import BadInputError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(*, requested: str) -> torch.device:
    """The ``torch.device`` for ``requested`` (one of ``DEVICES``).

    Raises:
        BadInputError: ``cuda`` where torch finds no CUDA GPU (or was built without CUDA), or an unknown name.
    """
    if requested not in DEVICES:
        raise BadInputError(f"model.device must be one of {', '.join(DEVICES)}, got {requested!r}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        built = "torch was built without CUDA" if torch.version.cuda is None else "torch finds no CUDA GPU"
        raise BadInputError(f"model.device is cuda but {built} on this machine (torch.cuda.is_available() is "
                            "False): set model.device to cpu or auto. Nothing was charged")
    return torch.device(requested)
