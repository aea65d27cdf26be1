"""SDV metadata in and out: ``synthdata schema from-sdv metadata.json`` and ``synthdata schema to-sdv``.

SDV (``sdv.metadata.Metadata``) describes a table by *sdtypes*; the schema maps them one to one:

=====================  ===========================================================================
SDV sdtype             synthdata schema
=====================  ===========================================================================
numerical              ``numeric`` (``integer`` when SDV says Int or 0 decimal places)
categorical            ``categorical``
boolean                ``boolean``
datetime               ``datetime`` (SDV's ``datetime_format``; ``day`` resolution without a time)
id                     ``identifier`` (never modelled, never released)
any other (email,      ``identifier`` with ``pii: true`` and the sdtype kept: personal data is never
name, phone, ...)      modelled
=====================  ===========================================================================

Privacy caveat: SDV *detects* metadata from the data, and its ``range_values``, ``range_min``/``range_max``
and ``range_is_nullable`` are read off the private rows.  ``from_sdv`` leaves them out by default: bounds and
category lists are then learned with DP from the release's budget (``categories: discover``, no min and
max), every modelled column nullable.  ``keep_ranges=True`` copies them in and marks the schema a *draft*,
which a release refuses until the steward has replaced them with public knowledge (as ``schema draft``).
SDV's sdtypes themselves were also detected from the data: review them as you would any schema.  SDV has
no privacy unit: name the patient column with ``subject``.  ``to_sdv`` writes what SDV reads
(``Metadata.load_from_dict``): sdtypes, the primary key, datetime formats, nothing of the data.
"""

from __future__ import annotations

from typing import Any

from synthdata.errors import BadInputError
from synthdata.modalities.table.schema import (
    BooleanColumn,
    CategoricalColumn,
    DatetimeColumn,
    IdentifierColumn,
    NumericColumn,
    TableSchema,
    parse_schema,
)

METADATA_VERSION = "V1"  # what to_sdv writes; SDV 1.x and 2.x read it


def sdv_table(metadata: dict[str, Any], *, table: str | None = None, source: str = "metadata") -> tuple[str, dict]:
    """The one table's metadata (its name and dict) in any SDV layout: single-table V1, multi-table V1, V1/V2."""
    if not isinstance(metadata, dict):
        raise BadInputError(f"{source} is not SDV metadata (a JSON object)")
    if "columns" in metadata:  # SINGLE_TABLE_V1
        return table or "table", metadata
    tables = metadata.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise BadInputError(f"{source} is not SDV metadata: it has neither 'columns' nor 'tables'")
    if table is None:
        if len(tables) > 1:
            raise BadInputError(f"{source} describes {len(tables)} tables ({', '.join(sorted(tables))}): "
                                "name one with --table")
        table = next(iter(tables))
    if table not in tables:
        raise BadInputError(f"{source} has no table '{table}' (it has {', '.join(sorted(tables))})")
    return table, tables[table]


def from_sdv(metadata: dict[str, Any], *, table: str | None = None, subject: str | None = None,
             keep_ranges: bool = False, source: str = "metadata") -> tuple[TableSchema, list[str]]:
    """The schema of one table of SDV ``metadata``, and notes for the steward (what was left out and why)."""
    name, described = sdv_table(metadata, table=table, source=source)
    columns = described.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise BadInputError(f"{source}: table '{name}' declares no columns")
    notes: list[str] = []
    out: dict[str, dict[str, Any]] = {}
    dropped_ranges = []
    for column, spec in columns.items():
        if not isinstance(spec, dict) or "sdtype" not in spec:
            raise BadInputError(f"{source}: column '{column}' of table '{name}' has no sdtype")
        out[column] = _column(spec, keep_ranges=keep_ranges)
        if any(key.startswith("range_") for key in spec) and not keep_ranges:
            dropped_ranges.append(column)
    if subject is not None:
        if subject not in out:
            raise BadInputError(f"subject column '{subject}' is not a column of table '{name}'")
        out[subject] = {"type": "identifier", "sdtype": columns[subject]["sdtype"]}
    else:
        notes.append("no subject: SDV has no privacy unit, so each row is protected on its own; name the patient "
                     "column with --subject to protect every patient's rows together")
    if dropped_ranges:
        notes.append(f"left out SDV's detected ranges of {len(dropped_ranges)} column(s) ({', '.join(dropped_ranges)}): "
                     "they were read from the private data; they are learned with DP from the release's budget "
                     "instead (or write public bounds and category lists into the schema)")
    raw: dict[str, Any] = {"columns": out, "subject": subject}
    if keep_ranges and any(any(k.startswith("range_") for k in spec) for spec in columns.values()):
        raw["draft"] = True
        notes.append("kept SDV's detected ranges and marked the schema draft: a release refuses it until they are "
                     "replaced with public knowledge and the `draft: true` line is deleted")
    return parse_schema(raw, source=source), notes


