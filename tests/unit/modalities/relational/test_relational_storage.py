"""A loaded database survives the run's work area: ``save_database`` then ``read_database`` give back the same
rows, links, patients, table schemas and loading counts (the shipped example, its orphans dropped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthdata.modalities.relational import load_database
from synthdata.modalities.relational.storage import read_database, save_database

DATA = Path(__file__).resolve().parents[4] / "synthdata" / "data"


def test_a_database_reads_back_as_it_was_saved(tmp_path: Path) -> None:
    database = load_database(schema=DATA / "ehr_example.schema.yaml", folder=DATA / "ehr_example")
    holdout = np.arange(database.n_subjects) % 4 == 0  # a split's side, renumbered links
    side = database.select_subjects(keep=~holdout)
    back = read_database(save_database(side, tmp_path / "train"))
    assert back.schema == side.schema and back.order == side.order and back.n_subjects == side.n_subjects
    for name, table in side.tables.items():
        again = back.tables[name]
        assert again.frame.equals(table.frame) and again.schema == table.schema
        assert np.array_equal(again.subject, table.subject)
        assert again.links.keys() == table.links.keys()
        assert all(np.array_equal(again.links[c], table.links[c]) for c in table.links)
        assert (again.keys, again.parent, again.parent_column, again.derived, again.counts) == (
            table.keys, table.parent, table.parent_column, table.derived, table.counts)
    assert database.tables["DIAGNOSES"].counts.dropped_as_orphans == back.tables["DIAGNOSES"].counts.dropped_as_orphans == 10
