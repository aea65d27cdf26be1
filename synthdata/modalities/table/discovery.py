"""Learn the column domains a schema leaves open (``schema.needs_discovery``) with differential privacy.

What is read from the private data, and how it is protected: for each open column, and only for it,

- numeric: the missing bound(s), from a DP histogram over a public grid (``dp_numeric_bounds``, pure
  epsilon-DP), rounded outwards to whole numbers for integer columns; the column then clips to them;
- datetime: the missing end(s) of the range, the same way on epoch seconds over a public grid of month
  starts (1800-2200), so learned ends fall on the first of a month; the column then clips to them;
- categorical: the category list, from a stability-based histogram (``dp_categories``, (epsilon, delta)-DP),
  plus an ``other`` category that rare and unseen levels fold into.

Budget: basic composition.  ``epsilon`` is split evenly over the k open columns (epsilon / k each) and
``delta`` evenly over the categorical ones; the report states what was spent (0 and 0 when nothing was
open).  The caller must charge it to the ledger, and must pass the TRAINING split only.

Privacy unit: when the schema names a ``subject``, only the first ``sensitivity`` rows of each subject (in
frame order) are read here, so the bound the mechanisms rely on holds whatever the data; without a subject
every row is a unit.  Notes are plain words; they never quote a value (learned domains go into the
returned schema, which is DP output).

Integer-ness is never read from the data here: a numeric column is ``integer`` only if the schema declares
it, or (for inferred schemas) the type rule in ``infer.py`` decided it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from synthdata.errors import BadInputError, PreprocessingFailedError
from synthdata.modalities.table.reader import naive_utc, parse_datetimes, parse_numbers, to_naive_utc
from synthdata.modalities.table.schema import (
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    TableSchema,
)
from synthdata.privacy.dp_statistics import (
    GRID_EDGES,
    NoSignalError,
    bounds_margin,
    category_threshold,
    dp_categories,
    dp_numeric_bounds,
)

OTHER_CATEGORY = "(other)"

_EPOCH = dt.datetime(1970, 1, 1)
#: Public grid for datetime ranges: the first of every month from 1800 to 2200, in epoch seconds.
MONTH_EDGES: np.ndarray = (
    np.arange(np.datetime64("1800-01"), np.datetime64("2200-02"), dtype="datetime64[M]")
    .astype("datetime64[s]")
    .astype(np.int64)
    .astype(np.float64)
)


@dataclass(frozen=True)
class DiscoveryReport:
    """The budget actually spent on discovery, the columns it learned, and plain-words notes."""

    epsilon: float
    delta: float
    columns: list[str]
    notes: list[str]


def resolve_schema(
    *,
    frame: pl.DataFrame,
    schema: TableSchema,
    epsilon: float,
    delta: float,
    sensitivity: int,
    rng: np.random.Generator,
) -> tuple[TableSchema, DiscoveryReport]:
    """Fill every column in ``schema.needs_discovery`` from DP statistics of ``frame`` (the training split).

    ``frame`` is typed by ``read_table`` (or, for an inferred schema, text: each column is parsed for its
    type here).  ``sensitivity`` is the public cap on rows per privacy unit; ``rng`` must be seeded from OS
    entropy in a release.  Returns the resolved schema (same column order, nothing left to discover) and the
    report.
    """
    pending = schema.needs_discovery
    if not pending:
        return schema, DiscoveryReport(epsilon=0.0, delta=0.0, columns=[],
                                       notes=["every column domain is declared: no budget spent on discovery"])
    absent = [name for name in pending if name not in frame.columns]
    if absent:
        raise BadInputError(f"column(s) {', '.join(repr(n) for n in absent)} to discover are not in the data")
    categorical = [name for name in pending if isinstance(schema.columns[name], CategoricalColumn)]
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise BadInputError("learning column domains with DP needs a preprocessing epsilon > 0")
    if categorical and not 0.0 < delta < 1.0:
        raise BadInputError("learning category lists with DP needs a preprocessing delta in (0, 1)")
    if int(sensitivity) != sensitivity or sensitivity < 1:
        raise BadInputError("sensitivity (rows per privacy unit) must be a whole number >= 1")

    frame = _bound_contributions(frame=frame, subject=schema.subject, sensitivity=int(sensitivity))
    eps_each = epsilon / len(pending)
    delta_each = delta / len(categorical) if categorical else 0.0
    notes = [f"{len(pending)} column domain(s) learned with DP: epsilon {epsilon:g} split evenly "
             f"({eps_each:g} each)" + (f", delta {delta:g} over the {len(categorical)} categorical one(s)"
                                       if categorical else "")]
    if schema.subject is not None:
        notes.append(f"at most {int(sensitivity)} row(s) per subject were read for discovery")
    if categorical:
        # Public arithmetic (no data): how common a category must be to be kept with good probability.
        needed = category_threshold(epsilon=eps_each, delta=delta_each, sensitivity=int(sensitivity))
        notes.append(f"a category is kept only if about {math.ceil(needed)} or more rows hold it; rarer ones "
                     "fold into the other category")
    columns = dict(schema.columns)
    for name in pending:
        column = schema.columns[name]
        data = frame[name]
        if isinstance(column, NumericColumn):
            columns[name], note = _numeric(name, data, column, eps_each, int(sensitivity), rng)
            if schema.origin == "inferred" and column.integer:
                note += " (whole numbers, as type inference decided)"
        elif isinstance(column, DatetimeColumn):
            columns[name], note = _datetime(name, data, column, eps_each, int(sensitivity), rng)
        else:
            assert isinstance(column, CategoricalColumn)
            columns[name], note = _categorical(name, data, column, eps_each, delta_each, int(sensitivity), rng)
        notes.append(note)
    resolved = TableSchema(columns=columns, missing_values=list(schema.missing_values), subject=schema.subject,
                           origin=schema.origin)
    return resolved, DiscoveryReport(epsilon=float(epsilon), delta=float(delta) if categorical else 0.0,
                                     columns=list(pending), notes=notes)


def doomed_columns(*, frame: pl.DataFrame, schema: TableSchema, epsilon: float, sensitivity: int) -> list[str]:
    """The numeric and datetime columns ``resolve_schema`` would most likely fail to bound with DP at this
    preprocessing ``epsilon`` (no block of their histogram clears the noise floor even before the noise):
    a release refuses them before it reserves any budget.  Reads the data and adds no noise; like any input
    validation, the refusal names the columns (not a value), and that message reaches the run's logs."""
    pending = schema.needs_discovery
    if not pending or not (math.isfinite(epsilon) and epsilon > 0):
        return []
    frame = _bound_contributions(frame=frame, subject=schema.subject, sensitivity=int(sensitivity))
    doomed = []
    for name in pending:
        column = schema.columns[name]
        if name not in frame.columns or isinstance(column, CategoricalColumn):
            continue  # categories: an unmeasurable one folds into 'other', which never fails
        if isinstance(column, NumericColumn):
            values, edges = _numbers(frame[name]), None
        else:
            values, edges = _seconds(frame[name], column), MONTH_EDGES
        margin = bounds_margin(values=values, epsilon=epsilon / len(pending), sensitivity=int(sensitivity), edges=edges)
        if margin < 0:
            doomed.append(name)
    return doomed


