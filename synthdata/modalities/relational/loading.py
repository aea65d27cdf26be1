"""Load a relational database: read every table, check its keys, drop orphans, apply the caps, derive
relative times, and tie every row to its subject (the patient).

In order, each step over every table before the next, so that bad input is refused before anything else:

1. the public dictionaries, then every table, typed by its table schema (the table reader's rules and
   errors, prefixed with the table's name);
2. keys: a key column may not be empty and a key (one column or several) may not repeat;
3. references, tables taken parents first: a foreign key pointing at no row (or at a row dropped as an
   orphan) makes its row an orphan, dropped and counted (``on_orphan: drop``), refused (``error``), or
   kept with the link emptied (``unlink``).  Every row's subject is found through its links; links that
   lead to different patients are refused;
4. caps, parents first: a row whose referenced row a cap removed goes too (or is unlinked), then
   ``max_rows_per_parent`` and ``max_rows_per_subject`` (``caps.py``: random per group, patient-local); the
   counts of what was removed, exact and clipped per (would-be) patient (``TableCounts``);
5. derived columns on the kept rows (``derived.py``).

Nothing is written and nothing is charged: every error is a ``BadInputError`` (exit 2) naming the table and
column, with counts and 1-based data rows of the table's file (at most five), never a value (examples, where
they help, go into the hint only the local CLI prints).  See ``database.py`` for what the result holds and
why its counts are private.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from synthdata.errors import BadInputError
from synthdata.modalities.relational.caps import keep_at_most
from synthdata.modalities.relational.checks import load_relational_schema
from synthdata.modalities.relational.database import (
    LoadedTable,
    RelationalDatabase,
    TableCounts,
)
from synthdata.modalities.relational.derived import derive_columns
from synthdata.modalities.relational.graph import topological_order
from synthdata.modalities.relational.schema import (
    DictionaryCategoricalColumn,
    RelationalSchema,
    split_place,
)
from synthdata.modalities.table.reader import read_table
from synthdata.modalities.table.schema import TableSchema

_MAX_ROWS_SHOWN = 5


@dataclass
class _Rows:
    """One table during loading, over the rows as read: links and subjects as read positions."""

    frame: pl.DataFrame
    links: dict[str, np.ndarray] = field(default_factory=dict)
    subject: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    orphan: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    capped: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    unlinked: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    claim: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    counts: TableCounts = field(default_factory=lambda: TableCounts(read=0))


def load_database(*, schema: RelationalSchema | Path, folder: Path, seed: int = 0) -> RelationalDatabase:
    """Read the database in ``folder`` declared by ``schema`` (a schema or its YAML file).

    ``seed`` (public) chooses which rows the caps keep.  Raises BadInputError for every problem with the
    schema, the files, the keys or the orphans (under ``on_orphan: error``), before returning anything."""
    if not isinstance(schema, RelationalSchema):
        schema = load_relational_schema(Path(schema))
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"database folder {folder} does not exist or is not a folder")
    dictionaries = _read_dictionaries(schema, folder)
    schemas = {name: _table_schema(schema, name, dictionaries) for name in schema.tables}
    rows = {name: _Rows(frame=_read_table(schema, name, folder, schemas[name])) for name in schema.tables}
    _check_keys(schema, rows)
    edges = {name: [ref.table for ref in spec.references.values()] for name, spec in schema.tables.items()}
    order = topological_order(edges)  # acyclic: checked with the schema
    problems: list[str] = []
    for name in order:
        problems += _resolve_links(schema, name, rows)
    if problems:
        raise BadInputError("; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else ""))
    for name in order:
        _apply_caps(schema, name, rows, seed=seed)
    return _assemble(schema, folder, order, rows, schemas, dictionaries)


# ------------------------------------------------------------------------------------------------- reading


def _read_dictionaries(schema: RelationalSchema, folder: Path) -> dict[str, pl.DataFrame]:
    frames = {}
    for name, dictionary in schema.dictionaries.items():
        try:
            frames[name] = read_table(path=folder / dictionary.file, schema=None, missing_values=schema.missing_values)
        except BadInputError as error:
            raise BadInputError(f"dictionary {name}: {error.message}", hint=error.hint) from None
    return frames


def _table_schema(schema: RelationalSchema, name: str, dictionaries: dict[str, pl.DataFrame]) -> TableSchema:
    """The table schema its file is read with: dictionary categories resolved; the subject table's subject
    is its key."""
    spec = schema.tables[name]
    columns = {}
    for column_name, column in spec.columns.items():
        if isinstance(column, DictionaryCategoricalColumn):
            dictionary, source = split_place(column.categories_from)
            frame = dictionaries[str(dictionary)]
            if source not in frame.columns:
                raise BadInputError(f"table {name}: column '{column_name}' takes its categories from "
                                    f"{column.categories_from}, but dictionary {dictionary} "
                                    f"({schema.dictionaries[str(dictionary)].file}) has no column '{source}'")
            categories = frame[source].drop_nulls().unique(maintain_order=True).to_list()
            if not categories and column.other is None:
                raise BadInputError(f"table {name}: column '{column_name}': dictionary column "
                                    f"{column.categories_from} is empty")
            columns[column_name] = column.resolved([str(c) for c in categories])
        else:
            columns[column_name] = column
    subject = spec.keys[0] if name == schema.subject else None
    return TableSchema(columns=columns, subject=subject, missing_values=schema.missing_values_of(name))


def _read_table(schema: RelationalSchema, name: str, folder: Path, table_schema: TableSchema) -> pl.DataFrame:
    try:
        return read_table(path=folder / schema.tables[name].file, schema=table_schema)
    except BadInputError as error:
        raise BadInputError(f"table {name}: {error.message}", hint=error.hint) from None


def _check_keys(schema: RelationalSchema, rows: dict[str, _Rows]) -> None:
    problems = []
    for name, spec in schema.tables.items():
        frame = rows[name].frame
        empties = [key for key in spec.keys if frame[key].null_count()]
        for key in empties:
            empty = frame[key].is_null().to_numpy()
            problems.append(f"table {name}: key column '{key}' has {int(empty.sum())} empty value(s) ({_rows(empty)})")
        if spec.keys and not empties:
            repeated = frame.select(spec.keys).is_duplicated().to_numpy()
            if repeated.any():
                what = f"key column '{spec.keys[0]}'" if len(spec.keys) == 1 else f"key ({', '.join(spec.keys)})"
                problems.append(f"table {name}: {what} is not unique: {int(repeated.sum())} row(s) share a key "
                                f"with another ({_rows(repeated)})")
    if problems:
        raise BadInputError("; ".join(problems[:8]))


# -------------------------------------------------------------------------------------------- references


def _resolve_links(schema: RelationalSchema, name: str, rows: dict[str, _Rows]) -> list[str]:
    """Links, subjects and orphans of ``name`` (its referenced tables already resolved); the problems of
    ``on_orphan: error`` references, and of links that disagree on the patient."""
    table = rows[name]
    n = table.frame.height
    spec = schema.tables[name]
    if name == schema.subject:
        table.subject = np.arange(n)
        table.orphan, table.unlinked = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        table.claim = np.array([f"{_PATIENT}{key}" for key in table.frame[schema.subject_key].cast(pl.String)],
                               dtype=object)
        table.counts = TableCounts(read=n)
        return []
    problems: list[str] = []
    dangling, of_orphans, unlinked = (np.zeros(n, dtype=bool) for _ in range(3))
    subject = np.full(n, -1, dtype=np.int64)
    disagree = np.zeros(n, dtype=bool)
    claims: list[np.ndarray] = []
    for column, reference in spec.references.items():
        target = rows[reference.table]
        keys = target.frame[reference.column]
        values = table.frame[column]
        found = values.replace_strict(keys, np.arange(keys.len()), default=None, return_dtype=pl.Int64)
        missing = (values.is_not_null() & found.is_null()).to_numpy()
        positions = found.fill_null(-1).to_numpy().astype(np.int64)
        dropped = (positions >= 0) & target.orphan[np.clip(positions, 0, None)]
        claims.append(_claimed(values, positions, target.claim,
                               prefix=_PATIENT if reference.table == schema.subject else f"{reference.table} "))
        mode = schema.on_orphan_of(name, column)
        if mode == "error" and (missing | dropped).any():
            problems.append(_orphan_problem(name, column, reference.to, missing, dropped))
        if mode == "unlink":
            unlinked |= missing | dropped
            positions[missing | dropped] = -1
        else:
            dangling |= missing
            of_orphans |= dropped
        table.links[column] = positions
        theirs = np.where(positions >= 0, target.subject[np.clip(positions, 0, None)], -1)
        disagree |= (subject >= 0) & (theirs >= 0) & (subject != theirs)
        subject = np.where(subject < 0, theirs, subject)
    no_subject = (subject < 0) & ~dangling & ~of_orphans
    if no_subject.any() and (spec.on_orphan or schema.on_orphan) == "error":
        problems.append(f"table {name}: {int(no_subject.sum())} row(s) have every foreign key empty, so no "
                        f"patient ({_rows(no_subject)})")
    orphan = dangling | of_orphans | no_subject
    if (disagree & ~orphan).any():
        problems.append(f"table {name}: {int((disagree & ~orphan).sum())} row(s) whose foreign keys "
                        f"({', '.join(spec.references)}) lead to different patients ({_rows(disagree & ~orphan)})")
    table.subject, table.orphan, table.unlinked = subject, orphan, unlinked & ~orphan
    table.claim = _claims(name, claims, n)
    table.counts = TableCounts(read=n, orphans=int((dangling | no_subject).sum()),
                               orphans_of_orphans=int((of_orphans & ~dangling & ~no_subject).sum()))
    return problems


_PATIENT = "patient "


def _claimed(values: pl.Series, positions: np.ndarray, target_claims: np.ndarray, *, prefix: str) -> np.ndarray:
    """Per row, the (would-be) patient one foreign key names: the referenced row's claim where it was found,
    else the dangling key itself (``prefix`` + value: a patient's key when the reference is to the subject
    table); None where the key is empty."""
    found = positions >= 0
    out = np.full(positions.shape, None, dtype=object)
    out[found] = target_claims[positions[found]]
    text = values.cast(pl.String).to_list()
    for row in np.flatnonzero(~found):
        if text[row] is not None:
            out[row] = prefix + text[row]
    return out


def _claims(name: str, claims: list[np.ndarray], n: int) -> np.ndarray:
    """Each row's group for the clipped orphan count: the first patient key its references name (directly,
    or through the rows they find), else the first key they name at all (a chain that dangles before any
    patient key: a would-be patient may then span several groups), else the row itself (every key empty)."""
    out = np.array([f"row {name} {i}" for i in range(n)], dtype=object)
    for row in range(n):
        named = [c[row] for c in claims if c[row] is not None]
        patients = [c for c in named if c.startswith(_PATIENT)]
        if patients or named:
            out[row] = (patients or named)[0]
    return out


def _clipped_count(groups: np.ndarray, clip: int | None) -> int:
    """The number of rows with each group counting for at most ``clip`` of them (0 without a clip)."""
    if clip is None or groups.size == 0:
        return 0
    _, sizes = np.unique(groups.astype(str), return_counts=True)
    return int(np.minimum(sizes, clip).sum())


def _orphan_problem(name: str, column: str, to: str, missing: np.ndarray, dropped: np.ndarray) -> str:
    parts = []
    if missing.any():
        parts.append(f"{int(missing.sum())} row(s) whose '{column}' matches no {to} ({_rows(missing)})")
    if dropped.any():
        parts.append(f"{int(dropped.sum())} row(s) whose {to} row is itself an orphan ({_rows(dropped)})")
    return f"table {name} (on_orphan: error): " + " and ".join(parts)


# ---------------------------------------------------------------------------------------------------- caps


def _apply_caps(schema: RelationalSchema, name: str, rows: dict[str, _Rows], *, seed: int) -> None:
    table = rows[name]
    spec = schema.tables[name]
    alive = ~table.orphan
    with_parent = np.zeros_like(alive)
    for column, reference in spec.references.items():
        positions = table.links[column]
        hit = alive & (positions >= 0) & rows[reference.table].capped[np.clip(positions, 0, None)]
        if schema.on_orphan_of(name, column) == "unlink":
            positions[hit] = -1
            table.unlinked |= hit
        else:
            with_parent |= hit
    alive &= ~with_parent
    per_parent = np.zeros_like(alive)
    if spec.max_rows_per_parent is not None:
        per_parent = alive & ~_kept(_parent_groups(schema, name, rows), alive, cap=spec.max_rows_per_parent,
                                    seed=seed, salt=f"{name}|parent")
        alive &= ~per_parent
    per_subject = np.zeros_like(alive)
    if spec.max_rows_per_subject is not None:
        per_subject = alive & ~_kept(_subject_keys(schema, table.subject, rows), alive,
                                     cap=spec.max_rows_per_subject, seed=seed, salt=f"{name}|subject")
    table.capped = with_parent | per_parent | per_subject
    clip = schema.rows_per_subject_bound(name) if name != schema.subject else None
    table.counts = replace(table.counts, capped_per_parent=int(per_parent.sum()),
                           capped_per_subject=int(per_subject.sum()), removed_with_parent=int(with_parent.sum()),
                           unlinked=int((table.unlinked & ~table.orphan & ~table.capped).sum()), clip=clip,
                           orphans_clipped=_clipped_count(table.claim[table.orphan], clip),
                           removed_clipped=_clipped_count(table.subject[table.capped], clip))


def _kept(groups: pl.Series, alive: np.ndarray, *, cap: int, seed: int, salt: str) -> np.ndarray:
    """Over all rows: True where an alive row survives the cap of its group (dead rows: True, untouched)."""
    keep = np.ones(alive.shape, dtype=bool)
    keep[alive] = keep_at_most(groups=groups.filter(pl.Series(alive)), cap=cap, seed=seed, salt=salt)
    return keep


def _subject_keys(schema: RelationalSchema, subject: np.ndarray, rows: dict[str, _Rows]) -> pl.Series:
    """Each row's patient's key (null where it has none); a patient's own value, so caps stay local."""
    keys = rows[schema.subject].frame[schema.subject_key]
    picked = keys.gather(np.clip(subject, 0, None))
    return picked.set(pl.Series(subject < 0), None) if len(subject) else picked


