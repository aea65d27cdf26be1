"""Shared row encoding and nearest-neighbour distances for the distance-based audits.

Every modelled column becomes a block of a Euclidean embedding in which each column costs at most about 1:

- numeric and datetime columns are scaled by their PUBLIC bounds to [0, 1] (values outside the bounds keep
  their distance; they are not clipped), a missing value is 0 plus a missing-indicator column;
- categorical columns are one-hot encoded with entries 1/sqrt(2), so two rows that differ in one categorical
  column are at distance exactly 1; a missing value is its own level; missing-indicators of numeric columns
  are encoded the same way (present/missing are two levels).

For speed and exact ties, the one-hot block is stored as integer level codes and the distance is computed
as ``d^2 = sum((x_num - y_num)^2) + (number of categorical columns that differ)``, which equals the squared
Euclidean distance of the scaled one-hot embedding (``EncodedRows.embedding`` returns that matrix).

Privacy caveat: the encoder adds to the public category lists the values it sees in the frames it is built
from (so a value outside the public list is not confused with another one), and falls back to the frames'
own range for a numeric column without public bounds (said in ``notes``).  Both stay inside the audit: the
encoding is never written out, only aggregates of the distances are.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    IdentifierColumn,
    NumericColumn,
    TableSchema,
)

MISSING_LEVEL = "\x00missing"
_DAY_SECONDS = 86_400.0


def modelled_columns(schema: TableSchema, frame: pd.DataFrame) -> list[str]:
    """The schema's modelled columns that are present in ``frame`` (declaration order)."""
    return [name for name in schema.modelled_columns if name in frame.columns]


def as_float(series: pd.Series, column: NumericColumn | DatetimeColumn) -> np.ndarray:
    """Numeric values of a numeric or datetime column as float64 (NaN for missing).

    Datetimes become seconds (or days, for day resolution) since the epoch.
    """
    if isinstance(column, DatetimeColumn):
        stamps = pd.to_datetime(series, errors="coerce", format=column.format)
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_localize(None)
        seconds = (stamps - pd.Timestamp(0)).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
        return seconds / _DAY_SECONDS if column.resolution == "day" else seconds
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def public_range(column: NumericColumn | DatetimeColumn) -> tuple[float, float] | None:
    """The column's public (min, max) as floats in the unit of ``as_float``, or None if undeclared."""
    if column.min is None or column.max is None:
        return None
    if isinstance(column, DatetimeColumn):
        scale = _DAY_SECONDS if column.resolution == "day" else 1.0
        low = (pd.Timestamp(column.min).tz_localize(None) - pd.Timestamp(0)).total_seconds() / scale
        high = (pd.Timestamp(column.max).tz_localize(None) - pd.Timestamp(0)).total_seconds() / scale
        return float(low), float(high)
    return float(column.min), float(column.max)


def as_strings(series: pd.Series) -> pd.Series:
    """Categorical values as Python strings, with None for missing."""
    missing = series.isna().to_numpy()
    strings = series.astype(str).astype(object)
    strings[missing] = None
    return strings


@dataclass(frozen=True)
class EncodedRows:
    """Encoded rows: scaled numeric block (float32) and categorical level codes (int64)."""

    numeric: np.ndarray
    codes: np.ndarray
    levels: tuple[int, ...]  # number of levels of each code column

    def __len__(self) -> int:
        return self.numeric.shape[0]

    def take(self, index: np.ndarray) -> EncodedRows:
        return EncodedRows(numeric=self.numeric[index], codes=self.codes[index], levels=self.levels)

    def _columns(self) -> np.ndarray:
        """Each code's column in the one-hot matrix, ``(n, code columns)``."""
        return self.codes + np.concatenate([[0], np.cumsum(self.levels)[:-1]]).astype(np.int64)

    def onehot(self) -> np.ndarray:
        """Unscaled 0/1 one-hot matrix of the code columns (float32)."""
        out = np.zeros((len(self), int(sum(self.levels))), dtype=np.float32)
        if self.codes.shape[1]:
            rows = np.repeat(np.arange(len(self)), self.codes.shape[1])
            out[rows, self._columns().ravel()] = 1.0
        return out

    def onehot_sparse(self) -> torch.Tensor:
        """The same 0/1 one-hot matrix as a sparse CSR tensor: one entry per code, so wide code lists (1,400
        ICD-9 codes) cost memory per record, not per level."""
        n, width = len(self), int(sum(self.levels))
        per_row = self.codes.shape[1]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            return torch.sparse_csr_tensor(
                torch.arange(0, n * per_row + 1, max(per_row, 1), dtype=torch.int64)[: n + 1] if per_row
                else torch.zeros(n + 1, dtype=torch.int64),
                torch.from_numpy(self._columns().ravel().astype(np.int64)),
                torch.ones(n * per_row, dtype=torch.float32), size=(n, width), check_invariants=True)

    def embedding(self) -> np.ndarray:
        """The Euclidean embedding: numeric block next to the one-hot block scaled by 1/sqrt(2)."""
        return np.hstack([self.numeric, self.onehot() * np.float32(1.0 / math.sqrt(2.0))])


