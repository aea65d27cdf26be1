"""The model's view of a row: a fixed-width float32 vector in [-1, 1], built from PUBLIC transforms only.

Every transform is fixed by the resolved schema (declared or DP-discovered domains), never by statistics of
the data, so encoding leaks nothing beyond the schema.  Identifier columns are not encoded.

==============  ======================================================================================
numeric         min-max to [-1, 1] with the schema's bounds (values clipped); integers round on decode
datetime        the same, on epoch days (resolution ``day``) or seconds (``second``), truncated to the
                resolution; decoded to the resolution, inside the range
categorical     K levels (+1 "missing" level if nullable): K <= ``onehot_max`` -> one-hot as +-1;
                K > ``onehot_max`` -> analog bits: ceil(log2 K) +-1 bits of the Gray code of the level
                index, decoded to the VALID level whose code has the largest inner product with the output
nullable        numeric and datetime columns get a +-1 missing indicator (+1 = missing; value slot 0)
==============  ======================================================================================

``decode`` returns only declared values whatever the array holds (NaN included): categories from the list
(null only where nullable), numbers and datetimes inside their bounds, integers whole.

Precision caveat: float32 has a 24-bit mantissa, so values round-trip exactly only while the range spans
fewer than about 2**22 steps of the resolution (integers up to ~4 million apart; second-resolution
datetimes up to ~48 days apart, day-resolution ones over any realistic range).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from synthdata.modalities.table.reader import naive_utc, parse_datetimes, parse_numbers, to_naive_utc
from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    TableSchema,
)

_CODEC_FORMAT = "synthdata.table_codec"
_CODEC_VERSION = 1
_DECODE_CHUNK = 16_384  # rows per matrix product when decoding analog bits
_SECONDS = {"day": 86_400, "second": 1}
_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class ScalarBlock:
    """A number (or a datetime in whole resolution units) min-max scaled to [-1, 1]."""

    column: str
    low: float
    high: float
    nullable: bool
    whole: bool  # round to whole units on decode
    encoding: ClassVar[str] = "minmax"

    @property
    def width(self) -> int:
        return 2 if self.nullable else 1

    def values(self, series: pl.Series) -> np.ndarray:
        text = series.dtype == pl.String
        return (parse_numbers(series) if text else series.cast(pl.Float64)).fill_nan(None).to_numpy()

    def encode(self, series: pl.Series) -> np.ndarray:
        values = np.asarray(self.values(series), dtype=np.float64)
        missing = np.isnan(values)
        if missing.any() and not self.nullable:
            raise ValueError(f"column '{self.column}' has missing values but is not nullable")
        scaled = np.clip(2.0 * (values - self.low) / (self.high - self.low) - 1.0, -1.0, 1.0)
        scaled[missing] = 0.0
        if not self.nullable:
            return scaled[:, None]
        return np.stack([scaled, np.where(missing, 1.0, -1.0)], axis=1)

    def units(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decoded values (in column units, inside the bounds) and the missing mask."""
        values = self.low + (np.clip(block[:, 0], -1.0, 1.0) + 1.0) / 2.0 * (self.high - self.low)
        if self.whole:
            values = np.clip(np.rint(values), math.ceil(self.low), math.floor(self.high))
        else:
            values = np.clip(values, self.low, self.high)
        missing = block[:, 1] > 0 if self.nullable else np.zeros(len(block), dtype=bool)
        return values, missing

    def decode(self, block: np.ndarray) -> pl.Series:
        values, missing = self.units(block)
        series = pl.Series(self.column, np.where(missing, np.nan, values), nan_to_null=True)
        return series.cast(pl.Int64) if self.whole else series


@dataclass(frozen=True)
class TimestampBlock(ScalarBlock):
    """A datetime as whole days or seconds since the epoch, min-max scaled like a number."""

    unit: int = 1  # seconds per resolution step
    format: str | None = None

    def values(self, series: pl.Series) -> np.ndarray:
        if series.dtype == pl.String:
            stamps = parse_datetimes(series, format=self.format)
        else:
            stamps = to_naive_utc(series.cast(pl.Datetime("us")) if series.dtype == pl.Date else series)
        micros = stamps.dt.epoch("us").cast(pl.Float64).to_numpy()
        return np.floor(micros / (self.unit * 1e6))  # truncated to the resolution; NaN stays NaN

    def decode(self, block: np.ndarray) -> pl.Series:
        values, missing = self.units(block)
        micros = pl.Series(self.column, np.where(missing, np.nan, values * self.unit * 1e6), nan_to_null=True)
        return micros.cast(pl.Int64).cast(pl.Datetime("us"))