def _parent_groups(schema: RelationalSchema, name: str, rows: dict[str, _Rows]) -> pl.Series:
    """Each row's group for ``max_rows_per_parent``: its parent's key; rows without a parent row (an empty
    parent key) form one group per patient."""
    spec = schema.tables[name]
    column = spec.parent_column
    assert column is not None
    parent_key = rows[name].frame[column].cast(pl.String)
    patient = _subject_keys(schema, rows[name].subject, rows).cast(pl.String)
    return pl.select(pl.when(parent_key.is_not_null()).then(pl.lit("row ") + parent_key)
                     .otherwise(pl.lit("patient ") + patient)).to_series()


# ------------------------------------------------------------------------------------------------ result


def _assemble(schema: RelationalSchema, folder: Path, order: list[str], rows: dict[str, _Rows],
              schemas: dict[str, TableSchema], dictionaries: dict[str, pl.DataFrame]) -> RelationalDatabase:
    kept = {name: ~rows[name].orphan & ~rows[name].capped for name in order}
    renumber = {name: np.cumsum(mask) - 1 for name, mask in kept.items()}
    empty = [f"{name} ({rows[name].counts.read} read)" for name in order if not kept[name].any()]
    if empty:
        raise BadInputError(f"no row is left after dropping orphans and applying caps in table(s) {', '.join(empty)}: "
                            "check the foreign keys and the on_orphan settings")
    frames, links, subjects, parents = {}, {}, {}, {}
    for name in order:
        spec, table, mask = schema.tables[name], rows[name], kept[name]
        frames[name] = table.frame.filter(pl.Series(mask))
        links[name] = {}
        for column, reference in spec.references.items():
            positions = table.links[column][mask]
            present = positions >= 0
            out = np.full(positions.shape, -1, dtype=np.int64)
            out[present] = renumber[reference.table][positions[present]]
            links[name][column] = out
        subjects[name] = renumber[schema.subject][table.subject[mask]]
        column = spec.parent_column
        parents[name] = (spec.references[column].table, links[name][column]) if column is not None else None
    tables = {}
    for name in order:
        spec = schema.tables[name]
        derived = derive_columns(table=name, derived=spec.derived, frames=frames, parents=parents)
        frame = frames[name].hstack(derived) if derived.width else frames[name]
        full_schema = schemas[name].model_copy(
            update={"columns": {**schemas[name].columns, **{d: c.as_column() for d, c in spec.derived.items()}}})
        tables[name] = LoadedTable(
            name=name, frame=frame, schema=full_schema, keys=tuple(spec.keys), parent=spec.parent_table,
            parent_column=spec.parent_column, links=links[name], subject=subjects[name], counts=rows[name].counts,
            derived=tuple(spec.derived))
    return RelationalDatabase(schema=schema, folder=folder, tables=tables, dictionaries=dictionaries)


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r + 1) for r in rows[:_MAX_ROWS_SHOWN])
    return f"rows {shown}{', ...' if rows.size > _MAX_ROWS_SHOWN else ''}; 1-based data rows"
