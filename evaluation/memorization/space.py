"""The distance each modality's memorization and membership audits search in, behind one small interface.

``distance_space(context, sides)`` returns an object with ``encode(side)``, ``stack(encoded)``, ``take(encoded,
index)`` and
``neighbours(query, reference, k)`` (distances and indices of the ``k`` nearest reference items, ascending),
plus ``notes`` on how it encoded.  The audits (DCR share, near copies, membership inference) are written
once against it:

- tables: rows encoded by :class:`~evaluation.memorization.encoding.RowEncoder` (numbers scaled by public
  bounds, a differing category costs 1), Euclidean distance;
- signals (ECG, EEG): windows compared by shift-tolerant normalised cross-correlation
  (:mod:`evaluation.signals.similarity`), distance ``1 - max NCC``;
- images: shift-tolerant root mean square pixel difference on the [-1, 1] scale
  (:mod:`evaluation.images.similarity`).

Keyed by the kind of data view (``synthdata.views``), not by modality: a modality handing the audits one of
these views needs no entry; a new kind of view adds one to ``SPACES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from evaluation.base import AuditContext
from evaluation.memorization.encoding import EncodedRows, RowEncoder, nearest_neighbours
from synthdata.views.images import ImageAuditSet
from synthdata.views.signals import SignalSet


class DistanceSpace(Protocol):
    notes: list[str]

    def encode(self, side: Any) -> Any: ...

    def stack(self, encoded: Sequence[Any]) -> Any: ...

    def take(self, encoded: Any, index: np.ndarray) -> Any: ...

    def neighbours(self, query: Any, reference: Any, *, k: int = 1) -> tuple[np.ndarray, np.ndarray]: ...


class TableSpace:
    """Rows of a table: ``RowEncoder`` encoding, exact Euclidean nearest neighbours."""

    def __init__(self, *, context: AuditContext, sides: Sequence[Any]) -> None:
        self._encoder = RowEncoder(schema=context.schema, frames=list(sides))
        self.notes = self._encoder.notes

    def encode(self, side: Any) -> EncodedRows:
        return self._encoder.encode(side)

    def stack(self, encoded: Sequence[EncodedRows]) -> EncodedRows:
        return EncodedRows(numeric=np.vstack([e.numeric for e in encoded]),
                           codes=np.vstack([e.codes for e in encoded]), levels=encoded[0].levels)

    def take(self, encoded: EncodedRows, index: np.ndarray) -> EncodedRows:
        return encoded.take(index)

    def neighbours(self, query: EncodedRows, reference: EncodedRows, *, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        return nearest_neighbours(query, reference, k=k)


def _signal_space(*, context: AuditContext, sides: Sequence[Any]) -> DistanceSpace:
    from evaluation.signals.similarity import SignalSpace

    return SignalSpace(fs=context.schema.fs)


def _image_space(*, context: AuditContext, sides: Sequence[Any]) -> DistanceSpace:
    from evaluation.images.similarity import ImageSpace

    return ImageSpace()


SPACES: dict[type, Callable[..., DistanceSpace]] = {
    pd.DataFrame: TableSpace,
    SignalSet: _signal_space,
    ImageAuditSet: _image_space,
}


def distance_space(context: AuditContext, *, sides: Sequence[Any]) -> DistanceSpace:
    """The distance space of the context's view, fitted on ``sides`` where it needs fitting."""
    kind = next(k for k in type(context.synthetic).__mro__ if k in SPACES)
    return SPACES[kind](context=context, sides=sides)


def nearest_distances(space: DistanceSpace, query: Any, reference: Any, *, k: int = 1) -> np.ndarray:
    """Distances only, ``(n_query, k)`` ascending."""
    return space.neighbours(query, reference, k=k)[0]
