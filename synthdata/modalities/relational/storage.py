"""A fitted relational generator in one file, and back (for the run's work area and later samples).

``save_generator`` writes ``torch.save`` of plain data only (the public schema, the model spec, each table's
codec settings, weights, training outcome and discovery report, the DP cardinalities, the budget split, the
mechanisms and their composition), so ``load_generator`` reads it with ``weights_only=True``: loading runs no
code from the file.

Privacy: everything stored is DP output or public (the generator is what a release may keep), except
``TrainingOutcome.final_loss``, a non-private diagnostic: keep the file in the run's private work area.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from synthdata.config import ModelSpec
from synthdata.modalities.relational.budget import BudgetSplit, Part
from synthdata.modalities.relational.cardinality import CardinalityModel
from synthdata.modalities.relational.generator import RelationalGenerator, TableModel
from synthdata.modalities.relational.schema import RelationalSchema
from synthdata.modalities.table.discovery import DiscoveryReport
from synthdata.modalities.table.encoding import TableCodec
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