@dataclass(frozen=True)
class LevelsBlock:
    """A categorical column as one-hot (+-1) or as analog bits of Gray-coded level indices."""

    column: str
    categories: tuple[str, ...]
    nullable: bool
    other: str | None
    encoding: str  # "onehot" or "analog_bits"
    codebook: np.ndarray  # (levels, width) of +-1; the missing level, if any, is last

    @property
    def width(self) -> int:
        return int(self.codebook.shape[1])

    @classmethod
    def build(cls, *, column: str, spec: CategoricalColumn, onehot_max: int) -> "LevelsBlock":
        assert isinstance(spec.categories, list)
        levels = len(spec.categories) + (1 if spec.nullable else 0)
        encoding = "onehot" if levels <= onehot_max else "analog_bits"
        if encoding == "onehot":
            codebook = 2.0 * np.eye(levels) - 1.0
        else:
            bits = math.ceil(math.log2(levels))
            index = np.arange(levels)
            gray = index ^ (index >> 1)
            codebook = ((gray[:, None] >> np.arange(bits - 1, -1, -1)) & 1) * 2.0 - 1.0
        return cls(column=column, categories=tuple(spec.categories), nullable=spec.nullable, other=spec.other,
                   encoding=encoding, codebook=codebook)

    def encode(self, series: pl.Series) -> np.ndarray:
        text = series.cast(pl.String)
        index = text.replace_strict(list(self.categories), list(range(len(self.categories))), default=-1,
                                    return_dtype=pl.Int64)
        nulls = text.is_null().to_numpy()
        index = np.array(index.fill_null(-1).to_numpy(), dtype=np.int64)
        if nulls.any() and not self.nullable:
            raise ValueError(f"column '{self.column}' has missing values but is not nullable")
        index[nulls] = len(self.categories)
        if self.other is not None:  # the reader's rule: values outside the list fold into `other`
            index[index < 0] = self.categories.index(self.other)
        if (index < 0).any():
            raise ValueError(f"column '{self.column}' has {int((index < 0).sum())} value(s) outside its categories")
        return self.codebook[index]

    def decode(self, block: np.ndarray) -> pl.Series:
        index = np.argmax(block, axis=1) if self.encoding == "onehot" else self._nearest_level(block)
        levels = pl.Series(self.column, [*self.categories, *([None] if self.nullable else [])], dtype=pl.String)
        return levels.gather(index.astype(np.int64))

    def _nearest_level(self, block: np.ndarray) -> np.ndarray:
        """The valid level whose +-1 code has the largest inner product with each row.

        Over ALL codes the maximum is the sign pattern of the row, so rows whose sign pattern is a valid
        level are done; only the others need the matrix product against the valid codes.
        """
        levels, bits = self.codebook.shape
        gray = (block > 0).astype(np.int64) @ (1 << np.arange(bits - 1, -1, -1))
        index = gray.copy()
        shift = gray >> 1
        while shift.any():  # Gray code -> level index (at most `bits` vectorised steps)
            index ^= shift
            shift >>= 1
        invalid = np.flatnonzero(index >= levels)
        for start in range(0, invalid.size, _DECODE_CHUNK):
            rows = invalid[start : start + _DECODE_CHUNK]
            index[rows] = np.argmax(block[rows] @ self.codebook.T, axis=1)
        return index


