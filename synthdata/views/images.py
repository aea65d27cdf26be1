"""What image audits read: real and synthetic images scaled to [-1, 1], with public metadata.

An :class:`ImageAuditSet` is one side of an audit (train, holdout or synthetic): ``pixels`` of shape
``(n, channels, height, width)``, float32, the declared intensity window mapped onto ``[-1, 1]``, and
optional class ``labels``.  The :class:`ImageSchema` carries only public facts declared in the spec: image
size, channels, the declared intensity window and the declared classes.

Privacy caveat: real images are private records.  Audits built on these views report aggregates only
(distances, histograms pooled over many images, scores, counts), never a real image or a real pixel row;
the public report shows synthetic images only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthdata.views import subsample


@dataclass(frozen=True)
class ImageSchema:
    """Public facts about the images (declared in the spec, never read from the data).

    ``size`` is ``(height, width)``; ``channels`` is 1 (grey) or 3 (RGB); ``window`` is the declared
    intensity window (file units) that the codec maps onto ``[-1, 1]``.
    """

    size: tuple[int, int]
    channels: int
    window: tuple[float, float]
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageAuditSet:
    """Images ``(n, C, H, W)`` in ``[-1, 1]`` and their labels (or None)."""

    pixels: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.pixels.ndim != 4 or self.pixels.shape[1] not in (1, 3):
            raise ValueError(f"images must be (n, channels, height, width) with 1 or 3 channels, "
                             f"got shape {self.pixels.shape}")
        if self.labels is not None and len(self.labels) != len(self.pixels):
            raise ValueError(f"{len(self.labels)} labels for {len(self.pixels)} images")

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def take(self, index: np.ndarray) -> ImageAuditSet:
        return ImageAuditSet(pixels=self.pixels[index], labels=None if self.labels is None else self.labels[index])

    def subsample(self, n: int, rng: np.random.Generator) -> ImageAuditSet:
        """At most ``n`` images drawn without replacement (all of them, in order, when there are fewer)."""
        return subsample(self, n, rng)
