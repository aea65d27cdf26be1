"""The synthetic rows closest to a training record, each beside that REAL record: for the INTERNAL report only.

!!! INTERNAL ONLY -- THE RESULT HOLDS REAL PRIVATE PATIENT RECORDS, VERBATIM, OUTSIDE ANY DP GUARANTEE !!!

It exists so that a person at the data custodian can look at the most suspicious synthetic rows next to the
patients they resemble (is a distance-0 pair a copied individual or a common profile?).  It is NOT an audit and
must never enter an audit's ``details`` or figures, ``audit.json``, the manifest, the public report or anything
released.  It goes only into the internal report (``audits.internal_report: true`` in a spec, flagged there,
``synthdata audit --internal``), which is kept in the private work area and marked INTERNAL on every page;
the public report refuses it.  Another helper renders it.

Cost: every (subsampled) synthetic row is searched against the FULL training set, on purpose (a copy of any
training record must be found): 10-20 s for 5,000 synthetic rows against 80,000 training rows of 48
columns on 2 shared cores.  ``max_train_rows`` caps the search (a subsample, stated nowhere else: use it only
when the time matters more than finding every copy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.base import AuditContext
from evaluation.memorization.encoding import (
    RowEncoder,
    modelled_columns,
    nearest_neighbours,
)
from synthdata.views import subsample


def closest_pairs(
    *, context: AuditContext, count: int = 10, max_train_rows: int | None = None
) -> pd.DataFrame:
    """INTERNAL REPORT ONLY (holds real training records): the ``count`` synthetic rows nearest to a training
    record, each with that record, closest first.

    Columns: ``distance`` (in the encoding of ``evaluation.memorization.encoding``: numbers scaled by public
    bounds, a differing category costs 1; 0 is an exact copy), then for each modelled column
    ``<column> (synthetic)`` beside ``<column> (real)``.  Synthetic rows are subsampled to
    ``settings.max_rows`` with the context's public randomness; the training set is searched in full unless
    ``max_train_rows`` caps it.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = context.rng("closest_pairs")
    synthetic = subsample(context.synthetic, min(len(context.synthetic), context.settings.max_rows), rng)
    train = context.train if max_train_rows is None else subsample(context.train, max_train_rows, rng)
    columns = modelled_columns(context.schema, train)
    if len(synthetic) == 0 or len(train) == 0:
        return pd.DataFrame(columns=["distance", *(f"{c} ({side})" for c in columns
                                                   for side in ("synthetic", "real"))])
    encoder = RowEncoder(schema=context.schema, frames=[train, synthetic])
    distances, indices = nearest_neighbours(encoder.encode(synthetic), encoder.encode(train))
    best_distance, best_index = distances[:, 0], indices[:, 0]
    order = np.argsort(best_distance, kind="stable")[:count]
    table: dict[str, np.ndarray] = {"distance": np.round(best_distance[order], 4)}
    for name in columns:
        table[f"{name} (synthetic)"] = synthetic[name].to_numpy(dtype=object)[order]
        table[f"{name} (real)"] = train[name].to_numpy(dtype=object)[best_index[order]]
    return pd.DataFrame(table)
