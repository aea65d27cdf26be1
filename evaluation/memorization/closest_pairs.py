"""The synthetic rows closest to a training record, each beside that REAL record: for the INTERNAL report only.

WARNING: the result holds REAL PRIVATE RECORDS.  It exists so that a person at the data custodian can look
at the most suspicious synthetic rows next to the patients they resemble.  It goes only into the internal
report (``audits.internal_report`` in a spec, ``synthdata audit --internal``), which is kept in the private
work area and marked INTERNAL on every page; the public report refuses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from evaluation.base import AuditContext
from evaluation.memorization.encoding import RowEncoder, modelled_columns
from evaluation.sampling import subsample


def closest_pairs(*, context: AuditContext, count: int = 10) -> pd.DataFrame:
    """``count`` synthetic rows nearest to a training record, with that record: distance, then per column
    ``<column> (synthetic)`` and ``<column> (real)``.  Synthetic rows are searched up to ``max_rows``."""
    rng = context.rng("closest_pairs")
    synthetic = subsample(context.synthetic, min(len(context.synthetic), context.settings.max_rows), rng)
    train = context.train
    encoder = RowEncoder(schema=context.schema, frames=[train, synthetic])
    query = torch.from_numpy(encoder.encode(synthetic).embedding())
    reference = torch.from_numpy(encoder.encode(train).embedding())
    best_distance = np.empty(len(synthetic))
    best_index = np.empty(len(synthetic), dtype=np.int64)
    for start in range(0, len(synthetic), 512):
        distance = torch.cdist(query[start:start + 512], reference, compute_mode="donot_use_mm_for_euclid_dist")
        nearest = distance.min(dim=1)
        best_distance[start:start + 512] = nearest.values.double().numpy()
        best_index[start:start + 512] = nearest.indices.numpy()
    order = np.argsort(best_distance, kind="stable")[:count]
    columns = modelled_columns(context.schema, train)
    table = {"distance": np.round(best_distance[order], 4)}
    for name in columns:
        table[f"{name} (synthetic)"] = synthetic[name].to_numpy(dtype=object)[order]
        table[f"{name} (real)"] = train[name].to_numpy(dtype=object)[best_index[order]]
    return pd.DataFrame(table)
