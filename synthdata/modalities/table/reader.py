"""Read a private table (CSV, TSV or Parquet) into a typed polars frame, checked against its schema.

Every reader sees the same nulls: the schema's ``missing_values`` tokens (or
``schema.DEFAULT_MISSING_VALUES`` without a schema) become null, and so does an empty field.  With a schema
the frame has exactly the declared columns, in declaration order, typed:

==============  ==============================================================================
numeric         Float64 (Int64 if ``integer``); NaN counts as missing
categorical     String
datetime        Datetime("us"), naive, in UTC (ISO 8601 text or the column's ``format``)
identifier      String (kept here: the subject column is needed for grouping; the encoder drops it)
==============  ==============================================================================

Values outside the public domain are refused, unless the schema says what to do with them (``other`` for
categorical columns, ``clip: true`` for numeric and datetime ones).

Privacy caveat: the errors raised here are read by the data steward but may also land in Dagster's event log,
which keeps them forever.  A message therefore names the file, the column and counts / 1-based row numbers
(at most five), never a data value; up to three offending values go into the error's ``hint``, which only
the local CLI prints.  Parser messages (which may quote a line of the file) also go into the hint only.

CSV text is parsed with pyarrow's CSV reader (every column as text) and handed to polars: polars' own CSV
reader pads short rows with nulls and reads blank lines as all-null rows, which would silently turn a
malformed line into missing values.  pyarrow refuses rows with the wrong number of fields and reports their
record numbers; blank lines are skipped.  The header is read with polars.  ``type_frame`` applies the same
typing rules to a frame already in memory (the text of an inferred-schema read, once its schema is resolved).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from synthdata.errors import BadInputError
from synthdata.modalities.table.schema import (
    DEFAULT_MISSING_VALUES,
    BooleanColumn,
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    TableSchema,
)

CSV_SUFFIXES: dict[str, str] = {".csv": ",", ".csv.gz": ",", ".tsv": "\t", ".tsv.gz": "\t"}
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")

#: ISO 8601 layouts tried in turn when a datetime column declares no ``format`` (``%.f`` is optional).
ISO_FORMATS: tuple[str, ...] = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%.f",
                                "%Y-%m-%d %H:%M:%S%.f")
ISO_FORMATS_TZ: tuple[str, ...] = ("%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")

_MAX_ROWS_SHOWN = 5
_MAX_EXAMPLES = 3


def read_table(*, path: Path, schema: TableSchema | None, missing_values: Sequence[str] | None = None) -> pl.DataFrame:
    """Read ``path`` and type it by ``schema``; every column as nullable String when ``schema`` is None.

    ``missing_values`` overrides the tokens read as missing (default: the schema's, else the defaults).

    Raises BadInputError for every problem with the file or its values (see the module docstring for what
    the message may contain).
    """
    path = Path(path)
    if missing_values is not None:
        tokens = list(missing_values)
    else:
        tokens = list(schema.missing_values) if schema is not None else list(DEFAULT_MISSING_VALUES)
    frame = _read_raw(path=path, tokens=tokens)
    if schema is None:
        return frame.select(_as_text(frame[name], tokens) for name in frame.columns)
    return _Typer(source=f"data file {path}", schema=schema, tokens=tokens).run(frame)


def type_frame(*, frame: pl.DataFrame, schema: TableSchema, source: str) -> pl.DataFrame:
    """Type a frame already in memory (e.g. the text of ``read_table(schema=None)``) by ``schema``.

    Same rules and errors as ``read_table``; ``source`` names the data in messages (e.g. the file name).
    """
    if frame.height == 0:
        raise BadInputError(f"data {source} has no rows")
    return _Typer(source=f"data {source}", schema=schema, tokens=list(schema.missing_values)).run(frame)


# --------------------------------------------------------------------------------------------------- files


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    return ""


def _read_raw(*, path: Path, tokens: list[str]) -> pl.DataFrame:
    if not path.is_file():
        raise BadInputError(f"data file {path} does not exist")
    suffix = _suffix(path)
    if not suffix:
        known = ", ".join((*CSV_SUFFIXES, *PARQUET_SUFFIXES))
        raise BadInputError(f"data file {path} has an unsupported extension; use one of {known}")
    if path.stat().st_size == 0:
        raise BadInputError(f"data file {path} is empty")
    if suffix in PARQUET_SUFFIXES:
        try:
            frame = pl.read_parquet(path)
        except Exception as exc:  # polars raises several kinds for a corrupt file
            raise BadInputError(f"data file {path} is not a readable Parquet file",
                                hint=_clip(str(exc), 300)) from None
    else:
        frame = _read_csv(path=path, separator=CSV_SUFFIXES[suffix], tokens=tokens)
    if frame.width == 0:
        raise BadInputError(f"data file {path} has no columns")
    if frame.height == 0:
        raise BadInputError(f"data file {path} has no rows (only a header)")
    return frame


def _check_text(path: Path) -> None:
    """Refuse a CSV that is not UTF-8 text, naming its encoding (UTF-16/32 by their byte-order mark) or the first
    row whose bytes are not UTF-8 (Latin-1, Windows-1252, ...)."""
    with _open_bytes(path) as handle:
        start = handle.read(4)
        if start[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
            raise BadInputError(f"data file {path} is UTF-32 text, not UTF-8: save it as UTF-8")
        if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise BadInputError(f"data file {path} is UTF-16 text, not UTF-8: save it as UTF-8")
        handle.seek(0)
        for number, line in enumerate(handle):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                where = "its header" if number == 0 else f"row {number} (1-based data rows, header not counted)"
                raise BadInputError(f"data file {path} is not UTF-8 text: {where} holds bytes that are not UTF-8 "
                                    "(another encoding, such as Latin-1 or Windows-1252?): save the file as "
                                    "UTF-8") from None


def _open_bytes(path: Path):
    """``path`` opened for reading bytes, decompressed when it ends in .gz."""
    import gzip

    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _read_csv(*, path: Path, separator: str, tokens: list[str]) -> pl.DataFrame:
    with _open_bytes(path) as handle:
        start = handle.read(4)
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        _check_text(path)  # names the encoding
    try:
        header = pl.read_csv(path, has_header=False, n_rows=1, infer_schema=False, separator=separator,
                             truncate_ragged_lines=True)
    except pl.exceptions.NoDataError:
        raise BadInputError(f"data file {path} is empty") from None
    except Exception as exc:
        _check_text(path)  # a header that is not UTF-8: say so
        raise BadInputError(f"data file {path} is not a readable CSV file", hint=_clip(str(exc), 300)) from None
    names = [str(name) if name is not None else "" for name in header.row(0)] if header.height else []
    if not names:
        raise BadInputError(f"data file {path} is empty")
    if len(names) == 1:
        other = next((s for s in (";", "\t", "|", ",") if s != separator and s in names[0]), None)
        if other is not None:
            shown = {"\t": "tab", ";": "';'", "|": "'|'", ",": "','"}[other]
            expected = {"\t": "tab", ",": "','"}.get(separator, repr(separator))
            raise BadInputError(
                f"data file {path}: its header is one field holding {shown}: the file seems to use {shown} as its "
                f"delimiter, and {path.suffix} files are read with {expected}. Save it comma-separated as .csv (or "
                "tab-separated as .tsv)")
    unnamed = [i + 1 for i, name in enumerate(names) if not name.strip()]
    if unnamed:
        raise BadInputError(f"data file {path}: header field(s) {_numbers(unnamed)} have no column name")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BadInputError(f"data file {path}: column name(s) {_names(repeated)} appear more than once")

    bad_rows: list[tuple[int | None, int, str]] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.actual_columns, row.text))
        return "skip"

    generated = [f"f{i}" for i in range(len(names))]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=generated, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=separator, newlines_in_values=True,
                                             invalid_row_handler=on_invalid_row),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in generated},
                null_values=sorted({"", *tokens}), strings_can_be_null=True, quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeError) as exc:
        if "utf-8" in str(exc).lower() or isinstance(exc, UnicodeError):
            _check_text(path)  # names the first row that is not UTF-8
        raise BadInputError(f"data file {path} is not a readable CSV file", hint=_clip(str(exc), 300)) from None
    if bad_rows:
        # pyarrow numbers records from 1 with the header as record 1 (when it knows the number at all).
        rows = [number - 1 for number, _, _ in bad_rows if number is not None][:_MAX_ROWS_SHOWN]
        where = f" (rows {_numbers(rows)}; 1-based data rows, header not counted)" if rows else ""
        examples = [f"{count} fields: {_clip(repr(text), 80)}" for _, count, text in bad_rows[:_MAX_EXAMPLES]]
        raise BadInputError(
            f"data file {path} is malformed: {len(bad_rows)} row(s) do not have the header's "
            f"{len(names)} fields{where}",
            hint="malformed rows: " + "; ".join(examples),
        )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.rename(dict(zip(generated, names)))


# ------------------------------------------------------------------------------------------ value parsing


def parse_numbers(text: pl.Series) -> pl.Series:
    """Text (surrounding blanks ignored) -> Float64; null where the text is not a number."""
    return text.str.strip_chars().cast(pl.Float64, strict=False)


def parse_datetimes(text: pl.Series, *, format: str | None) -> pl.Series:
    """Text -> naive UTC Datetime("us"): ``format`` if given, else the ISO 8601 layouts; null where none fits.

    Times with an offset (``Z``, ``+02:00``) are converted to UTC and their zone dropped.
    """
    stripped = text.str.strip_chars()
    formats = (format,) if format else ISO_FORMATS + ISO_FORMATS_TZ
    parsed = [to_naive_utc(stripped.str.to_datetime(fmt, strict=False, exact=True, time_unit="us"))
              for fmt in formats]
    return pl.select(pl.coalesce(parsed)).to_series().alias(text.name)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """A schema bound as a naive UTC datetime (aware bounds are converted to UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def to_naive_utc(series: pl.Series) -> pl.Series:
    """A Datetime series as naive UTC Datetime("us") (zoned values are converted to UTC first)."""
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return series.cast(pl.Datetime("us"))


def _as_text(series: pl.Series, tokens: Sequence[str]) -> pl.Series:
    """Any column as String with NaN, empty fields and missing tokens as null."""
    if series.dtype.is_float():
        series = series.fill_nan(None)
        present = series.drop_nulls()
        if bool((present % 1 == 0).all()) and bool((present.abs() < 2.0**53).all()):
            series = series.cast(pl.Int64)  # whole numbers read as "3", as in a CSV, not "3.0"
    elif isinstance(series.dtype, pl.Datetime):
        series = to_naive_utc(series)
    elif series.dtype == pl.Date:
        series = series.cast(pl.Datetime("us"))
    text = series.cast(pl.String)
    return text.set(text.is_in([*tokens, ""]).fill_null(False), None)


# ---------------------------------------------------------------------------------------------- checking


@dataclass
class _Typer:
    """Types each declared column and collects every problem, so the steward sees them all at once."""

    source: str
    schema: TableSchema
    tokens: list[str]
    problems: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    def run(self, frame: pl.DataFrame) -> pl.DataFrame:
        declared = list(self.schema.columns)
        undeclared = [name for name in frame.columns if name not in self.schema.columns]
        missing = [name for name in declared if name not in frame.columns]
        if missing:
            self.problems.append(f"declared column(s) {_names(missing)} are missing from the data")
        if undeclared:
            self.problems.append(
                f"column(s) {_names(undeclared)} are in the data but not declared in the schema: add them to "
                "the schema, with type identifier to drop them"
            )
        self._raise_if_problems()
        typed = [self._column(name, frame[name]) for name in declared]
        self._raise_if_problems()
        return pl.DataFrame(typed)

    def _raise_if_problems(self) -> None:
        if self.problems:
            message = f"{self.source} does not match its schema: " + "; ".join(self.problems)
            hint = "; ".join(self.hints) if self.hints else None
            raise BadInputError(message, hint=hint)

    def _problem(self, name: str, what: str, mask: np.ndarray, examples: pl.Series | None = None) -> None:
        rows = np.flatnonzero(mask)
        self.problems.append(
            f"column '{name}': {rows.size} {what} (rows {_numbers((rows[:_MAX_ROWS_SHOWN] + 1).tolist())}"
            f"{', ...' if rows.size > _MAX_ROWS_SHOWN else ''}; 1-based data rows)"
        )
        if examples is not None:
            shown = examples.filter(pl.Series(mask)).unique(maintain_order=True).head(_MAX_EXAMPLES)
            self.hints.append(f"column '{name}' e.g. " + ", ".join(_clip(repr(v), 40) for v in shown.to_list()))

    def _column(self, name: str, raw: pl.Series) -> pl.Series:
        column = self.schema.columns[name]
        if isinstance(column, NumericColumn):
            series = self._numeric(name, raw, column)
        elif isinstance(column, DatetimeColumn):
            series = self._datetime(name, raw, column)
        else:
            series = _as_text(raw, self.tokens)
            if isinstance(column, BooleanColumn):
                series = _as_boolean(series)
            if isinstance(column, CategoricalColumn) and isinstance(column.categories, list):
                series = self._categories(name, series, column)
        nulls = series.is_null().to_numpy()
        if name == self.schema.subject and nulls.any():
            self._problem(name, "missing value(s) in the subject column (every row needs its subject)", nulls)
        elif not column.nullable and nulls.any():
            self._problem(name, "missing value(s) in a column declared nullable: false", nulls)
        return series.alias(name)

    def _numeric(self, name: str, raw: pl.Series, column: NumericColumn) -> pl.Series:
        if raw.dtype.is_numeric() or raw.dtype == pl.Boolean:
            text = None
            values = raw.cast(pl.Float64)
        else:
            text = _as_text(raw, self.tokens)
            values = parse_numbers(text)
            bad = (text.is_not_null() & values.is_null()).to_numpy()
            if bad.any():
                self._problem(name, "value(s) are not numbers", bad, text)
        values = values.fill_nan(None)
        shown = text if text is not None else values
        infinite = values.is_infinite().fill_null(False).to_numpy()
        if infinite.any():
            self._problem(name, "value(s) are not finite numbers", infinite, shown)
            values = values.set(pl.Series(infinite), None)
        if column.clip:
            values = values.clip(column.min, column.max)
        else:
            low = (values < column.min).fill_null(False) if column.min is not None else None
            high = (values > column.max).fill_null(False) if column.max is not None else None
            outside = [m.to_numpy() for m in (low, high) if m is not None]
            if outside and (mask := np.logical_or.reduce(outside)).any():
                self._problem(name, f"value(s) outside the declared bounds [{column.min}, {column.max}]",
                              mask, shown)
        if column.integer:
            fractional = (values % 1 != 0).fill_null(False).to_numpy()
            if fractional.any():
                self._problem(name, "fractional value(s) in a column declared integer", fractional, shown)
                values = values.set(pl.Series(fractional), None)
            return values.cast(pl.Int64, strict=False)
        return values

    def _datetime(self, name: str, raw: pl.Series, column: DatetimeColumn) -> pl.Series:
        if isinstance(raw.dtype, pl.Datetime) or raw.dtype == pl.Date:
            text = None
            values = to_naive_utc(raw.cast(pl.Datetime("us")) if raw.dtype == pl.Date else raw)
        else:
            text = _as_text(raw, self.tokens)
            values = parse_datetimes(text, format=column.format)
            bad = (text.is_not_null() & values.is_null()).to_numpy()
            if bad.any():
                layout = f"the declared format {column.format!r}" if column.format else "ISO 8601"
                self._problem(name, f"value(s) are not datetimes in {layout}", bad, text)
        shown = text if text is not None else values.cast(pl.String)
        low = naive_utc(column.min) if column.min is not None else None
        high = naive_utc(column.max) if column.max is not None else None
        if column.clip:
            return values.clip(low, high)
        conditions = []
        if low is not None:
            conditions.append((values < low).fill_null(False).to_numpy())
        if high is not None:
            conditions.append((values > high).fill_null(False).to_numpy())
        if conditions and (mask := np.logical_or.reduce(conditions)).any():
            self._problem(name, "datetime(s) outside the declared range", mask, shown)
        return values

    def _categories(self, name: str, series: pl.Series, column: CategoricalColumn) -> pl.Series:
        assert isinstance(column.categories, list)
        unknown = (series.is_not_null() & ~series.is_in(column.categories)).to_numpy()
        if not unknown.any():
            return series
        if column.other is not None:
            return series.set(pl.Series(unknown), column.other)
        self._problem(name, "value(s) not among the declared categories", unknown, series)
        return series


_TRUTH = {**dict.fromkeys(["true", "t", "yes", "y", "1", "1.0"], "true"),
          **dict.fromkeys(["false", "f", "no", "n", "0", "0.0"], "false")}


def _as_boolean(series: pl.Series) -> pl.Series:
    """A boolean column's text as ``true``/``false`` (other values stay, to be refused as undeclared levels)."""
    lowered = series.str.to_lowercase()
    return pl.select(pl.when(lowered.is_in(list(_TRUTH))).then(lowered.replace(_TRUTH))
                     .otherwise(series)).to_series()


# ------------------------------------------------------------------------------------------------ wording


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

