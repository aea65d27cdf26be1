"""What signal audits read: windows of real and synthetic signals, in physical units, with public metadata.

A :class:`SignalSet` is one side of an audit (train, holdout or synthetic): ``data`` of shape
``(windows, channels, samples)`` in the channels' physical units, and optional class ``labels``.  The
:class:`SignalSchema` carries only public facts declared in the spec: sampling rate, channel names and
units, the declared amplitude range and the kind of signal.

Privacy caveat: real windows are private records.  Audits built on these views must report aggregates
only (distances, spectra averaged over many windows, counts), never a real trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from synthdata.views import subsample


@dataclass(frozen=True)
class SignalSchema:
    """Public facts about the signals (declared in the spec, never read from the data)."""

    kind: Literal["ecg", "eeg"]
    fs: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    amplitude: tuple[float, float]
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignalSet:
    """Windows ``(n, channels, samples)`` in physical units and their labels (or None)."""

    data: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"signal windows must be (windows, channels, samples), got shape {self.data.shape}")
        if self.labels is not None and len(self.labels) != len(self.data):
            raise ValueError(f"{len(self.labels)} labels for {len(self.data)} windows")

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def take(self, index: np.ndarray) -> SignalSet:
        return SignalSet(data=self.data[index], labels=None if self.labels is None else self.labels[index])

    def subsample(self, n: int, rng: np.random.Generator) -> SignalSet:
        """At most ``n`` windows drawn without replacement (all of them, in order, when there are fewer)."""
        return subsample(self, n, rng)
