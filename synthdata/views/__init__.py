"""What audits read: one view per kind of data, the same whichever modality produced it.

- tables: a pandas ``DataFrame`` of the modelled columns with the resolved ``TableSchema``;
- signals: :class:`synthdata.views.signals.SignalSet` windows with a ``SignalSchema``;
- images: :class:`synthdata.views.images.ImageAuditSet` pixels with an ``ImageSchema``.

A modality turns its private storage into one of these (``Modality.audit_frames``); the audits, the
distance spaces and the report's data figures are written against the views, never against a modality.

Privacy caveat: a view of the real training or holdout data holds private records; whatever is computed from
it for a report must be an aggregate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def take(side: Any, index: np.ndarray) -> Any:
    """Rows (table) or records (signal windows, images) ``index`` of one audit side, in that order."""
    return side.iloc[index] if isinstance(side, pd.DataFrame) else side.take(index)


def subsample(side: Any, n: int, rng: np.random.Generator) -> Any:
    """At most ``n`` rows or records drawn without replacement, in their original order (all, if fewer)."""
    if n >= len(side):
        return side
    return take(side, np.sort(rng.choice(len(side), size=n, replace=False)))