def _column(spec: dict[str, Any], *, keep_ranges: bool) -> dict[str, Any]:
    sdtype = spec["sdtype"]
    nullable = bool(spec.get("range_is_nullable", True)) if keep_ranges else True
    if sdtype == "numerical":
        representation = str(spec.get("computer_representation", ""))
        integer = representation.lower().startswith(("int", "uint")) or spec.get("decimal_places") == 0
        column: dict[str, Any] = {"type": "numeric", "nullable": nullable, "integer": integer}
        if keep_ranges and "range_min" in spec and "range_max" in spec and spec["range_min"] < spec["range_max"]:
            column.update(min=spec["range_min"], max=spec["range_max"])
        return column
    if sdtype == "categorical":
        values = spec.get("range_values") if keep_ranges else None
        return {"type": "categorical", "nullable": nullable,
                "categories": [str(v) for v in values] if values else "discover"}
    if sdtype == "boolean":
        return {"type": "boolean", "nullable": nullable}
    if sdtype == "datetime":
        form = spec.get("datetime_format")
        timed = form is None or any(code in form for code in ("%H", "%I", "%M", "%S", "%f", "%X", "%c", "%T"))
        column = {"type": "datetime", "nullable": nullable, "resolution": "second" if timed else "day"}
        return {**column, "format": form} if form else column
    if sdtype == "id":
        return {"type": "identifier", "sdtype": "id"}
    return {"type": "identifier", "pii": True, "sdtype": sdtype}  # email, name, phone_number, address, ...


def to_sdv(schema: TableSchema, *, table: str, primary_key: str | None = None) -> dict[str, Any]:
    """SDV metadata (``METADATA_VERSION``) of the schema's table: sdtypes only, nothing read from data."""
    columns: dict[str, dict[str, Any]] = {}
    for name, column in schema.columns.items():
        if isinstance(column, IdentifierColumn):
            sdtype = column.sdtype or ("id" if not column.pii else "unknown")
            columns[name] = {"sdtype": sdtype, **({"pii": True} if column.pii and sdtype != "id" else {})}
        elif isinstance(column, BooleanColumn):
            columns[name] = {"sdtype": "boolean"}
        elif isinstance(column, CategoricalColumn):
            columns[name] = {"sdtype": "categorical"}
        elif isinstance(column, NumericColumn):
            columns[name] = {"sdtype": "numerical", **({"decimal_places": 0} if column.integer else {})}
        elif isinstance(column, DatetimeColumn):
            form = column.format or ("%Y-%m-%d" if column.resolution == "day" else "%Y-%m-%d %H:%M:%S")
            columns[name] = {"sdtype": "datetime", "datetime_format": form}
    if primary_key is not None and columns.get(primary_key, {}).get("sdtype") != "id":
        raise BadInputError(f"primary key '{primary_key}' must be an identifier column of the schema")
    described: dict[str, Any] = {"columns": columns}
    if primary_key is not None:
        described["primary_key"] = primary_key
    return {"tables": {table: described}, "relationships": [], "METADATA_SPEC_VERSION": METADATA_VERSION}
