"""Report figures for images: a grid of SYNTHETIC samples per class (never a real image; real images appear
only as pooled intensity histograms and aggregate scores in the audits)."""

from __future__ import annotations

import numpy as np

from synthdata.views.images import ImageAuditSet, ImageSchema
from evaluation.report.figures import figure_to_base64, new_figure

COLUMNS = 8
CELL = 0.6  # inches per image


def _display(image: np.ndarray) -> np.ndarray:
    """One image ``(C, H, W)`` on [-1, 1] as an ``(H, W)`` or ``(H, W, 3)`` array on [0, 1]."""
    scaled = np.clip((np.asarray(image, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)
    return scaled[0] if scaled.shape[0] == 1 else np.moveaxis(scaled, 0, -1)


def sample_grid(*, synthetic: ImageAuditSet, schema: ImageSchema, per_class: int = 8) -> list[tuple[str, str]]:
    """(title, base64 PNG) per class: the first ``per_class`` synthetic images of the class, on the declared
    window (black = low end, white = high end).  Without labels, one grid of the first images."""
    labels = synthetic.labels if synthetic.labels is not None else np.full(len(synthetic), "all images", dtype=object)
    labels = labels.astype(str)
    order = list(schema.classes) + sorted(set(labels).difference(schema.classes))
    figures = []
    height, width = synthetic.pixels.shape[-2:]
    for label in [c for c in order if c in set(labels)]:
        index = np.flatnonzero(labels == label)[:per_class]
        columns = min(COLUMNS, len(index))
        rows = -(-len(index) // columns)
        fig_height = 0.35 + CELL * rows
        fig, first = new_figure(width=0.1 + CELL * columns * max(1.0, width / height), height=fig_height,
                                left=0.01, bottom=0.01, top=1.0 - 0.3 / fig_height)
        fig.delaxes(first)  # one panel per image instead
        fig.subplots_adjust(wspace=0.05, hspace=0.05)
        for position, i in enumerate(index):
            panel = fig.add_subplot(rows, columns, position + 1)
            panel.imshow(_display(synthetic.pixels[i]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            panel.set_axis_off()
        fig.suptitle(f"synthetic, class {label}: {len(index)} images", fontsize=7)
        figures.append((f"Synthetic examples: {label}", figure_to_base64(fig)))
    return figures
