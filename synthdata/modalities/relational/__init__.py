"""Relational tables (multi-table EHR extracts): the input layer.

A folder of CSV/Parquet tables and a relational schema (``schema.py``) naming each table's columns (the
table schema's types and public domains), its primary key, its foreign keys and the subject table (the
patient, the privacy unit).  ``load_database`` (``loading.py``) reads every table, checks the key graph,
drops orphans, applies the declared caps, derives relative times (``derived.py``) and resolves every row's
subject; the result is a ``RelationalDatabase`` (``database.py``).  ``cardinality.py`` measures the number
of children per parent row of every relationship with DP (``measure_cardinalities``); ``skeleton.py`` draws a
synthetic database's structure from it (``sample_skeleton``: row counts, parent rows, fresh keys).

The DP generator (``generator.py``): ``fit_relational`` splits one (epsilon, delta) across the cardinalities,
column discovery and one DP-SGD denoiser per table (``budget.py``), each trained on one unit per patient with
every child row conditioned on its parent row's encoding (``context.py``); ``sample_relational`` fills a
skeleton, parents first, children conditioned on their synthetic parent rows; ``storage.py`` saves and loads a
fitted generator.

``modality.py`` makes it the release modality ``relational`` (``synthdata release``, its Dagster job; the
steps are ``synthdata.flow.databases``).  Not yet: one Dagster asset per table (issue 17).  The counts a
``RelationalDatabase`` holds are exact and computed from the private records: they stay in the private work
area (see ``database.py``).
"""

from synthdata.modalities.relational.checks import (
    load_relational_schema,
    parse_relational_schema,
)
from synthdata.modalities.relational.database import (
    LoadedTable,
    RelationalDatabase,
    TableCounts,
)
from synthdata.modalities.relational.generator import (
    RelationalGenerator,
    SyntheticDatabase,
    fit_relational,
    sample_relational,
)
from synthdata.modalities.relational.loading import load_database
from synthdata.modalities.relational.schema import RelationalSchema
from synthdata.modalities.relational.storage import load_generator, save_generator

__all__ = [
    "LoadedTable",
    "RelationalDatabase",
    "RelationalGenerator",
    "RelationalSchema",
    "SyntheticDatabase",
    "TableCounts",
    "fit_relational",
    "load_database",
    "load_generator",
    "load_relational_schema",
    "parse_relational_schema",
    "sample_relational",
    "save_generator",
]
