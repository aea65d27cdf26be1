"""One epsilon for the whole database, split across what reads it (issue 17, item 2).

Every mechanism of a relational fit reads the same privacy unit, the patient (the subject table's row with
every row that references them), so their costs add up for that one unit: the DP cardinality histograms
(``cardinality.py``, one Gaussian mechanism), the column domains a table leaves to ``discover`` (the table
modality's DP discovery, pure epsilon or (epsilon, delta)), and per table its column distributions (the table
modality's DP marginals, one Gaussian mechanism, which the samples are calibrated to) and one DP-SGD training.

**The rule** (``split_budget``), from public inputs only (the schema, the declared shares):

1. ``cardinality_share`` of (epsilon, delta) to the cardinalities (0 when the schema has no relationship);
2. ``discovery_share`` to column discovery, but only when some table has columns to discover; it is split
   over those tables in proportion to their number of open columns (so every open column gets the same
   epsilon, as the table modality's even split within one table);
3. the rest to the tables, split in proportion to ``table_shares`` (declared weights, every table named,
   each > 0) or, when none are declared, equally; within a table ``marginals_share`` measures its column
   distributions (the table modality's ``privacy.marginals_share``, 0.5 by default) and DP-SGD gets the rest.

Delta is split in the same proportions.  The parts sum to the total (basic sequential composition), so the
database is (epsilon, delta)-DP per patient whatever each part's mechanism; ``composed`` then composes the
mechanisms actually run with the project's accountant (``synthdata.privacy.composition``: RDP and PRV over
the Gaussian steps, basic composition for the rest), whose figure is at most the naive sum.  Calibrating the
parts to a tighter composed total (spending the slack) is not done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from synthdata.errors import BadInputError
from synthdata.privacy.composition import Composition, compose

DEFAULT_CARDINALITY_SHARE = 0.1
DEFAULT_DISCOVERY_SHARE = 0.1
DEFAULT_MARGINALS_SHARE = 0.5


@dataclass(frozen=True)
class Part:
    """One mechanism's (epsilon, delta)."""

    epsilon: float
    delta: float


@dataclass(frozen=True)
class BudgetSplit:
    """The split of the database's (epsilon, delta): ``cardinalities``, and per table ``discovery`` (absent:
    nothing to discover), ``marginals`` (absent: not measured) and ``training``."""

    epsilon: float
    delta: float
    cardinalities: Part | None
    discovery: Mapping[str, Part] = field(default_factory=dict)
    training: Mapping[str, Part] = field(default_factory=dict)
    rule: str = ""
    marginals: Mapping[str, Part] = field(default_factory=dict)

    def parts(self) -> list[Part]:
        return [*([self.cardinalities] if self.cardinalities else []), *self.discovery.values(),
                *self.marginals.values(), *self.training.values()]

    def per_table(self) -> dict[str, float]:
        """Each table's epsilon as planned (its discovery, marginals and training), for the report."""
        return {table: part.epsilon + sum(parts[table].epsilon for parts in (self.discovery, self.marginals)
                                          if table in parts)
                for table, part in self.training.items()}


def split_budget(*, tables: Iterable[str], epsilon: float, delta: float, open_columns: Mapping[str, int],
                 has_relationships: bool, table_shares: Mapping[str, float] | None = None,
                 cardinality_share: float = DEFAULT_CARDINALITY_SHARE,
                 discovery_share: float = DEFAULT_DISCOVERY_SHARE,
                 marginals_share: float = DEFAULT_MARGINALS_SHARE) -> BudgetSplit:
    """Split (epsilon, delta) by the module's rule.  ``open_columns``: per table, how many columns it leaves to
    ``discover`` (public: from the schema).  Raises BadInputError on shares that leave nothing to train."""
    tables = list(tables)
    if not (epsilon > 0 and 0 < delta < 1):
        raise BadInputError(f"need epsilon > 0 and 0 < delta < 1, got {epsilon!r}, {delta!r}")
    cards = cardinality_share if has_relationships else 0.0
    discovering = {t: n for t, n in open_columns.items() if n > 0}
    disc = discovery_share if discovering else 0.0
    if not (0 <= cards < 1 and 0 <= disc < 1 and cards + disc < 0.95):
        raise BadInputError(f"cardinality_share {cards:g} + discovery_share {disc:g} must stay below 0.95: "
                            "training needs the rest")
    if not 0 <= marginals_share < 0.95:
        raise BadInputError(f"marginals_share must be in [0, 0.95), got {marginals_share:g}: training needs the rest")
    weights = _weights(tables, table_shares)
    train = 1.0 - cards - disc
    total_open = sum(discovering.values())
    return BudgetSplit(
        epsilon=float(epsilon), delta=float(delta),
        cardinalities=Part(epsilon * cards, delta * cards) if cards else None,
        discovery={t: Part(epsilon * disc * n / total_open, delta * disc * n / total_open)
                   for t, n in discovering.items()},
        marginals={t: Part(epsilon * train * w * marginals_share, delta * train * w * marginals_share)
                   for t, w in weights.items()} if marginals_share else {},
        training={t: Part(epsilon * train * w * (1 - marginals_share), delta * train * w * (1 - marginals_share))
                  for t, w in weights.items()},
        rule=(f"cardinalities {cards:g}, column discovery {disc:g} (by open columns), tables {train:g} "
              + ("by declared table shares" if table_shares else "split equally")
              + f", of which column distributions {marginals_share:g} and DP-SGD {1 - marginals_share:g}"))


def _weights(tables: list[str], shares: Mapping[str, float] | None) -> dict[str, float]:
    if not tables:
        raise BadInputError("no table to train")
    if not shares:
        return {t: 1.0 / len(tables) for t in tables}
    unknown = sorted(set(shares) - set(tables))
    missing = [t for t in tables if t not in shares]
    if unknown or missing:
        raise BadInputError(f"table_shares must name every table and only those: unknown {unknown}, missing {missing}")
    if any(not shares[t] > 0 for t in tables):
        raise BadInputError("every table share must be > 0")
    total = float(sum(shares[t] for t in tables))
    return {t: float(shares[t]) / total for t in tables}


def composed(*, mechanisms: Iterable[Mapping[str, Any]]) -> Composition:
    """The mechanisms of one fit (ledger records with their ``epsilon`` and ``delta``) composed by the
    project's accountant (``synthdata.privacy.composition``) as one charge: ``naive`` is the sum of their
    epsilons, ``rdp``/``prv`` the accountant's bounds over the Gaussian steps (DP-SGD, the cardinalities'
    Gaussian mechanism) plus the others by basic composition, ``composed`` the tightest, all at the sum of
    their deltas."""
    records = [dict(m) for m in mechanisms]
    return compose(charges=[{"status": "settled", "epsilon": sum(float(m["epsilon"]) for m in records),
                             "delta": sum(float(m["delta"]) for m in records), "mechanisms": records}])
