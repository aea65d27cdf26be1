"""Report figures for signals: example SYNTHETIC traces per class (never a real trace; real data appears
only as averaged spectra and suppressed histograms in the fidelity audits)."""

from __future__ import annotations

import numpy as np

from evaluation.report.figures import SYNTHETIC_COLOR, figure_to_base64, new_figure
from synthdata.views.signals import SignalSchema, SignalSet


def example_traces(*, synthetic: SignalSet, schema: SignalSchema, per_class: int = 3,
                   channels: int = 3) -> list[tuple[str, str]]:
    """(title, base64 PNG) per class: the first ``per_class`` synthetic windows, up to ``channels`` channels."""
    labels = synthetic.labels if synthetic.labels is not None else np.full(len(synthetic), "all windows", dtype=object)
    figures = []
    t = np.arange(synthetic.data.shape[-1]) / schema.fs
    shown = min(channels, len(schema.channels))
    for label in sorted({str(v) for v in labels}):
        index = np.flatnonzero(labels.astype(str) == label)[:per_class]
        fig, ax = new_figure(width=4.2, height=0.5 + 0.55 * shown * len(index), left=0.12, bottom=0.12, top=0.92)
        offset = 0.0
        step = float(schema.amplitude[1] - schema.amplitude[0]) / 2
        for i in index:
            for c in range(shown):
                ax.plot(t, synthetic.data[i, c] - offset, color=SYNTHETIC_COLOR, linewidth=0.6)
                offset += step
        ax.set_yticks([])
        ax.set_xlabel("seconds", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_title(f"synthetic, class {label}: {len(index)} windows x {shown} channels "
                     f"({', '.join(schema.channels[:shown])})", fontsize=7)
        figures.append((f"Synthetic examples: {label}", figure_to_base64(fig)))
    return figures
