"""Reading a relational schema and checking its key graph, before any data file is read.

``check_graph`` returns every problem it finds, each naming the table and column: an unknown subject table,
a key or foreign key column that is not declared (or not an identifier), a reference to a table that is not
in the schema (a child whose parent table is absent) or to a column that is not that table's key, a table
with several references and no ``parent``, a cycle of references, a derived time whose ends are not datetime
columns of the table or of its parent chain.  ``parse_relational_schema`` turns them into one
``BadInputError`` (exit 2).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from synthdata.config import read_yaml, validation_problems
from synthdata.errors import BadInputError
from synthdata.modalities.relational.graph import find_cycle, parent_chain
from synthdata.modalities.relational.schema import (
    DictionaryCategoricalColumn,
    RelationalSchema,
    RelationalTable,
    split_place,
)
from synthdata.modalities.table.schema import DatetimeColumn, IdentifierColumn

_MAX_PROBLEMS = 8


def load_relational_schema(path: Path) -> RelationalSchema:
    """Read and validate a relational schema YAML file (a BadInputError naming the file for any problem)."""
    path = Path(path)
    raw = read_yaml(path, what="relational schema file")
    if not isinstance(raw, dict):
        raise BadInputError(f"relational schema file {path} must be a mapping with 'subject' and 'tables' keys")
    return parse_relational_schema(raw, source=str(path))


def parse_relational_schema(raw: dict, *, source: str = "relational schema") -> RelationalSchema:
    """Validate a relational schema mapping: its structure (pydantic), then its key graph."""
    try:
        schema = RelationalSchema.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise BadInputError(f"{source} is not a valid relational schema: {_joined(problems)}") from None
    problems = check_graph(schema)
    if problems:
        raise BadInputError(f"{source} is not a valid relational schema: {_joined(problems)}")
    return schema


def check_graph(schema: RelationalSchema) -> list[str]:
    """Every problem of the schema's tables, keys and references, in a stable order (empty: none)."""
    if schema.subject not in schema.tables:
        return [f"subject table '{schema.subject}' is not one of the tables ({', '.join(schema.tables)})"]
    problems = [f"'{name}' is both a table and a dictionary" for name in schema.dictionaries if name in schema.tables]
    for name, table in schema.tables.items():
        problems += _table_problems(schema, name, table)
    edges = {name: [ref.table for ref in table.references.values() if ref.table in schema.tables]
             for name, table in schema.tables.items()}
    cycle = find_cycle(edges)
    if cycle is not None:
        problems.append(f"the references form a cycle: {_cycle_text(schema, cycle)}")
    elif not problems:
        for name, table in schema.tables.items():
            problems += _derived_problems(schema, name, table)
    return problems + _audit_target_problems(schema)


def _audit_target_problems(schema: RelationalSchema) -> list[str]:
    """``audit_target`` must name a categorical column of a table (TABLE.column)."""
    if schema.audit_target is None:
        return []
    table, _, column = schema.audit_target.partition(".")
    spec = schema.tables.get(table)
    if spec is None or column not in spec.columns:
        return [f"audit_target '{schema.audit_target}' names no column of a table (TABLE.column)"]
    if spec.columns[column].type not in ("categorical", "boolean", "dictionary"):
        return [f"table {table}: audit_target column '{column}' must be categorical (the utility audit predicts "
                "classes)"]
    return []


