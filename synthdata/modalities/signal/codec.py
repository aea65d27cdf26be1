"""The public encoding of signal windows: declared channels, rate, window length, amplitude range, classes.

A window ``(C, L)`` in physical units becomes ``C + K`` channels of length ``L`` in ``[-1, 1]``: the C
signal channels scaled from the DECLARED amplitude range, then K label channels (one per declared class,
+1 for the window's class and -1 for the others, constant over time), so the diffusion model generates
a window and its class jointly.  Flattened channel-major it is one row of ``(C + K) * L`` numbers, the
shape the shared trainer and samplers work with.  Decoding reads the class as the label channel with
the largest mean.  Nothing here is learned from the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SignalCodec:
    kind: str  # "ecg" | "eeg"
    fs: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    length: int
    amplitude: tuple[float, float]
    classes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return (len(self.channels) + len(self.classes)) * self.length

    def scale(self, data: np.ndarray) -> np.ndarray:
        """Physical ``(n, C, L)`` -> ``[-1, 1]`` by the declared range, clipped."""
        low, high = self.amplitude
        return np.clip((np.asarray(data, dtype=np.float32) - low) / (high - low) * 2 - 1, -1, 1)

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        low, high = self.amplitude
        return ((np.clip(scaled, -1, 1) + 1) / 2 * (high - low) + low).astype(np.float32)

    def encode(self, data: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """Windows (physical) and labels -> rows ``(n, (C + K) * L)`` in [-1, 1]."""
        scaled = self.scale(data)
        if self.classes:
            if labels is None:
                raise ValueError("labels are required: the codec declares classes")
            index = {c: i for i, c in enumerate(self.classes)}
            onehot = -np.ones((len(data), len(self.classes), self.length), dtype=np.float32)
            onehot[np.arange(len(data)), [index[str(v)] for v in labels]] = 1.0
            scaled = np.concatenate([scaled, onehot], axis=1)
        return scaled.reshape(len(data), -1)

    def decode(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows ``(n, (C + K) * L)`` -> windows in physical units and labels (None without classes)."""
        windows = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1, self.length)
        data = self.unscale(windows[:, : len(self.channels)])
        if not self.classes:
            return data, None
        scores = windows[:, len(self.channels):].mean(axis=-1)
        return data, np.asarray(self.classes, dtype=object)[scores.argmax(axis=1)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SignalCodec:
        return cls(kind=raw["kind"], fs=float(raw["fs"]), channels=tuple(raw["channels"]), units=tuple(raw["units"]),
                   length=int(raw["length"]), amplitude=tuple(raw["amplitude"]), classes=tuple(raw["classes"]))
