"""The public encoding of signal windows: declared channels, rate, window length, amplitude range, classes.

A window ``(C, L)`` in physical units becomes one row of ``C * L`` numbers in ``[-1, 1]`` (scaled from the
DECLARED amplitude range, channel-major), followed, for labelled windows, by the K-wide one-hot class
condition (``synthdata.modalities.classes``): the diffusion model generates a window *for* its class.
Nothing here is learned from the data; the class proportions are declared or DP-measured in ``resolve``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthdata.modalities.classes import ClassCondition, split_rows
from synthdata.modalities.declared_range import from_unit_range, to_unit_range


@dataclass(frozen=True)
class SignalCodec:
    kind: str  # "ecg" | "eeg"
    fs: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    length: int
    amplitude: tuple[float, float]
    condition: ClassCondition | None = None
    unit: str = "subject"  # DP-SGD unit: "subject" (all of a subject's windows) or "record" (one window)
    anchor: int = 0  # sample the class annotation marks in a written record: the beat, or the window's centre
    #: class -> the annotation label a written record marks it with: the spec's first ``labels`` key for it (a beat
    #: symbol such as ``N``, a rhythm note, an EDF+ ``T0``), so the release reads back with the same ``labels``;
    #: a class without one (classes from a label table) is written as itself
    marks: dict[str, str] = field(default_factory=dict)

    def mark(self, label: str) -> str:
        """The annotation label a written record carries for class ``label``."""
        return self.marks.get(label, label)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.condition.classes if self.condition is not None else ()

    @property
    def data_width(self) -> int:
        return len(self.channels) * self.length

    @property
    def width(self) -> int:
        return self.data_width + len(self.classes)

    def encode(self, data: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """Windows (physical ``(n, C, L)``) and labels -> rows ``(n, C * L + K)``."""
        scaled, _ = to_unit_range(data, window=self.amplitude)
        rows = scaled.reshape(len(data), -1)
        return rows if self.condition is None else self.condition.append(rows, labels)

    def decode(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows ``(n, C * L + K)`` -> windows in physical units and labels (None without classes)."""
        data, labels = split_rows(rows, data_width=self.data_width, condition=self.condition)
        return from_unit_range(data, window=self.amplitude).reshape(len(data), len(self.channels), self.length), labels

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "fs": self.fs, "channels": list(self.channels), "units": list(self.units),
                "length": self.length, "amplitude": list(self.amplitude), "unit": self.unit, "anchor": self.anchor,
                "marks": dict(self.marks), "condition": None if self.condition is None else self.condition.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SignalCodec:
        condition = raw.get("condition")
        return cls(kind=raw["kind"], fs=float(raw["fs"]), channels=tuple(raw["channels"]), units=tuple(raw["units"]),
                   length=int(raw["length"]), amplitude=tuple(raw["amplitude"]), unit=raw.get("unit", "subject"),
                   anchor=int(raw.get("anchor", 0)), marks=dict(raw.get("marks", {})),
                   condition=None if condition is None else ClassCondition.from_dict(condition))