def _table_problems(schema: RelationalSchema, name: str, table: RelationalTable) -> list[str]:
    problems: list[str] = []
    where = f"table {name}"
    if not table.columns:
        return [f"{where} declares no columns"]
    for key in table.keys:
        problems += _identifier_problems(where, table, key, role="key column")
    if len(set(table.keys)) != len(table.keys):
        problems.append(f"{where}: keys repeat a column")
    if name == schema.subject:
        if len(table.keys) != 1:
            problems.append(f"{where} is the subject table: it needs exactly one key column (keys: [COLUMN]), "
                            f"not {len(table.keys)}")
        if table.references:
            problems.append(f"{where} is the subject table: it must not reference other tables "
                            f"({', '.join(table.references)})")
        if table.max_rows_per_parent is not None:
            problems.append(f"{where} is the subject table: it has no parent, so no max_rows_per_parent")
    elif not table.references:
        problems.append(f"{where} references no table: declare the foreign key that ties its rows to "
                        f"{schema.subject} (references: {{COLUMN: TABLE.COLUMN}})")
    for column, reference in table.references.items():
        problems += _identifier_problems(where, table, column, role="foreign key column")
        problems += _target_problems(schema, where, column, reference.table, reference.column)
    problems += _parent_problems(schema, name, table)
    for column_name, column in table.columns.items():
        if isinstance(column, DictionaryCategoricalColumn):
            dictionary, _ = split_place(column.categories_from)
            if dictionary not in schema.dictionaries:
                known = ", ".join(schema.dictionaries) or "none declared"
                problems.append(f"{where}: column '{column_name}' takes its categories from '{dictionary}', which "
                                f"is not a declared dictionary ({known})")
    for derived in table.derived:
        if derived in table.columns:
            problems.append(f"{where}: derived column '{derived}' has the name of a declared column")
    if all(isinstance(column, IdentifierColumn) for column in table.columns.values()):
        problems.append(f"{where}: every column is an identifier: nothing is left to model")
    return problems


def _identifier_problems(where: str, table: RelationalTable, column: str, *, role: str) -> list[str]:
    declared = table.columns.get(column)
    if declared is None:
        return [f"{where}: {role} '{column}' is not declared under columns"]
    if not isinstance(declared, IdentifierColumn):
        return [f"{where}: {role} '{column}' must have type identifier (keys are never modelled or released)"]
    return []


def _target_problems(schema: RelationalSchema, where: str, column: str, target: str, target_column: str) -> list[str]:
    points = f"{where}: column '{column}' references {target}.{target_column}"
    if target in schema.dictionaries:
        return [f"{points}, a public dictionary: declare the column categorical with categories_from: "
                f"{target}.{target_column} instead"]
    if target not in schema.tables:
        return [f"{points}, but table '{target}' is not in the schema (its parent table is absent; tables: "
                f"{', '.join(schema.tables)})"]
    parent = schema.tables[target]
    if target_column not in parent.columns:
        return [f"{points}, but '{target_column}' is not a column of table {target}"]
    if parent.keys != [target_column]:
        keys = ", ".join(parent.keys) or "none declared"
        return [f"{points}, but '{target_column}' is not table {target}'s one-column key (keys: {keys})"]
    return []


def _parent_problems(schema: RelationalSchema, name: str, table: RelationalTable) -> list[str]:
    where = f"table {name}"
    if table.parent is not None:
        if table.parent not in table.references:
            return [f"{where}: parent '{table.parent}' is not one of its references "
                    f"({', '.join(table.references) or 'none'})"]
    elif len(table.references) > 1:
        return [f"{where} has several references ({', '.join(table.references)}): name the one to its parent "
                "row (parent: COLUMN)"]
    column = table.parent_column
    if column is not None and schema.on_orphan_of(name, column) == "unlink":
        return [f"{where}: the parent reference '{column}' cannot be unlinked (on_orphan: drop or error)"]
    return []


def _derived_problems(schema: RelationalSchema, name: str, table: RelationalTable) -> list[str]:
    parents = {t: spec.parent_table for t, spec in schema.tables.items()}
    reachable = [name, *parent_chain(parents, name)]
    problems: list[str] = []
    for derived, spec in table.derived.items():
        for end, place in (("start", spec.start), ("end", spec.end)):
            source, column = split_place(place)
            source = source or name
            where = f"table {name}: derived column '{derived}' {end} {place}"
            if source not in reachable:
                problems.append(f"{where}: table '{source}' is not {name} or on its parent chain "
                                f"({' -> '.join(reachable)})")
            elif not isinstance(schema.tables[source].columns.get(column), DatetimeColumn):
                problems.append(f"{where}: '{column}' is not a datetime column of table {source}")
    return problems


def _cycle_text(schema: RelationalSchema, cycle: list[str]) -> str:
    steps = []
    for table, target in zip(cycle, cycle[1:]):
        column = next(c for c, ref in schema.tables[table].references.items() if ref.table == target)
        steps.append(f"{table}.{column}")
    return " -> ".join(steps) + f" -> {cycle[-1]}"


def _joined(problems: list[str]) -> str:
    more = len(problems) - _MAX_PROBLEMS
    return "; ".join(problems[:_MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
