"""A case of the bad-input corpus (``tests/bad_input``): how one malformed input is written and how the CLI is
called on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = "<script>alert(1)</script>"
LEVELS = 100_000


@dataclass(frozen=True)
class Invocation:
    """One call of the CLI on a generated input.

    ``names``: what the message must name (the file, the column, the record, the field); ``out``: the export
    folder that must not be written (it may exist before the call: then it must stay as it was).
    """

    argv: list[str]
    out: Path
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """A malformed input: ``build`` writes it under a folder and returns the call; ``problem`` are words the
    message must hold (lower case) to say what is wrong."""

    id: str
    modality: str
    build: Callable[[Path], Invocation]
    problem: tuple[str, ...] = field(default=())
