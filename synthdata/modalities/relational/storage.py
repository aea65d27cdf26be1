"""A fitted relational generator in one file, and back (for the run's work area and later samples); a loaded
database in a folder, and back (``save_database``: the run's private work area).

``save_generator`` writes ``torch.save`` of plain data only (the public schema, the model spec, each table's
codec settings, weights, training outcome and discovery report, the DP cardinalities, the budget split, the
mechanisms and their composition), so ``load_generator`` reads it with ``weights_only=True``: loading runs no
code from the file.

Privacy: everything stored is DP output or public (the generator is what a release may keep), except
``TrainingOutcome.final_loss``, a non-private diagnostic: keep the file in the run's private work area.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from synthdata.config import ModelSpec
from synthdata.modalities.relational.budget import BudgetSplit, Part
from synthdata.modalities.relational.cardinality import CardinalityModel
from synthdata.modalities.relational.database import LoadedTable, RelationalDatabase, TableCounts
from synthdata.modalities.relational.generator import RelationalGenerator, TableModel
from synthdata.modalities.relational.schema import RelationalSchema
from synthdata.modalities.table.discovery import DiscoveryReport
from synthdata.modalities.table.encoding import TableCodec
from synthdata.modalities.table.schema import TableSchema
from synthdata.privacy.composition import Composition
from synthdata.privacy.training import TrainingOutcome

_FORMAT = "synthdata.relational_generator"
_VERSION = 2


def save_generator(generator: RelationalGenerator, path: Path) -> Path:
    """Write ``generator`` to ``path`` (see the module docstring)."""
    budget = generator.budget
    state: dict[str, Any] = {
        "format": _FORMAT, "version": _VERSION,
        "schema": generator.schema.model_dump(mode="json"),
        "model": generator.model.model_dump(mode="json"),
        "tables": [{"table": m.table, "codec": m.codec.to_dict(), "condition_on": m.condition_on,
                    "condition_dim": m.condition_dim, "weights": dict(m.weights), "outcome": asdict(m.outcome),
                    "units": m.units, "discovery": asdict(m.discovery) if m.discovery else None,
                    "marginals": m.marginals}
                   for m in generator.tables.values()],
        "cardinalities": generator.cardinalities.to_dict(),
        "budget": {"epsilon": budget.epsilon, "delta": budget.delta, "rule": budget.rule,
                   "cardinalities": asdict(budget.cardinalities) if budget.cardinalities else None,
                   "discovery": {t: asdict(p) for t, p in budget.discovery.items()},
                   "training": {t: asdict(p) for t, p in budget.training.items()},
                   "marginals": {t: asdict(p) for t, p in budget.marginals.items()}},
        "mechanisms": [dict(m) for m in generator.mechanisms],
        "composition": asdict(generator.composition),
        "notes": list(generator.notes),
        "noise_scale": generator.noise_scale,
    }
    path = Path(path)
    torch.save(state, path)
    return path


def load_generator(path: Path) -> RelationalGenerator:
    """Read a generator written by ``save_generator``; ValueError for any other file."""
    state = torch.load(Path(path), weights_only=True)
    if not isinstance(state, dict) or state.get("format") != _FORMAT or state.get("version") != _VERSION:
        raise ValueError(f"{path} is not a {_FORMAT} v{_VERSION} file")
    budget = state["budget"]
    tables = {}
    for entry in state["tables"]:
        tables[entry["table"]] = TableModel(
            table=entry["table"], codec=TableCodec.from_dict(entry["codec"]), condition_on=entry["condition_on"],
            condition_dim=int(entry["condition_dim"]), weights=entry["weights"],
            outcome=TrainingOutcome(**entry["outcome"]), units=int(entry["units"]),
            discovery=DiscoveryReport(**entry["discovery"]) if entry["discovery"] else None,
            marginals=entry["marginals"])
    return RelationalGenerator(
        schema=RelationalSchema.model_validate(state["schema"]), model=ModelSpec.model_validate(state["model"]),
        tables=tables, cardinalities=CardinalityModel.from_dict(state["cardinalities"]),
        budget=BudgetSplit(epsilon=budget["epsilon"], delta=budget["delta"], rule=budget["rule"],
                           cardinalities=Part(**budget["cardinalities"]) if budget["cardinalities"] else None,
                           discovery={t: Part(**p) for t, p in budget["discovery"].items()},
                           training={t: Part(**p) for t, p in budget["training"].items()},
                           marginals={t: Part(**p) for t, p in budget["marginals"].items()}),
        mechanisms=tuple(state["mechanisms"]), composition=Composition(**state["composition"]),
        notes=tuple(state["notes"]), noise_scale=float(state["noise_scale"]))


_DATABASE_FORMAT = "synthdata.relational_database"
_SUBJECT = "__subject__"
_LINK = "__link__"


def save_database(database: RelationalDatabase, folder: Path) -> Path:
    """Write a loaded database (its kept rows, links and patients, as ``load_database`` left them) into
    ``folder``: one Parquet file per table with its row positions as extra columns, and ``database.json`` (the
    schema, each table's resolved table schema and what loading removed).

    Privacy: PRIVATE (the rows, and exact counts): only for the run's private work area."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = []
    for index, (name, loaded) in enumerate(database.tables.items()):
        extra = [pl.Series(_SUBJECT, loaded.subject, dtype=pl.Int64),
                 *(pl.Series(f"{_LINK}{column}", positions, dtype=pl.Int64) for column, positions in loaded.links.items())]
        loaded.frame.hstack(extra).write_parquet(folder / f"table_{index}.parquet")
        tables.append({"name": name, "file": f"table_{index}.parquet", "schema": loaded.schema.model_dump(mode="json"),
                       "keys": list(loaded.keys), "parent": loaded.parent, "parent_column": loaded.parent_column,
                       "links": list(loaded.links), "derived": list(loaded.derived), "counts": asdict(loaded.counts)})
    (folder / "database.json").write_text(json.dumps({"format": _DATABASE_FORMAT, "folder": str(database.folder),
                                                      "schema": database.schema.model_dump(mode="json"),
                                                      "tables": tables}, indent=1), encoding="utf-8")
    return folder


def read_database(folder: Path) -> RelationalDatabase:
    """A database written by ``save_database`` (without its dictionaries: their categories are resolved in
    each table's schema already)."""
    folder = Path(folder)
    stored = json.loads((folder / "database.json").read_text(encoding="utf-8"))
    if stored.get("format") != _DATABASE_FORMAT:
        raise ValueError(f"{folder} holds no {_DATABASE_FORMAT}")
    tables = {}
    for entry in stored["tables"]:
        frame = pl.read_parquet(folder / entry["file"])
        links = {column: frame[f"{_LINK}{column}"].to_numpy().astype(np.int64) for column in entry["links"]}
        tables[entry["name"]] = LoadedTable(
            name=entry["name"], frame=frame.drop([_SUBJECT, *(f"{_LINK}{c}" for c in entry["links"])]),
            schema=TableSchema.model_validate(entry["schema"]), keys=tuple(entry["keys"]), parent=entry["parent"],
            parent_column=entry["parent_column"], links=links, subject=frame[_SUBJECT].to_numpy().astype(np.int64),
            counts=TableCounts(**entry["counts"]), derived=tuple(entry["derived"]))
    return RelationalDatabase(schema=RelationalSchema.model_validate(stored["schema"]), folder=Path(stored["folder"]),
                              tables=tables, dictionaries={})
