"""What ``load_database`` returns: the kept rows of every table, the key graph as row positions, every row's
subject, and what loading removed.

The design serves a per-table generator conditioned on parent rows (issue 17, next): tables come parents
first (``RelationalDatabase.order``), each row knows its parent row (``LoadedTable.parent_row``, a position in
the parent table's frame) and its subject (``LoadedTable.subject``, a position in the subject table's frame),
so a generator can encode a table with its parent's columns as context, group every table's rows by patient
into one DP-SGD unit, and ``select_subjects`` splits the whole database by patient (train / holdout).

Privacy caveats: everything here is private.  The frames are the private rows; the positions tie rows to
patients (never write them outside the run's private work area); and ``TableCounts`` are EXACT counts of
private records.  The project's rules let no count leave the work area unless the privacy statement names it
public (today: the privacy units and records in the training split) or it is measured with DP and charged.
Neither the orphan counts nor the numbers of rows the caps removed are bounded per patient (an admission of
the MIMIC demo has 558 prescriptions), so what a report shows is their clipped forms (``orphans_clipped``,
``removed_clipped``: each patient, or would-be patient an orphan's keys name, counted for at most the table's
bound on rows per patient), noised by the structure mechanism and composed with everything else
(``cardinality.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from synthdata.modalities.relational.graph import children_of
from synthdata.modalities.relational.schema import RelationalSchema
from synthdata.modalities.table.schema import TableSchema


@dataclass(frozen=True)
class TableCounts:
    """Rows of one table at each step of loading (exact, private: see the module docstring).

    ``orphans``: a foreign key pointed at no row of its table as read (or the row had no link to any
    patient); ``orphans_of_orphans``: every key joined, but a row it points at was itself dropped as an
    orphan; ``unlinked``: rows kept whose dangling optional link (``on_orphan: unlink``) was emptied;
    ``capped_per_parent`` / ``capped_per_subject``: removed by this table's own caps;
    ``removed_with_parent``: removed because a row they reference was removed by a cap.

    ``clip``: the table's public bound on rows per patient (``RelationalSchema.rows_per_subject_bound``; None:
    no cap bounds it); ``orphans_clipped`` / ``removed_clipped``: the orphan rows and the rows the caps removed
    with each (would-be) patient counted for at most ``clip`` of them (the orphans grouped by the patient key
    their references claim, ``loading._claims``; removed rows by their patient).  These two have a bounded
    sensitivity, so the structure mechanism can release them with DP (``cardinality.measure_cardinalities``);
    the exact counts cannot be released at all."""

    read: int
    orphans: int = 0
    orphans_of_orphans: int = 0
    unlinked: int = 0
    capped_per_parent: int = 0
    capped_per_subject: int = 0
    removed_with_parent: int = 0
    clip: int | None = None
    orphans_clipped: int = 0
    removed_clipped: int = 0

    @property
    def dropped_as_orphans(self) -> int:
        return self.orphans + self.orphans_of_orphans

    @property
    def removed_by_caps(self) -> int:
        return self.capped_per_parent + self.capped_per_subject + self.removed_with_parent

    @property
    def kept(self) -> int:
        return self.read - self.dropped_as_orphans - self.removed_by_caps

    def as_dict(self) -> dict[str, int]:
        return {"read": self.read, "orphans": self.orphans, "orphans_of_orphans": self.orphans_of_orphans,
                "unlinked": self.unlinked, "capped_per_parent": self.capped_per_parent,
                "capped_per_subject": self.capped_per_subject, "removed_with_parent": self.removed_with_parent,
                "kept": self.kept}


@dataclass(frozen=True)
class LoadedTable:
    """One table's kept rows, in file order, and where each row points.

    ``frame``: the declared columns, typed by the table reader, then the derived columns; ``schema``: the
    table schema of exactly those columns (dictionary categories resolved, derived times as numeric columns),
    what a per-table codec encodes (identifier columns, keys included, are never modelled).  ``links``: per
    foreign key column, the position of the referenced row in that table's ``frame``, -1 where the key is
    empty or was unlinked.  ``subject``: each row's patient, a position in the subject table's frame."""

    name: str
    frame: pl.DataFrame
    schema: TableSchema
    keys: tuple[str, ...]
    parent: str | None
    parent_column: str | None
    links: Mapping[str, np.ndarray]
    subject: np.ndarray
    counts: TableCounts
    derived: tuple[str, ...] = field(default=())

    @property
    def parent_row(self) -> np.ndarray | None:
        """Each row's parent row (position in the parent table's frame; -1 where the parent key is empty,
        e.g. a lab event outside any admission), or None for the subject table."""
        return self.links[self.parent_column] if self.parent_column is not None else None

    @property
    def height(self) -> int:
        return self.frame.height


@dataclass(frozen=True)
class RelationalDatabase:
    """Every table of a loaded database, parents first, with the public dictionaries it was read with."""

    schema: RelationalSchema
    folder: Path
    tables: Mapping[str, LoadedTable]
    dictionaries: Mapping[str, pl.DataFrame]

    @property
    def subject_table(self) -> str:
        return self.schema.subject

    @property
    def order(self) -> tuple[str, ...]:
        """Table names, each after every table it references."""
        return tuple(self.tables)

    @property
    def n_subjects(self) -> int:
        return self.tables[self.schema.subject].height

    def children(self, table: str) -> list[str]:
        """Tables whose parent is ``table``."""
        return children_of({name: loaded.parent for name, loaded in self.tables.items()})[table]

    def counts(self) -> dict[str, TableCounts]:
        """What loading removed, per table (exact, private: see the module docstring)."""
        return {name: loaded.counts for name, loaded in self.tables.items()}

    def select_subjects(self, *, keep: np.ndarray) -> RelationalDatabase:
        """The database of the subjects where ``keep`` (a mask over the subject table's rows) is True: each
        table keeps its rows of those subjects, and every link and subject position is renumbered.

        A split by patient (train / holdout) is two calls with complementary masks.  ``counts`` stay the
        loading's (they describe the whole input, not the selection)."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_subjects,):
            raise ValueError(f"keep must be a mask over the {self.n_subjects} subjects")
        masks = {name: keep[loaded.subject] for name, loaded in self.tables.items()}
        renumber = {name: np.cumsum(mask) - 1 for name, mask in masks.items()}
        tables = {}
        for name, loaded in self.tables.items():
            mask = masks[name]
            links = {column: _renumbered(positions[mask], renumber[self._target(name, column)])
                     for column, positions in loaded.links.items()}
            tables[name] = LoadedTable(
                name=name, frame=loaded.frame.filter(pl.Series(mask)), schema=loaded.schema, keys=loaded.keys,
                parent=loaded.parent, parent_column=loaded.parent_column, links=links,
                subject=renumber[self.schema.subject][loaded.subject[mask]], counts=loaded.counts,
                derived=loaded.derived)
        return RelationalDatabase(schema=self.schema, folder=self.folder, tables=tables,
                                  dictionaries=self.dictionaries)

    def _target(self, table: str, column: str) -> str:
        return self.schema.tables[table].references[column].table


def _renumbered(positions: np.ndarray, renumber: np.ndarray) -> np.ndarray:
    """Positions into a table renumbered after a selection (-1 stays -1; every target is kept)."""
    out = np.full(positions.shape, -1, dtype=np.int64)
    present = positions >= 0
    out[present] = renumber[positions[present]]
    return out