@dataclass
class RowEncoder:
    """Encodes the modelled columns of frames consistently (build once from every frame to encode)."""

    schema: TableSchema
    frames: Sequence[pd.DataFrame]
    columns: list[str] = field(init=False)
    notes: list[str] = field(init=False, default_factory=list)
    _ranges: dict[str, tuple[float, float]] = field(init=False, default_factory=dict)
    _levels: dict[str, list[str]] = field(init=False, default_factory=dict)
    _indicators: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.columns = modelled_columns(self.schema, self.frames[0])
        for name in self.columns:
            column = self.schema.columns[name]
            if isinstance(column, (NumericColumn, DatetimeColumn)):
                bounds = public_range(column)
                if bounds is None:
                    pooled = np.concatenate([as_float(f[name], column) for f in self.frames])
                    pooled = pooled[np.isfinite(pooled)]
                    bounds = (float(pooled.min()), float(pooled.max())) if pooled.size else (0.0, 1.0)
                    self.notes.append(f"column {name} has no public bounds: scaled by the audited data's range")
                low, high = bounds
                self._ranges[name] = (low, high if high > low else low + 1.0)
                if column.nullable or any((~np.isfinite(as_float(f[name], column))).any() for f in self.frames):
                    self._indicators.add(name)
            elif isinstance(column, CategoricalColumn):
                public = list(column.categories) if isinstance(column.categories, list) else []
                seen: set[str] = set()
                for frame in self.frames:
                    seen.update(v for v in as_strings(frame[name]).unique() if v is not None)
                extra = sorted(seen.difference(public))
                if extra:
                    self.notes.append(f"column {name}: {len(extra)} value(s) outside the public category list")
                self._levels[name] = [*public, *extra, MISSING_LEVEL]
            elif not isinstance(column, IdentifierColumn):  # pragma: no cover - schema types are closed
                raise TypeError(f"unsupported column type for {name}")

    def encode(self, frame: pd.DataFrame) -> EncodedRows:
        numeric: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        levels: list[int] = []
        for name in self.columns:
            column = self.schema.columns[name]
            if name in self._ranges:
                low, high = self._ranges[name]
                values = (as_float(frame[name], column) - low) / (high - low)
                missing = ~np.isfinite(values)
                numeric.append(np.where(missing, 0.0, values))
                if name in self._indicators:
                    codes.append(missing.astype(np.int64))
                    levels.append(2)
            else:
                vocabulary = self._levels[name]
                strings = as_strings(frame[name]).fillna(MISSING_LEVEL)
                code = pd.Categorical(strings, categories=vocabulary).codes.astype(np.int64)
                if (code < 0).any():
                    raise ValueError(f"column {name} holds a value the encoder was not built with")
                codes.append(code)
                levels.append(len(vocabulary))
        n = len(frame)
        return EncodedRows(
            numeric=np.column_stack(numeric).astype(np.float32) if numeric else np.zeros((n, 0), np.float32),
            codes=np.column_stack(codes) if codes else np.zeros((n, 0), np.int64),
            levels=tuple(levels),
        )


def nearest_distances(
    query: EncodedRows, reference: EncodedRows, *, k: int = 1, chunk: int = 256
) -> np.ndarray:
    """Distances from each query row to its ``k`` nearest reference rows, shape (n_query, k), ascending."""
    return nearest_neighbours(query, reference, k=k, chunk=chunk)[0]


def nearest_neighbours(
    query: EncodedRows, reference: EncodedRows, *, k: int = 1, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each query row's ``k`` nearest reference rows, each (n_query, k), ascending.

    Chunked float32 torch computation: exact for the categorical part (match counts of 0/1 one-hot
    vectors), float32-accurate (about 1e-6) for the numeric part; identical rows are at distance 0.
    """
    if len(reference) < k:
        raise ValueError(f"need at least {k} reference rows, got {len(reference)}")
    ref_num = torch.from_numpy(reference.numeric)
    ref_hot = reference.onehot_sparse()  # (n_reference, levels): a dense one would be n x 4,459 floats
    n_cat = float(query.codes.shape[1])
    distances = np.empty((len(query), k), dtype=np.float64)
    indices = np.empty((len(query), k), dtype=np.int64)
    for start in range(0, len(query), chunk):
        stop = min(start + chunk, len(query))
        q_num = torch.from_numpy(query.numeric[start:stop])
        if q_num.shape[1]:
            squared = torch.cdist(q_num, ref_num, compute_mode="donot_use_mm_for_euclid_dist").square_()
        else:
            squared = torch.zeros((stop - start, len(reference)), dtype=torch.float32)
        if n_cat:
            query_hot = torch.from_numpy(query.take(np.arange(start, stop)).onehot())
            squared += n_cat - (ref_hot @ query_hot.T).T
        nearest = torch.topk(squared, k, dim=1, largest=False, sorted=True)
        distances[start:stop] = nearest.values.clamp_min_(0.0).sqrt_().double().numpy()
        indices[start:stop] = nearest.indices.numpy()
    return distances, indices