def _numbers(data: pl.Series) -> np.ndarray:
    """A numeric column's present values (text parsed as the reader does)."""
    values = parse_numbers(data) if data.dtype == pl.String else data.cast(pl.Float64)
    return values.drop_nulls().to_numpy()


def _seconds(data: pl.Series, column: DatetimeColumn) -> np.ndarray:
    """A datetime column's present values as seconds since the epoch (naive UTC)."""
    if data.dtype == pl.String:
        stamps = parse_datetimes(data, format=column.format)
    else:
        stamps = to_naive_utc(data.cast(pl.Datetime("us")) if data.dtype == pl.Date else data)
    return stamps.drop_nulls().dt.epoch("s").cast(pl.Float64).to_numpy()


def _no_signal(name: str, epsilon: float) -> PreprocessingFailedError:
    # Safe to report: whether any noisy bin cleared the floor is post-processing of a DP histogram.
    return PreprocessingFailedError(
        f"could not learn the range of column '{name}' with DP: at epsilon {epsilon:g} for this column the "
        "noise swamps the data; declare its min and max in the schema or raise the preprocessing budget"
    )


def _bound_contributions(*, frame: pl.DataFrame, subject: str | None, sensitivity: int) -> pl.DataFrame:
    if subject is None or subject not in frame.columns:
        return frame
    return frame.filter(pl.int_range(pl.len()).over(subject) < sensitivity)


