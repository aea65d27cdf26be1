"""The relational schema: several tables, their keys, and the subject table (the patient).

It extends the table schema (``synthdata.modalities.table.schema``): each table's ``columns`` take the same
types, public domains and ``discover`` as a single table's, plus

- ``file``: the table's CSV or Parquet file, relative to the database's folder;
- ``keys``: its primary key (one column, or a list; key columns are identifiers, never modelled);
- ``references``: foreign keys, ``column: TABLE.column`` (the referenced column must be that table's
  one-column key), or ``column: {to: TABLE.column, on_orphan: drop | error | unlink}``;
- ``parent``: which reference is the table's parent (needed when it has several; the generator will condition
  a row on its parent row).  Following parents from any table leads to the ``subject`` table;
- ``max_rows_per_parent`` / ``max_rows_per_subject``: caps that truncate (a table's rows per parent row, per
  patient; ``max_rows_per_parent`` on ADMISSIONS is the issue's ``max_admissions_per_subject``);
- ``derived``: relative times, ``name: {start: TABLE.column, end: column, unit: days, min: 0, max: 365}``,
  computed after loading (``derived.py``) and modelled as numeric columns with the given public bounds;
- a categorical column may take its public categories from a declared dictionary:
  ``{type: categorical, categories_from: D_LABITEMS.itemid, other: "(other item)"}``.

``dictionaries`` names public tables (MIMIC's D_LABITEMS, a code list): read as they are, without privacy
cost, never released.  ``on_orphan`` (``drop``, the default, or ``error``) says what happens to a row whose
foreign key points nowhere; a table or a reference may override it (a reference may also ``unlink``: keep the
row and forget the link, for optional links such as a prescription's ICU stay).

Privacy caveats: every bound, category list and dictionary declared here is treated as public.  A dictionary
cut down to the codes that occur in the private data (or a bound read off it) is not public, and the DP
guarantee does not cover what it reveals.  The caps are part of the privacy unit's definition: a patient is
one patient table row with every row that references them (directly or through other rows), at most the
capped numbers of each.

``checks.parse_relational_schema`` checks the structure with pydantic, then the key graph; every problem
becomes one ``BadInputError`` naming the table and column, before any file is read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from synthdata.modalities.table.schema import (
    DEFAULT_MISSING_VALUES,
    BooleanColumn,
    CategoricalColumn,
    DatetimeColumn,
    IdentifierColumn,
    NumericColumn,
)

OnOrphan = Literal["drop", "error"]
ReferenceOnOrphan = Literal["drop", "error", "unlink"]

#: Seconds in each unit a derived interval may be expressed in (a year is 365.25 days).
INTERVAL_UNITS: dict[str, float] = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0,
                                    "years": 365.25 * 86400.0}


def split_place(place: str) -> tuple[str | None, str]:
    """``"TABLE.column"`` -> ``("TABLE", "column")``; a bare ``"column"`` -> ``(None, "column")``."""
    table, dot, column = place.rpartition(".")
    return (table, column) if dot else (None, place)


class Reference(BaseModel):
    """A foreign key: this column holds keys of ``to`` (``TABLE.column``)."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(pattern=r"^[^.]+\.[^.]+$", description="TABLE.column the values point at")
    on_orphan: ReferenceOnOrphan | None = Field(
        default=None, description="what to do when a value points nowhere (default: the table's on_orphan)")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: object) -> object:
        return {"to": data} if isinstance(data, str) else data

    @property
    def table(self) -> str:
        return split_place(self.to)[0] or ""

    @property
    def column(self) -> str:
        return split_place(self.to)[1]


