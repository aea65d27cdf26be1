"""A table's rows as a model sees them: encoded by the table's codec, each followed by its parent row's
encoding (the context the generator conditions on), grouped into one DP-SGD unit per patient.

**Codecs** (``resolve_codecs``): each table's codec is the table modality's ``TableCodec`` of the loaded
table schema (declared and derived columns, dictionary categories resolved; identifiers, keys included,
never modelled).  Columns a table leaves to ``discover`` are learned with the table modality's own DP
discovery (``synthdata.modalities.table.discovery.resolve_schema``) at the table's share of epsilon, with
sensitivity ``schema.rows_per_subject_bound(table)``: the most rows one patient keeps under the declared
caps (``load_database`` applied them, so the bound holds); a table with open columns and no bound is refused.
Nothing else is read from the data: every other range and category list is the declared public schema.

**Context** (``context_rows``): a child row's condition is its parent row's encoding by the PARENT table's
codec (all zeros where the row has no parent row, e.g. a lab test outside any admission: the diffusion
process's "no condition", which condition dropout also trains).  At training time the parent row is the real
one, which belongs to the same patient as the child row (links that lead to different patients are refused
when loading), so it stays inside that patient's unit; at sampling time it is the synthetic parent row.

**Units** (``table_units``): every row of the table, data then context, grouped by its patient
(``synthdata.modalities.grouping.group_units`` on the subject positions): one unit per patient of the
database holding all their rows of this table, so DP-SGD clips one gradient per patient.  A patient without
a row in the table is an empty unit (zero gradient): every table's model has as many units as the database
has patients, so its sampling rate and steps depend on the number of patients alone (public by
declaration, as for one table), never on how many patients have rows in that table (a private count, which
only the DP structure mechanism reads, ``cardinality.py``).

Privacy caveats: the encoded tensors are private (the run's work area only).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
import torch

from synthdata.errors import BadInputError
from synthdata.modalities.base import Units
from synthdata.modalities.grouping import group_units
from synthdata.modalities.relational.budget import Part
from synthdata.modalities.relational.database import LoadedTable, RelationalDatabase
from synthdata.modalities.table.discovery import (
    DiscoveryReport,
    doomed_columns,
    resolve_schema,
)
from synthdata.modalities.table.encoding import TableCodec


def open_columns(database: RelationalDatabase) -> dict[str, int]:
    """Per table, how many columns its schema leaves to ``discover`` (public: from the schema)."""
    return {name: len(loaded.schema.needs_discovery) for name, loaded in database.tables.items()}


def resolve_codecs(*, database: RelationalDatabase, discovery: Mapping[str, Part],
                   rng: np.random.Generator) -> tuple[dict[str, TableCodec], dict[str, DiscoveryReport]]:
    """Every table's codec, parents first, learning open domains with DP at ``discovery[table]`` (see the
    module docstring).  ``rng`` must be seeded from unrecorded OS entropy in a release.

    Raises BadInputError for a table with open columns but no share or no bound on rows per patient, and
    PreprocessingFailedError (from the table modality) when a range cannot be learned at its epsilon."""
    schema = database.schema
    codecs, reports = {}, {}
    for name, loaded in database.tables.items():
        table_schema = loaded.schema
        if table_schema.needs_discovery:
            bound = schema.rows_per_subject_bound(name)
            if bound is None:
                raise BadInputError(f"table {name}: column(s) {', '.join(table_schema.needs_discovery)} are to be "
                                    "discovered with DP, which needs a bound on one patient's rows: declare "
                                    "max_rows_per_parent (or max_rows_per_subject), or the columns' domains")
            if name not in discovery:
                raise BadInputError(f"table {name}: no epsilon was set aside to discover "
                                    f"{', '.join(table_schema.needs_discovery)}")
            part = discovery[name]
            table_schema, reports[name] = resolve_schema(frame=loaded.frame, schema=table_schema,
                                                         epsilon=part.epsilon, delta=part.delta, sensitivity=bound,
                                                         rng=rng)
        codecs[name] = TableCodec(schema=table_schema)
    return codecs, reports


def refuse_doomed(*, database: RelationalDatabase, discovery: Mapping[str, Part]) -> None:
    """Refuse (BadInputError, before any mechanism runs) when a table's open numeric or datetime range would
    most likely not be learned with DP at its share: the table modality's ``doomed_columns`` rule (a local,
    noise-free look at the data that names columns, never values)."""
    doomed = []
    for name, loaded in database.tables.items():
        bound = database.schema.rows_per_subject_bound(name)
        if name in discovery and bound is not None:
            doomed += [f"{name}.{column}" for column in doomed_columns(
                frame=loaded.frame, schema=loaded.schema, epsilon=discovery[name].epsilon, sensitivity=bound)]
    if doomed:
        raise BadInputError(f"could not learn the range of {', '.join(doomed)} with DP at this discovery budget and "
                            "the tables' bounds on rows per patient: declare their min and max in the schema or raise "
                            "discovery_share. Nothing was spent")


def encode_rows(*, codec: TableCodec, frame: pl.DataFrame) -> np.ndarray:
    """``frame``'s modelled columns encoded (float32, ``(rows, codec.width)``); an empty frame gives no rows."""
    if frame.height == 0:
        return np.zeros((0, codec.width), dtype=np.float32)
    return codec.encode(frame)


def context_rows(*, parent_encoded: np.ndarray, parent_row: np.ndarray) -> np.ndarray:
    """Each row's condition: its parent row's encoding, zeros where ``parent_row`` is -1 (no parent row)."""
    parent_row = np.asarray(parent_row, dtype=np.int64)
    out = np.zeros((len(parent_row), parent_encoded.shape[1]), dtype=np.float32)
    present = parent_row >= 0
    out[present] = parent_encoded[parent_row[present]]
    return out


def table_rows(*, loaded: LoadedTable, codec: TableCodec, parent_encoded: np.ndarray | None) -> np.ndarray:
    """The table's rows as the model reads them: data, then the parent row's encoding when conditioned."""
    data = encode_rows(codec=codec, frame=loaded.frame)
    if parent_encoded is None:
        return data
    assert loaded.parent_row is not None, f"{loaded.name} has no parent to condition on"
    return np.concatenate([data, context_rows(parent_encoded=parent_encoded, parent_row=loaded.parent_row)], axis=1)


def table_units(*, loaded: LoadedTable, codec: TableCodec, parent_encoded: np.ndarray | None,
                n_subjects: int) -> Units:
    """One unit per patient of the database (``n_subjects``, in the order of the subject table): all their
    rows of the table (data and context), padded; empty (mask all False) for a patient without a row in it.
    See the module docstring."""
    rows = table_rows(loaded=loaded, codec=codec, parent_encoded=parent_encoded)
    if len(rows) == 0:
        raise BadInputError(f"table {loaded.name} has no rows to train on")
    subject = np.asarray(loaded.subject, dtype=np.int64)
    grouped = group_units(rows=torch.from_numpy(rows), keys=subject)
    present = torch.from_numpy(np.unique(subject))  # group_units' order: sorted keys
    data = torch.zeros((n_subjects, *grouped.data.shape[1:]), dtype=grouped.data.dtype)
    mask = torch.zeros((n_subjects, grouped.mask.shape[1]), dtype=torch.bool)
    data[present], mask[present] = grouped.data, grouped.mask
    return Units(data=data, mask=mask)


def with_rows(units: Units) -> Units:
    """The units that hold at least one row (what a table's DP column distributions measure)."""
    keep = units.mask.any(dim=1)
    return Units(data=units.data[keep], mask=units.mask[keep])