def _numeric(name: str, data: pl.Series, column: NumericColumn, epsilon: float, sensitivity: int,
             rng: np.random.Generator) -> tuple[NumericColumn, str]:
    try:
        lo, hi = dp_numeric_bounds(values=_numbers(data), epsilon=epsilon, sensitivity=sensitivity, rng=rng)
    except NoSignalError:
        raise _no_signal(name, epsilon) from None
    if column.integer:
        lo, hi = float(math.floor(lo)), float(math.ceil(hi))
    low = column.min if column.min is not None else lo
    high = column.max if column.max is not None else hi
    if not low < high:  # a learned end met the declared one: step to the next public grid edge
        if column.min is None:
            low = _edge(high, below=True, integer=column.integer)
        else:
            high = _edge(low, below=False, integer=column.integer)
    learned = "bounds" if column.min is None and column.max is None else ("min" if column.min is None else "max")
    resolved = NumericColumn.model_validate({**column.model_dump(), "min": low, "max": high, "clip": True})
    return resolved, f"'{name}': {learned} learned with DP; values beyond the bounds are clipped"


def _edge(value: float, *, below: bool, integer: bool) -> float:
    """The nearest public grid edge strictly beyond ``value`` (whole for integer columns)."""
    if below:
        index = int(np.searchsorted(GRID_EDGES, value, side="left")) - 1
        edge = float(GRID_EDGES[index]) if index >= 0 else value - 1.0
        return float(math.floor(edge)) if integer else edge
    index = int(np.searchsorted(GRID_EDGES, value, side="right"))
    edge = float(GRID_EDGES[index]) if index < GRID_EDGES.size else value + 1.0
    return float(math.ceil(edge)) if integer else edge


def _datetime(name: str, data: pl.Series, column: DatetimeColumn, epsilon: float, sensitivity: int,
              rng: np.random.Generator) -> tuple[DatetimeColumn, str]:
    try:
        lo, hi = dp_numeric_bounds(values=_seconds(data, column), epsilon=epsilon, sensitivity=sensitivity, rng=rng,
                                   edges=MONTH_EDGES)
    except NoSignalError:
        raise _no_signal(name, epsilon) from None
    low = naive_utc(column.min) if column.min is not None else _EPOCH + dt.timedelta(seconds=lo)
    high = naive_utc(column.max) if column.max is not None else _EPOCH + dt.timedelta(seconds=hi)
    if not low < high:
        pivot = ((high if column.min is None else low) - _EPOCH).total_seconds()
        index = int(np.searchsorted(MONTH_EDGES, pivot, side="left" if column.min is None else "right"))
        if column.min is None:
            low = _EPOCH + dt.timedelta(seconds=float(MONTH_EDGES[max(index - 1, 0)]))
            low = low if low < high else high - dt.timedelta(days=31)
        else:
            high = _EPOCH + dt.timedelta(seconds=float(MONTH_EDGES[min(index, MONTH_EDGES.size - 1)]))
            high = high if high > low else low + dt.timedelta(days=31)
    learned = "range" if column.min is None and column.max is None else ("start" if column.min is None else "end")
    resolved = DatetimeColumn.model_validate({**column.model_dump(), "min": low, "max": high, "clip": True})
    return resolved, f"'{name}': {learned} learned with DP (to the month); datetimes beyond it are clipped"


def _categorical(name: str, data: pl.Series, column: CategoricalColumn, epsilon: float, delta: float,
                 sensitivity: int, rng: np.random.Generator) -> tuple[CategoricalColumn, str]:
    values = data.cast(pl.String).drop_nulls()
    kept = dp_categories(values=values, epsilon=epsilon, delta=delta, sensitivity=sensitivity, rng=rng)
    other = column.other or OTHER_CATEGORY
    categories = kept if other in kept else [*kept, other]
    resolved = CategoricalColumn.model_validate({**column.model_dump(), "categories": categories, "other": other})
    return resolved, (f"'{name}': {len(kept)} categories learned with DP; rarer and unseen values fold into "
                      f"'{other}'")
