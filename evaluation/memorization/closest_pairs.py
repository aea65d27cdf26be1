"""The synthetic rows closest to a training record, each beside that REAL record: for the INTERNAL report only.

WARNING: the result holds REAL PRIVATE RECORDS.  It exists so that a person at the data custodian can look
at the most suspicious synthetic rows next to the patients they resemble.  It goes only into the internal
report (``audits.internal_report`` in a spec, ``synthdata audit --internal``), which is kept in the private
work area and marked INTERNAL on every page; the public report refuses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.base import AuditContext
from evaluation.memorization.encoding import RowEncoder, modelled_columns, nearest_neighbours
from evaluation.sampling import subsample


def closest_pairs(*, context: AuditContext, count: int = 10) -> pd.DataFrame:
    """``count`` synthetic rows nearest to a training record, with that record: distance, then per column
    ``<column> (synthetic)`` and ``<column> (real)``.  Synthetic rows are searched up to ``max_rows``."""
    rng = context.rng("closest_pairs")
    synthetic = subsample(context.synthetic, min(len(context.synthetic), context.settings.max_rows), rng)
    train = context.train
    encoder = RowEncoder(schema=context.schema, frames=[train, synthetic])
    distances, indices = nearest_neighbours(encoder.encode(synthetic), encoder.encode(train))
    best_distance, best_index = distances[:, 0], indices[:, 0]
    order = np.argsort(best_distance, kind="stable")[:count]
    columns = modelled_columns(context.schema, train)
    table = {"distance": np.round(best_distance[order], 4)}
    for name in columns:
        table[f"{name} (synthetic)"] = synthetic[name].to_numpy(dtype=object)[order]
        table[f"{name} (real)"] = train[name].to_numpy(dtype=object)[best_index[order]]
    return pd.DataFrame(table)