class TableCodec:
    """Encode a typed table to a float32 matrix in [-1, 1] and decode model output back to valid rows.

    Built from a RESOLVED schema only (nothing left to discover).  Only public schema facts shape the codec,
    so it can be stored and shipped with a release (``to_dict``).
    """

    def __init__(self, *, schema: TableSchema, onehot_max: int = 16) -> None:
        if schema.needs_discovery:
            raise ValueError(f"resolve the schema first: {', '.join(schema.needs_discovery)} need(s) discovery")
        if onehot_max < 1:
            raise ValueError("onehot_max must be >= 1")
        self.schema = schema
        self.onehot_max = int(onehot_max)
        self._blocks: list[ScalarBlock | LevelsBlock] = [self._block(name) for name in schema.modelled_columns]
        self._starts = np.cumsum([0] + [block.width for block in self._blocks]).tolist()
        self.width: int = int(self._starts[-1])

    @property
    def blocks(self) -> list[tuple[ScalarBlock | LevelsBlock, slice]]:
        """Each modelled column's block and where it sits in an encoded row, in column order."""
        return [(block, slice(start, start + block.width)) for block, start in zip(self._blocks, self._starts)]

    def _block(self, name: str) -> ScalarBlock | LevelsBlock:
        spec = self.schema.columns[name]
        if isinstance(spec, CategoricalColumn):
            return LevelsBlock.build(column=name, spec=spec, onehot_max=self.onehot_max)
        if isinstance(spec, DatetimeColumn):
            assert spec.min is not None and spec.max is not None
            unit = _SECONDS[spec.resolution]
            low = (naive_utc(spec.min) - _EPOCH).total_seconds() / unit
            high = (naive_utc(spec.max) - _EPOCH).total_seconds() / unit
            if math.ceil(low) > math.floor(high):
                raise ValueError(f"column '{name}': no whole {spec.resolution} lies inside its range")
            return TimestampBlock(column=name, low=low, high=high, nullable=spec.nullable, whole=True, unit=unit,
                              format=spec.format)
        assert isinstance(spec, NumericColumn) and spec.min is not None and spec.max is not None
        if spec.integer and math.ceil(spec.min) > math.floor(spec.max):
            raise ValueError(f"column '{name}': no whole number lies inside its bounds")
        return ScalarBlock(column=name, low=float(spec.min), high=float(spec.max), nullable=spec.nullable,
                       whole=spec.integer)

    def encode(self, frame: pl.DataFrame) -> np.ndarray:
        """``frame`` (typed as ``read_table`` returns it) -> float32 array (rows, width); identifiers ignored."""
        absent = [block.column for block in self._blocks if block.column not in frame.columns]
        if absent:
            raise ValueError(f"frame lacks modelled column(s) {', '.join(absent)}")
        out = np.empty((frame.height, self.width), dtype=np.float32)
        for block, start in zip(self._blocks, self._starts):
            out[:, start : start + block.width] = block.encode(frame[block.column])
        return out

    def decode(self, array: np.ndarray) -> pl.DataFrame:
        """Model output (rows, width) -> the modelled columns, with exact schema types and domains."""
        array = np.asarray(array, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != self.width:
            raise ValueError(f"expected an array of shape (rows, {self.width}), got {array.shape}")
        array = np.nan_to_num(array, nan=0.0, posinf=1.0, neginf=-1.0)
        return pl.DataFrame([block.decode(np.ascontiguousarray(array[:, start : start + block.width]))
                             for block, start in zip(self._blocks, self._starts)])

    def describe(self) -> list[dict[str, Any]]:
        """The public layout: one entry per modelled column, in order."""
        layout = []
        for block, start in zip(self._blocks, self._starts):
            entry: dict[str, Any] = {"column": block.column, "type": self.schema.columns[block.column].type,
                                     "encoding": block.encoding, "start": int(start), "width": block.width}
            if isinstance(block, LevelsBlock):
                entry["levels"] = len(block.categories) + (1 if block.nullable else 0)
            if isinstance(block, ScalarBlock) and block.nullable:
                entry["encoding"] += "+missing"
            layout.append(entry)
        return layout

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings: the (public) schema and ``onehot_max``."""
        return {"format": _CODEC_FORMAT, "version": _CODEC_VERSION, "onehot_max": self.onehot_max,
                "schema": self.schema.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TableCodec":
        if data.get("format") != _CODEC_FORMAT or data.get("version") != _CODEC_VERSION:
            raise ValueError("not a synthdata table codec (format/version mismatch)")
        return cls(schema=TableSchema.model_validate(data["schema"]), onehot_max=int(data["onehot_max"]))

