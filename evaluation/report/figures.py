"""The figure kit every audit and report figure is drawn with: a small Agg figure, its PNG as base64, the
real / synthetic colours.  What a figure may show is the caller's business (aggregates only)."""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure

REAL_COLOR = "#4c72b0"
SYNTHETIC_COLOR = "#dd8452"


def new_figure(
    *, width: float = 3.4, height: float = 2.2, left: float = 0.16, bottom: float = 0.2, top: float = 0.88
) -> tuple[Figure, object]:
    """A small standalone figure (Agg canvas, no pyplot global state) and its single axes.

    Margins are fixed (fractions of the figure) rather than computed by tight_layout, which would triple
    the rendering time.
    """
    fig = Figure(figsize=(width, height), dpi=90)
    fig.subplots_adjust(left=left, bottom=bottom, right=0.97, top=top)
    ax = fig.add_subplot(1, 1, 1)
    return fig, ax


def figure_to_base64(fig: Figure) -> str:
    """PNG bytes of the figure, base64-encoded (for inline ``data:`` URIs)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
