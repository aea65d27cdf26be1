"""A recording in physical units with its annotations: what every signal reader returns.

Validation happens once, here, so the windowing code can trust shapes and values.  Messages name the
record, never a sample value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synthdata.errors import BadInputError


@dataclass(frozen=True)
class Annotation:
    """An event at ``sample`` (0-based, in the recording's rate) lasting ``duration`` samples."""

    sample: int
    label: str
    duration: int = 0


@dataclass(frozen=True)
class Recording:
    """``samples`` is ``(C, T)`` float32 in physical ``units``, one row per entry of ``channels``.

    ``subject`` is a private identifier (the privacy unit); ``record`` names the source file or record.
    """

    record: str
    subject: str
    fs: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    samples: np.ndarray = field(repr=False)
    annotations: tuple[Annotation, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))
        object.__setattr__(self, "units", tuple(str(u) for u in self.units))
        object.__setattr__(self, "annotations", tuple(self.annotations))
        if not (np.isfinite(self.fs) and self.fs > 0):
            raise BadInputError(f"record {self.record}: sampling rate must be a positive number, got {self.fs}")
        if samples.ndim != 2:
            raise BadInputError(f"record {self.record}: samples must be (channels, time), got {samples.ndim} dims")
        if samples.shape[0] != len(self.channels):
            raise BadInputError(f"record {self.record}: {samples.shape[0]} signal rows but "
                                f"{len(self.channels)} channel names")
        if len(self.units) != len(self.channels):
            raise BadInputError(f"record {self.record}: {len(self.units)} units for {len(self.channels)} channels")
        if len(set(self.channels)) != len(self.channels):
            raise BadInputError(f"record {self.record}: duplicate channel names {list(self.channels)}")
        bad = ~np.isfinite(samples).all(axis=1)
        if bad.any():
            names = [self.channels[i] for i in np.flatnonzero(bad)]
            raise BadInputError(f"record {self.record}: channel(s) {names} contain NaN or infinite values")

    @property
    def n_samples(self) -> int:
        """Number of time points ``T``."""
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.n_samples / self.fs
