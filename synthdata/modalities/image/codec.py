"""The public encoding of images: declared size, channels, intensity window and classes.

An image ``(C, H, W)``, already mapped from the DECLARED window onto ``[-1, 1]`` by the readers, becomes one
row of ``C * H * W`` numbers (channel-major), followed, for labelled images, by the K-wide one-hot class
condition (``synthdata.modalities.classes``): the diffusion model generates an image *for* its class.
Nothing here is learned from the pixels; the class proportions are declared or DP-measured in ``resolve``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthdata.modalities.classes import ClassCondition, split_rows


@dataclass(frozen=True)
class ImageCodec:
    size: tuple[int, int]
    channels: int
    window: tuple[float, float]
    condition: ClassCondition | None = None
    unit: str = "subject"  # DP-SGD unit: "subject" (all of a person's images) or "record" (one image)
    output_format: str = "png"

    @property
    def classes(self) -> tuple[str, ...]:
        return self.condition.classes if self.condition is not None else ()

    @property
    def data_width(self) -> int:
        return self.channels * math.prod(self.size)

    @property
    def width(self) -> int:
        return self.data_width + len(self.classes)

    def encode(self, pixels: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """Images ``(n, C, H, W)`` in [-1, 1] and labels -> rows ``(n, C * H * W + K)``."""
        rows = np.clip(np.asarray(pixels, dtype=np.float32), -1.0, 1.0).reshape(len(pixels), -1)
        return rows if self.condition is None else self.condition.append(rows, labels)

    def decode(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows -> images ``(n, C, H, W)`` in [-1, 1] and labels (None without classes)."""
        data, labels = split_rows(rows, data_width=self.data_width, condition=self.condition)
        return np.clip(data, -1.0, 1.0).reshape(len(data), self.channels, *self.size), labels

    def to_dict(self) -> dict[str, Any]:
        return {"size": list(self.size), "channels": self.channels, "window": list(self.window), "unit": self.unit,
                "output_format": self.output_format,
                "condition": None if self.condition is None else self.condition.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ImageCodec:
        condition = raw.get("condition")
        return cls(size=tuple(int(s) for s in raw["size"]), channels=int(raw["channels"]),
                   window=tuple(float(v) for v in raw["window"]), unit=raw.get("unit", "subject"),
                   output_format=raw.get("output_format", "png"),
                   condition=None if condition is None else ClassCondition.from_dict(condition))