class DictionaryCategoricalColumn(BaseModel):
    """A categorical column whose public categories are a declared dictionary's column (e.g. D_LABITEMS'
    itemid): resolved to a table ``CategoricalColumn`` when the dictionary is read."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["categorical"] = "categorical"
    categories_from: str = Field(pattern=r"^[^.]+\.[^.]+$", description="DICTIONARY.column")
    other: str | None = Field(default=None, description="category values outside the dictionary fold into")
    nullable: bool = False
    description: str | None = None

    def resolved(self, categories: list[str]) -> CategoricalColumn:
        listed = list(categories)
        if self.other is not None and self.other not in listed:
            listed.append(self.other)
        return CategoricalColumn(categories=listed, other=self.other, nullable=self.nullable,
                                 description=self.description)


def _column_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "dictionary" if "categories_from" in value else str(value.get("type", ""))
    if isinstance(value, DictionaryCategoricalColumn):
        return "dictionary"
    return str(getattr(value, "type", ""))


RelationalColumn = Annotated[
    Union[
        Annotated[NumericColumn, Tag("numeric")],
        Annotated[CategoricalColumn, Tag("categorical")],
        Annotated[BooleanColumn, Tag("boolean")],
        Annotated[DatetimeColumn, Tag("datetime")],
        Annotated[IdentifierColumn, Tag("identifier")],
        Annotated[DictionaryCategoricalColumn, Tag("dictionary")],
    ],
    Discriminator(_column_tag),
]


class DerivedColumn(BaseModel):
    """``end - start`` in ``unit``: a relative time (days since admission, length of stay, age at admission).

    ``start`` and ``end`` name datetime columns of this table (``column``) or of a table on its parent chain
    (``TABLE.column``; a row whose parent link is empty gets null).  The result is a numeric column with
    public bounds ``min``/``max`` (left out: learned with DP, like any numeric column); ``integer`` rounds it
    down (whole days since admission)."""

    model_config = ConfigDict(extra="forbid")

    start: str
    end: str
    unit: Literal["seconds", "minutes", "hours", "days", "years"] = "days"  # a year is 365.25 days
    min: float | None = None
    max: float | None = None
    clip: bool = False
    integer: bool = False
    nullable: bool = False
    description: str | None = None

    def as_column(self) -> NumericColumn:
        """The numeric column a model sees (the same bounds, clipping and nullability)."""
        return NumericColumn(min=self.min, max=self.max, clip=self.clip, integer=self.integer,
                             nullable=self.nullable, description=self.description)

    @model_validator(mode="after")
    def _bounds(self) -> DerivedColumn:
        self.as_column()  # the numeric column's own checks (min below max)
        return self


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class RelationalTable(BaseModel):
    """One private table of the database."""

    model_config = ConfigDict(extra="forbid")

    file: str
    columns: dict[str, RelationalColumn]
    keys: list[str] = Field(default_factory=list, description="primary key column(s)")
    references: dict[str, Reference] = Field(default_factory=dict)
    parent: str | None = Field(default=None, description="the reference column naming the parent row")
    max_rows_per_parent: int | None = Field(default=None, ge=1)
    max_rows_per_subject: int | None = Field(default=None, ge=1)
    on_orphan: OnOrphan | None = None
    missing_values: list[str] | None = None
    derived: dict[str, DerivedColumn] = Field(default_factory=dict)
    description: str | None = None

    _keys_as_list = field_validator("keys", mode="before")(lambda value: _as_list(value))

    @property
    def parent_column(self) -> str | None:
        """The reference to the parent: ``parent``, or the only reference."""
        if self.parent is not None:
            return self.parent
        return next(iter(self.references)) if len(self.references) == 1 else None

    @property
    def parent_table(self) -> str | None:
        column = self.parent_column
        return self.references[column].table if column in self.references else None


class Dictionary(BaseModel):
    """A public table (a code list, MIMIC's D_LABITEMS): read without privacy cost, never released."""

    model_config = ConfigDict(extra="forbid")

    file: str
    description: str | None = None
    licence: str | None = None


class RelationalSchema(BaseModel):
    """Tables, dictionaries and the subject table of a relational database."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(description="the table whose rows are the privacy units (patients)")
    tables: dict[str, RelationalTable]
    dictionaries: dict[str, Dictionary] = Field(default_factory=dict)
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING_VALUES))
    on_orphan: OnOrphan = "drop"
    description: str | None = None
    audit_target: str | None = Field(
        default=None, description="TABLE.column, a categorical column the utility audit across tables predicts "
        "from its row, its parent rows and its child rows' aggregates (``utility.cross_table_tstr``); not modelled "
        "differently")

    @property
    def subject_key(self) -> str:
        """The subject table's key column (checked to be one column)."""
        return self.tables[self.subject].keys[0]

    def on_orphan_of(self, table: str, column: str) -> ReferenceOnOrphan:
        """What a dangling value of ``table.column`` does: the reference's, the table's, else the schema's."""
        spec = self.tables[table]
        return spec.references[column].on_orphan or spec.on_orphan or self.on_orphan

    def rows_per_subject_bound(self, table: str) -> int | None:
        """At most how many rows of ``table`` one patient keeps after the caps (None: no cap bounds it).

        A public number, from the declared caps alone: the sensitivity of any statistic over the table's rows
        per patient.  ``max_rows_per_parent`` times the parent table's bound (plus one group when the parent
        key may be empty and another reference ties the row to its patient: such rows are capped per
        patient), at most ``max_rows_per_subject``."""
        spec = self.tables[table]
        if table == self.subject:
            return 1
        bound = None
        parent, column = spec.parent_table, spec.parent_column
        if spec.max_rows_per_parent is not None and parent is not None and column is not None:
            parents = self.rows_per_subject_bound(parent)
            if parents is not None:
                loose = spec.columns[column].nullable and len(spec.references) > 1
                bound = spec.max_rows_per_parent * (parents + int(loose))
        if spec.max_rows_per_subject is not None:
            bound = spec.max_rows_per_subject if bound is None else min(bound, spec.max_rows_per_subject)
        return bound

    def missing_values_of(self, table: str) -> list[str]:
        given = self.tables[table].missing_values
        return list(given) if given is not None else list(self.missing_values)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)
