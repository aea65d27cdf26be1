"""The table schema: what the data steward declares public about each column.

A schema says, per column, its type and its *public* domain:

- ``numeric``: bounds ``min``/``max`` (public knowledge, e.g. clinical plausibility), ``integer``;
- ``categorical``: the public list of ``categories`` (strings), or ``"discover"`` to learn them with DP;
- ``datetime``: a public range ``min``/``max`` and a ``resolution`` (``day`` or ``second``);
- ``boolean``: true or false (``true/false``, ``yes/no``, ``1/0``, ``t/f``, ``y/n`` in any case are read as
  such), a categorical column with the public levels ``false`` and ``true``;
- ``identifier``: dropped before modelling, never released (``pii: true`` marks personal data such as an
  e-mail address; ``sdtype`` keeps SDV's semantic type for ``synthdata schema to-sdv``);

and whether missing values occur (``nullable``).  ``missing_values`` lists the tokens that mean "missing"
(e.g. ``?``, ``NA``) so every reader sees the same nulls.  ``subject`` names the column that identifies the
privacy unit (the patient); it must be an identifier column.

Privacy caveat: a bound or category list written here is treated as public.  If it was read off the private
data (as ``synthdata schema draft`` does), the DP guarantee does not cover it.  Leave a bound out (``min:
null``) or write ``categories: discover`` to have synthdata learn it with DP from the budget instead.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthdata.config import read_yaml, validation_problems
from synthdata.errors import BadInputError

DEFAULT_MISSING_VALUES: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "None", "null", "?")


class _Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nullable: bool = False
    description: str | None = None


class NumericColumn(_Column):
    """A number with public bounds. ``min``/``max`` left as None are discovered with DP."""

    type: Literal["numeric"] = "numeric"
    min: float | None = None
    max: float | None = None
    integer: bool = False
    clip: bool = Field(default=False, description="clip values outside the bounds instead of refusing them")

    @model_validator(mode="after")
    def _bounds_ordered(self) -> "NumericColumn":
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self

    @property
    def needs_discovery(self) -> bool:
        return self.min is None or self.max is None


class CategoricalColumn(_Column):
    """A category from a public list. ``categories: discover`` learns the list with DP."""

    type: Literal["categorical"] = "categorical"
    categories: list[str] | Literal["discover"]
    other: str | None = Field(
        default=None, description="category (listed in categories) that values outside the list fold into"
    )

    @model_validator(mode="before")
    @classmethod
    def _categories_as_strings(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("categories"), list):
            data = {**data, "categories": [str(c) for c in data["categories"]]}
        return data

    @model_validator(mode="after")
    def _categories_valid(self) -> "CategoricalColumn":
        if isinstance(self.categories, list):
            if len(self.categories) < 1:
                raise ValueError("categories must list at least one category")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("categories must not repeat")
            if self.other is not None and self.other not in self.categories:
                raise ValueError(f"other ('{self.other}') must be one of the categories")
        return self

    @property
    def needs_discovery(self) -> bool:
        return self.categories == "discover"


BOOLEAN_LEVELS = ["false", "true"]


class BooleanColumn(CategoricalColumn):
    """True or false: a categorical column whose public levels are ``false`` and ``true`` (the reader maps
    ``yes/no``, ``1/0``, ``t/f``, ``y/n`` in any case onto them)."""

    type: Literal["boolean"] = "boolean"  # type: ignore[assignment]
    categories: list[str] = Field(default_factory=lambda: list(BOOLEAN_LEVELS))

    @model_validator(mode="after")
    def _two_levels(self) -> "BooleanColumn":
        if self.categories != BOOLEAN_LEVELS or self.other is not None:
            raise ValueError("a boolean column's levels are false and true: leave out categories and other")
        return self


class DatetimeColumn(_Column):
    """A timestamp in a public range, modelled as a number at the given resolution."""

    type: Literal["datetime"] = "datetime"
    min: dt.datetime | None = None
    max: dt.datetime | None = None
    resolution: Literal["day", "second"] = "second"
    format: str | None = Field(default=None, description="strptime format of the text, if not ISO 8601")
    clip: bool = Field(default=False, description="clip datetimes outside the range instead of refusing them")

    @model_validator(mode="after")
    def _range_ordered(self) -> "DatetimeColumn":
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be before max ({self.max})")
        return self

    @property
    def needs_discovery(self) -> bool:
        return self.min is None or self.max is None


class IdentifierColumn(_Column):
    """A direct identifier: dropped before modelling and never released."""

    type: Literal["identifier"] = "identifier"
    nullable: bool = True
    pii: bool = Field(default=False, description="personal data (a name, an e-mail address, ...), not only a key")
    sdtype: str | None = Field(default=None, description="SDV's semantic type (id, email, ...) for `schema to-sdv`")

    @property
    def needs_discovery(self) -> bool:
        return False


Column = Annotated[
    Union[NumericColumn, CategoricalColumn, BooleanColumn, DatetimeColumn, IdentifierColumn],
    Field(discriminator="type")
]


class TableSchema(BaseModel):
    """Column declarations of one table.  ``origin`` records where the schema came from."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, Column]
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING_VALUES))
    subject: str | None = Field(default=None, description="column naming the privacy unit (patient)")
    origin: Literal["declared", "inferred"] = "declared"
    draft: bool = Field(default=False, description="written by `synthdata schema draft`: its domains were read "
                                                   "from the private data; a release refuses it until edited")

    @model_validator(mode="after")
    def _subject_is_identifier(self) -> "TableSchema":
        if not self.columns:
            raise ValueError("a schema must declare at least one column")
        if self.subject is not None:
            column = self.columns.get(self.subject)
            if column is None:
                raise ValueError(f"subject column '{self.subject}' is not declared under columns")
            if not isinstance(column, IdentifierColumn):
                raise ValueError(f"subject column '{self.subject}' must have type identifier")
        if not self.modelled_columns:
            raise ValueError("every column is an identifier: nothing is left to model")
        return self

    @property
    def modelled_columns(self) -> list[str]:
        """Columns the model learns, in declaration order (identifiers excluded)."""
        return [name for name, col in self.columns.items() if not isinstance(col, IdentifierColumn)]

    @property
    def identifier_columns(self) -> list[str]:
        return [name for name, col in self.columns.items() if isinstance(col, IdentifierColumn)]

    @property
    def needs_discovery(self) -> list[str]:
        """Columns whose public domain is missing and must be learned with DP."""
        return [name for name, col in self.columns.items() if col.needs_discovery]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def load_schema(path: Path) -> TableSchema:
    """Read and validate a schema YAML file; every problem becomes a BadInputError naming the file."""
    path = Path(path)
    raw = read_yaml(path, what="schema file")
    if not isinstance(raw, dict):
        raise BadInputError(f"schema file {path} must be a mapping with a 'columns' key")
    return parse_schema(raw, source=str(path))


def parse_schema(raw: dict, *, source: str = "schema") -> TableSchema:
    """Validate a schema given as a mapping (e.g. inline in a release spec)."""
    try:
        return TableSchema.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(validation_problems(exc)[:8])
        raise BadInputError(f"{source} is not a valid table schema: {problems}") from None
