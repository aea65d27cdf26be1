"""Infer column TYPES of a table read without a schema; draft a full schema for the data steward to review.

``infer_schema`` decides each column's type and nothing else.  Domains are left for DP discovery
(``discovery.resolve_schema``): numeric and datetime bounds are None, category lists are ``discover``, and
every modelled column is ``nullable: true`` (whether a column has nulls is itself a private fact).

Type rules, in order (``n`` = the column's non-null values, ``distinct`` = how many differ):

1. **identifier** (dropped, never modelled or released) when
   a. the name looks like an ID (``id``, ``*_id``, ``*Id``, ``*_nbr``, ``*_number``, ``*_num``, ``mrn``,
      ``ssn``, ``uuid``, ``guid``; whole words only, so ``number_outpatient`` is not one) and
      ``distinct > n / 2`` or ``distinct > ID_MAX_LEVELS`` (a patient ID in a table with many rows per
      patient is still an ID: modelled as a category, its frequent values could be released); or
   b. every non-null value is unique (``distinct == n``, ``n >= 20``) and the column is text or whole
      numbers.  Unique fractional numbers (precise measurements) and unique timestamps are modelled.
2. **datetime** when every value is ISO 8601 (``2020-01-31``, ``2020-01-31T08:15:00``, with an optional
   offset); resolution ``day`` when every value is at midnight, else ``second``.
3. **numeric** when every value is a finite number, unless it looks like a code: the name looks like an
   ID or a code (``*_code``, ``*_cd``, ``zip``...), a value has a leading zero (``007``), or the values
   are whole numbers with at most ``FEW_LEVELS`` distinct values (flags, small code sets).  ``integer``
   when every value is a whole number.
4. **categorical** otherwise.

Privacy caveat: type inference reads the private data without DP (which values parse as numbers or dates,
how many are distinct).  Only the types are kept, and the notes say which rule fired in plain words, never a
value.  ``draft_schema`` goes further and reads bounds, categories and nullability off the private data for
the steward to replace by public knowledge: a draft used unchanged is NOT covered by the DP guarantee, and
``render_draft`` says so in a loud header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl
import yaml

from synthdata.errors import BadInputError
from synthdata.modalities.table.reader import parse_datetimes, parse_numbers
from synthdata.modalities.table.schema import (
    DEFAULT_MISSING_VALUES,
    CategoricalColumn,
    DatetimeColumn,
    IdentifierColumn,
    NumericColumn,
    TableSchema,
)

#: Whole-number columns with at most this many distinct values are modelled as categories.
FEW_LEVELS = 5
#: A column with an ID-like name and more distinct values than this is an identifier, however many rows.
ID_MAX_LEVELS = 100
#: The unique-per-row identifier rule needs at least this many non-null values.
MIN_ROWS_UNIQUE_RULE = 20

_ID_SUFFIXES = frozenset({"id", "nbr", "number", "num", "uuid", "guid"})
_ID_WORDS = frozenset({"mrn", "ssn", "uuid", "guid"})
_CODE_SUFFIXES = frozenset({"code", "cd", "zip", "zipcode", "postcode", "icd"})
_PATIENT_WORDS = frozenset({"patient", "subject", "person", "mrn", "member", "participant"})

DRAFT_WARNING = """\
DRAFT SCHEMA - NOT SAFE TO RELEASE AS IT IS.
The bounds (min/max), category lists and nullable flags below were READ FROM THE PRIVATE DATA.
The differential-privacy guarantee does NOT cover them: a release that uses them leaks them.
Before a release, replace each of them with public knowledge (clinical plausibility limits, code
lists from the data dictionary), or write `categories: discover` / delete `min` and `max` to have
synthdata learn them with DP from the privacy budget.
Check every `type: identifier` column (dropped, never released) and set `subject:` to the column
that names the patient (the privacy unit)."""


@dataclass(frozen=True)
class InferenceReport:
    """An inferred schema, the identifier-like columns it drops, and plain-words notes (no values)."""

    schema: TableSchema
    dropped: list[str]
    notes: list[str]


@dataclass(frozen=True)
class _Facts:
    """What the type rules look at for one column (private: never leaves this module)."""

    kind: str  # identifier | datetime | numeric | categorical
    reason: str
    integer: bool = False
    resolution: str = "second"


def infer_schema(*, frame: pl.DataFrame) -> InferenceReport:
    """Infer column types of ``frame`` (as returned by ``read_table(schema=None)``: all text)."""
    columns: dict[str, Any] = {}
    dropped: list[str] = []
    notes: list[str] = []
    for name in frame.columns:
        facts = _classify(name, frame[name])
        if facts.kind == "identifier":
            columns[name] = IdentifierColumn()
            dropped.append(name)
            notes.append(f"WARNING: '{name}' looks like an identifier ({facts.reason}): it is dropped and never "
                         "released; declare a schema if it should be modelled")
        elif facts.kind == "datetime":
            columns[name] = DatetimeColumn(nullable=True, resolution=facts.resolution)
            notes.append(f"'{name}' inferred as datetime at {facts.resolution} resolution ({facts.reason})")
        elif facts.kind == "numeric":
            columns[name] = NumericColumn(nullable=True, integer=facts.integer)
            notes.append(f"'{name}' inferred as {'integer ' if facts.integer else ''}numeric ({facts.reason})")
        else:
            columns[name] = CategoricalColumn(nullable=True, categories="discover")
            notes.append(f"'{name}' inferred as categorical ({facts.reason})")
    if len(dropped) == len(columns):
        raise BadInputError("every column looks like an identifier: nothing is left to model; declare a schema")
    candidates = [name for name in dropped if _tokens(name) & _PATIENT_WORDS]
    if candidates:
        notes.append(f"no subject column is set, so the privacy unit is one row; if {_names(candidates)} names "
                     "the patient, declare a schema with subject set to it")
    notes.append("bounds and category lists are left to DP discovery; every modelled column may be missing")
    schema = TableSchema(columns=columns, missing_values=list(DEFAULT_MISSING_VALUES), origin="inferred")
    return InferenceReport(schema=schema, dropped=dropped, notes=notes)


def draft_schema(*, frame: pl.DataFrame) -> TableSchema:
    """The inferred types plus bounds, categories and nullable flags READ FROM ``frame`` (not DP!).

    For ``synthdata schema draft``: the steward reviews the draft and replaces what it read off the data by
    public knowledge (see ``DRAFT_WARNING``).
    """
    inferred = infer_schema(frame=frame).schema
    columns: dict[str, Any] = {}
    for name, column in inferred.columns.items():
        text = frame[name]
        values = text.drop_nulls()
        nullable = text.null_count() > 0
        if isinstance(column, NumericColumn):
            numbers = parse_numbers(values)
            low, high = float(numbers.min()), float(numbers.max())  # type: ignore[arg-type]
            columns[name] = column.model_copy(update={"min": low, "max": high if high > low else low + 1,
                                                      "nullable": nullable})
        elif isinstance(column, DatetimeColumn):
            stamps = parse_datetimes(values, format=None)
            low, high = stamps.min(), stamps.max()
            step = pl.duration(days=1) if column.resolution == "day" else pl.duration(seconds=1)
            if not high > low:  # type: ignore[operator]
                high = pl.select(pl.lit(low) + step).item()
            columns[name] = column.model_copy(update={"min": low, "max": high, "nullable": nullable})
        elif isinstance(column, CategoricalColumn):
            levels = _public_looking_order(values.unique())
            columns[name] = column.model_copy(update={"categories": levels or "discover", "nullable": nullable})
        else:
            columns[name] = column
    return TableSchema(columns=columns, missing_values=list(inferred.missing_values), origin="declared")


def render_draft(*, schema: TableSchema, source: str) -> str:
    """YAML for a draft schema, headed by ``DRAFT_WARNING`` as a comment; loads back with ``load_schema``."""
    rule = "# " + "!" * 98
    lines = [rule, *[f"# {line}" for line in DRAFT_WARNING.splitlines()], rule,
             f"# Drafted by `synthdata schema draft` from {source}"]
    if schema.subject is None and schema.identifier_columns:
        lines.append(f"# Identifier columns: {', '.join(schema.identifier_columns)}. "
                     "Set `subject:` to the one that names the patient.")
    data = schema.model_dump(mode="json", exclude_none=True)
    data["columns"] = {name: {"type": column.pop("type"), **column} for name, column in data["columns"].items()}
    lines.append("# Delete the `draft: true` line below once every bound and category list is public knowledge or "
                 "`discover`: until then a release refuses this schema.")
    data = {"draft": True, **{k: v for k, v in data.items() if k != "draft"}}
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True)
    return "\n".join(lines) + "\n" + body


# -------------------------------------------------------------------------------------------------- rules


def _classify(name: str, text: pl.Series) -> _Facts:
    values = text.drop_nulls()
    n = values.len()
    if n == 0:
        return _Facts("categorical", "it has no values to read a type from")
    distinct = values.n_unique()
    numbers = parse_numbers(values)
    numeric = numbers.null_count() == 0 and bool(numbers.is_finite().all())
    whole = numeric and bool((numbers % 1 == 0).all())
    stamps = None if numeric else parse_datetimes(values, format=None)
    is_datetime = stamps is not None and stamps.null_count() == 0
    id_name = _looks_like_id(name)

    if id_name and (distinct > n / 2 or distinct > ID_MAX_LEVELS):
        return _Facts("identifier", "its name looks like an ID and it has many distinct values")
    if n >= MIN_ROWS_UNIQUE_RULE and distinct == n and not is_datetime and (whole or not numeric):
        return _Facts("identifier", "every value is unique to its row")
    if is_datetime:
        assert stamps is not None
        midnight = bool((stamps.dt.truncate("1d") == stamps).all())
        return _Facts("datetime", "its values are ISO 8601 dates", resolution="day" if midnight else "second")
    if numeric:
        if id_name or _tokens(name, last=True) & _CODE_SUFFIXES:
            return _Facts("categorical", "numbers under an ID- or code-like name")
        if bool(values.str.strip_chars().str.contains(r"^[+-]?0\d").any()):
            return _Facts("categorical", "numbers written with leading zeros, like codes")
        if whole and distinct <= FEW_LEVELS:
            return _Facts("categorical", f"whole numbers with at most {FEW_LEVELS} distinct values")
        return _Facts("numeric", "every value is a number", integer=whole)
    return _Facts("categorical", "text values")


def _tokens(name: str, *, last: bool = False) -> set[str]:
    """Lower-case words of a column name: split at non-alphanumerics and camelCase boundaries."""
    words = [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]
    if last:
        return {words[-1]} if words else set()
    return set(words)


def _looks_like_id(name: str) -> bool:
    return bool(_tokens(name, last=True) & _ID_SUFFIXES or _tokens(name) & _ID_WORDS)


def _public_looking_order(levels: pl.Series) -> list[str]:
    """Numeric-looking levels in numeric order, others alphabetically (easier for the steward to review)."""
    numbers = parse_numbers(levels)
    if levels.len() and numbers.null_count() == 0:
        return pl.DataFrame({"level": levels, "key": numbers}).sort("key", "level")["level"].to_list()
    return sorted(levels.to_list())


def _names(names: list[str]) -> str:
    return " or ".join(f"'{name}'" for name in names)
