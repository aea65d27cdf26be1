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
   distributions (the table modality's ``privacy.marginals_share``, one figure for every table or one per table)
   and DP-SGD gets the rest.  Left to the release, each table's share is chosen by the table modality's rule
   (``marginal_shares``: 0.5, or ``SHARE_WITHOUT_MODEL`` where that table's DP-SGD would be too noisy).

Delta is split in the same proportions.  The parts sum to the total, so calibrated each on its own they
would make the database (epsilon, delta)-DP by basic composition; composed by the accountants instead, those
mechanisms spent far less (0.30 at a total of 1 on the MIMIC demo): budget left unused.

**Joint calibration** (``plan_noise``, the relational form of the table modality's
``synthdata.privacy.joint``): every Gaussian mechanism of the fit (the structure histograms, each table's
column distributions, each table's DP-SGD) gets the noise multiplier its split part would need alone, times
ONE factor ``scale <= 1``: the smallest for which the accountants' composition (``joint.release_epsilon``:
Opacus' RDP and PRV, the tighter, with the DP domains' pure parts added) of everything the fit will run stays
within (epsilon, delta).  The split keeps the parts' proportions (which table gets more signal), the scale
spends the slack, and the database's epsilon is that composed figure.  Every noise multiplier, sampling rate
and step count is fixed from public numbers before any mechanism runs (every table trains on one unit per
patient of the database, the number of patients public by declaration), so the composition is the ordinary
adaptive one.  Each part's own epsilon is then larger than its share and the parts do not add up to the total.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

from synthdata.config import SHARE_WITH_MODEL, SHARE_WITHOUT_MODEL
from synthdata.errors import BadInputError
from synthdata.privacy.composition import ORDERS, Composition, compose
from synthdata.privacy.gaussian import calibrate_gaussian
from synthdata.privacy.joint import MODEL_NOISE_LIMIT, alone_epsilon, release_epsilon
from synthdata.privacy.joint import marginals_share as table_rule
from synthdata.privacy.training import calibrate_noise

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

    def marginals_shares(self) -> dict[str, float]:
        """Each table's share of its own epsilon (column distributions and DP-SGD) that measures its column
        distributions, as split (0: not measured)."""
        return {table: (self.marginals[table].epsilon / (self.marginals[table].epsilon + part.epsilon)
                        if table in self.marginals else 0.0) for table, part in self.training.items()}

    def per_table(self) -> dict[str, float]:
        """Each table's epsilon as planned (its discovery, marginals and training), for the report."""
        return {table: part.epsilon + sum(parts[table].epsilon for parts in (self.discovery, self.marginals)
                                          if table in parts)
                for table, part in self.training.items()}


def split_budget(*, tables: Iterable[str], epsilon: float, delta: float, open_columns: Mapping[str, int],
                 has_relationships: bool, table_shares: Mapping[str, float] | None = None,
                 cardinality_share: float = DEFAULT_CARDINALITY_SHARE,
                 discovery_share: float = DEFAULT_DISCOVERY_SHARE,
                 marginals_share: float | Mapping[str, float] = DEFAULT_MARGINALS_SHARE) -> BudgetSplit:
    """Split (epsilon, delta) by the module's rule.  ``open_columns``: per table, how many columns it leaves to
    ``discover`` (public: from the schema); ``marginals_share``: one share for every table, or one per table
    (every table named).  Raises BadInputError on shares that leave nothing to train."""
    tables = list(tables)
    shares = _per_table(tables, marginals_share)
    if not (epsilon > 0 and 0 < delta < 1):
        raise BadInputError(f"need epsilon > 0 and 0 < delta < 1, got {epsilon!r}, {delta!r}")
    cards = cardinality_share if has_relationships else 0.0
    discovering = {t: n for t, n in open_columns.items() if n > 0}
    disc = discovery_share if discovering else 0.0
    if not (0 <= cards < 1 and 0 <= disc < 1 and cards + disc < 0.95):
        raise BadInputError(f"cardinality_share {cards:g} + discovery_share {disc:g} must stay below 0.95: "
                            "training needs the rest")
    for table, share in shares.items():
        if not 0 <= share < 0.95:
            raise BadInputError(f"marginals_share must be in [0, 0.95), got {share:g} for table {table}: training "
                                "needs the rest")
    weights = _weights(tables, table_shares)
    train = 1.0 - cards - disc
    total_open = sum(discovering.values())
    return BudgetSplit(
        epsilon=float(epsilon), delta=float(delta),
        cardinalities=Part(epsilon * cards, delta * cards) if cards else None,
        discovery={t: Part(epsilon * disc * n / total_open, delta * disc * n / total_open)
                   for t, n in discovering.items()},
        marginals={t: Part(epsilon * train * w * shares[t], delta * train * w * shares[t])
                   for t, w in weights.items() if shares[t]},
        training={t: Part(epsilon * train * w * (1 - shares[t]), delta * train * w * (1 - shares[t]))
                  for t, w in weights.items()},
        rule=(f"cardinalities {cards:g}, column discovery {disc:g} (by open columns), tables {train:g} "
              + ("by declared table shares" if table_shares else "split equally") + ", of which "
              + (f"column distributions {shares[tables[0]]:g} and DP-SGD {1 - shares[tables[0]]:g}"
                 if len(set(shares.values())) == 1 else
                 "column distributions / DP-SGD " + ", ".join(f"{t} {s:g} / {1 - s:g}" for t, s in shares.items()))))


def _per_table(tables: list[str], share: float | Mapping[str, float]) -> dict[str, float]:
    """``share`` as one figure per table (a mapping must name every table and only those)."""
    if not isinstance(share, Mapping):
        return {t: float(share) for t in tables}
    unknown, missing = sorted(set(share) - set(tables)), [t for t in tables if t not in share]
    if unknown or missing:
        raise BadInputError(f"marginals_share per table must name every table and only those: unknown {unknown}, "
                            f"missing {missing}")
    return {t: float(share[t]) for t in tables}


def marginal_shares(*, tables: Iterable[str], epsilon: float, delta: float, open_columns: Mapping[str, int],
                    has_relationships: bool, sample_rate: float, steps: int, batch: float,
                    table_shares: Mapping[str, float] | None = None,
                    cardinality_share: float = DEFAULT_CARDINALITY_SHARE,
                    discovery_share: float = DEFAULT_DISCOVERY_SHARE) -> dict[str, float]:
    """Each table's share of its epsilon for its column distributions when the spec leaves it to the release:
    the table modality's rule (``synthdata.privacy.joint.marginals_share``) applied to that table's part of the
    split (its epsilon and delta, no DP domains inside it) and its DP-SGD plan (``sample_rate``, ``steps`` and
    ``batch``, the expected number of patients per step).

    Privacy: a function of public numbers only (the split's shares, epsilon, delta, the schedule), fixed before
    any mechanism runs; the shares it returns change the split, and the split is what the joint noise plan
    (``plan_noise``) calibrates and the accountants compose, so the choice costs no epsilon.  Every table trains
    on one unit per patient of the database (the number public by declaration), so ``batch`` counts every
    patient, also those without a row in the table: the number with rows is known only from the structure
    mechanism, which runs after the plan (choosing noise from it would make the plan adaptive).  For a table
    most patients have no row in, the rule then sees less noise per patient with rows than there is."""
    tables = list(tables)
    whole = split_budget(tables=tables, epsilon=epsilon, delta=delta, open_columns=open_columns,
                         has_relationships=has_relationships, table_shares=table_shares,
                         cardinality_share=cardinality_share, discovery_share=discovery_share, marginals_share=0.0)
    return {t: (table_rule(epsilon=part.epsilon, delta=part.delta, preprocessing_share=0.0, sample_rate=sample_rate,
                           steps=steps, batch=round(batch))
                if _rdp_calibrates(part, sample_rate=sample_rate, steps=steps)
                else _share_by_prv(part, sample_rate=sample_rate, steps=steps, batch=batch))
            for t, part in whole.training.items()}


def _rdp_calibrates(part: Part, *, sample_rate: float, steps: int) -> bool:
    """Whether the RDP accountant (the table rule's) can calibrate DP-SGD at half of ``part``."""
    try:
        calibrate_noise(epsilon=part.epsilon * (1 - SHARE_WITH_MODEL), delta=part.delta * (1 - SHARE_WITH_MODEL),
                        sample_rate=sample_rate, steps=steps, accountant="rdp")
    except BadInputError:
        return False
    return True


def _share_by_prv(part: Part, *, sample_rate: float, steps: int, batch: float) -> float:
    """The table rule's threshold where RDP cannot calibrate half of ``part`` (a table's part is a fraction of
    the database's epsilon; RDP's orders stop short of epsilons about log(1/delta)/62, where the table rule
    returns 0.5 to let the release's calibration decide): the noise by PRV, as the fit calibrates it.  When
    PRV cannot either, the fit is refused anyway."""
    try:
        noise = calibrate_noise(epsilon=part.epsilon * (1 - SHARE_WITH_MODEL), delta=part.delta * (1 - SHARE_WITH_MODEL),
                                sample_rate=sample_rate, steps=steps, accountant="prv")
    except BadInputError:
        return SHARE_WITH_MODEL
    return SHARE_WITH_MODEL if noise / (batch * math.sqrt(steps)) <= MODEL_NOISE_LIMIT else SHARE_WITHOUT_MODEL


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


@dataclass(frozen=True)
class NoisePlan:
    """The noise of every Gaussian mechanism of a fit, chosen jointly (see the module docstring), and each
    mechanism's own (epsilon, delta) with that noise, which is what its calibration is handed.

    ``cardinalities``, ``marginals`` and ``training`` hold the noise multipliers; ``own`` the matching parts
    (``"cardinalities"``, ``"marginals (T)"``, ``"training (T)"``); ``epsilon`` the accountants' composition
    of the whole plan at the split's delta; ``sample_rate`` and ``steps`` every table's DP-SGD schedule."""

    scale: float
    epsilon: float
    sample_rate: float
    steps: int
    accountant: str
    cardinalities: float | None
    marginals: Mapping[str, float] = field(default_factory=dict)
    training: Mapping[str, float] = field(default_factory=dict)
    own: Mapping[str, Part] = field(default_factory=dict)


def table_of(stage: str) -> str:
    """The table a mechanism's stage names (``"training (ADMISSIONS)"`` -> ``"ADMISSIONS"``)."""
    return stage[stage.index("(") + 1: -1]


def _gaussian_multiplier(part: Part) -> float:
    return calibrate_gaussian(epsilon=part.epsilon, delta=part.delta, sensitivity=1.0).noise_multiplier


def _records(split: BudgetSplit, base: Mapping[str, float], scale: float, sample_rate: float,
             steps: int) -> list[dict[str, Any]]:
    """The ledger records the fit would run with every base noise multiplier times ``scale``."""
    records = [{"stage": f"discovery ({t})", "epsilon": p.epsilon, "delta": p.delta} for t, p in split.discovery.items()]
    for name, sigma in base.items():
        training = name.startswith("training")
        records.append({"stage": name, "noise_multiplier": sigma * scale, "sample_rate": sample_rate if training
                        else 1.0, "steps": steps if training else 1})
    return records


def _rdp_bound(records: list[dict[str, Any]], *, delta: float) -> float:
    """An upper bound on ``joint.release_epsilon`` of ``records`` that is fast to compute: the RDP accountant
    over the Gaussian ones, the others added (basic composition).  Only brackets ``plan_noise``'s search."""
    gaussian = [r for r in records if r.get("noise_multiplier")]
    others = [r for r in records if not r.get("noise_multiplier")]
    rdp = np.zeros(len(ORDERS))
    for r in gaussian:
        rdp += np.asarray(compute_rdp(q=r["sample_rate"], noise_multiplier=r["noise_multiplier"], steps=r["steps"],
                                      orders=ORDERS))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        epsilon = get_privacy_spent(orders=ORDERS, rdp=rdp, delta=delta - sum(r["delta"] for r in others))[0]
    return float(epsilon) + sum(r["epsilon"] for r in others)


def _smallest(spent: Callable[[float], float], *, target: float, tolerance: float) -> float:
    """The smallest scale in (0, 1] (to within ``tolerance``, relative) with ``spent(scale) <= target``
    (``spent`` decreasing); 1 when even that spends more."""
    high, low = 1.0, 0.5
    if spent(high) > target:
        return high
    while spent(low) <= target:
        if low < 1e-3:
            return low
        high, low = low, low / 2
    while high - low > tolerance * high:
        middle = (high + low) / 2
        high, low = (middle, low) if spent(middle) <= target else (high, middle)
    return high


def plan_noise(*, split: BudgetSplit, sample_rate: float, steps: int, accountant: str,
               tolerance: float = 0.005) -> NoisePlan:
    """The jointly calibrated noise of a fit split as ``split`` (see the module docstring): every table's
    DP-SGD runs ``steps`` steps at ``sample_rate``.  A function of public numbers only; raises BadInputError
    when a part's epsilon is too small for the accountant to calibrate."""
    base: dict[str, float] = {}
    parts: dict[str, Part] = {}
    if split.cardinalities is not None:
        base["cardinalities"], parts["cardinalities"] = _gaussian_multiplier(split.cardinalities), split.cardinalities
    for table, part in split.marginals.items():
        base[f"marginals ({table})"], parts[f"marginals ({table})"] = _gaussian_multiplier(part), part
    for table, part in split.training.items():
        base[f"training ({table})"] = calibrate_noise(epsilon=part.epsilon, delta=part.delta, sample_rate=sample_rate,
                                                      steps=steps, accountant=accountant)
        parts[f"training ({table})"] = part

    def spent(scale: float) -> float:
        with warnings.catch_warnings(), np.errstate(divide="ignore"):  # q = 1: PRV's log(1 - q) = -inf is exact
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            return release_epsilon(mechanisms=_records(split, base, scale, sample_rate, steps), delta=split.delta)

    def rdp_bound(scale: float) -> float:
        return _rdp_bound(_records(split, base, scale, sample_rate, steps), delta=split.delta)

    # The RDP bound is fast and never below what the accountants find, so its answer keeps the plan within
    # epsilon; PRV is tighter but slow (a second or more per call at large epsilon): it is asked only near the
    # answer, where the two keep about the same ratio.
    high = _smallest(rdp_bound, target=split.epsilon, tolerance=tolerance / 4)
    found = spent(high)
    low = 0.0
    for _ in range(3):
        guess = _smallest(rdp_bound, target=split.epsilon * rdp_bound(high) / found * (1 - tolerance),
                          tolerance=tolerance / 4)
        if guess > high * (1 - tolerance):
            break
        at_guess = spent(guess)
        if at_guess > split.epsilon:
            low = guess
            break
        high, found = guess, at_guess
    while low > 0 and high - low > tolerance * high:
        middle = (high + low) / 2
        at_middle = spent(middle)
        if at_middle <= split.epsilon:
            high, found = middle, at_middle
        else:
            low = middle
    own = {}
    for name, sigma in base.items():
        part = parts[name]
        with warnings.catch_warnings(), np.errstate(divide="ignore"):
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            epsilon = (alone_epsilon(noise_multiplier=sigma * high, sample_rate=sample_rate, steps=steps,
                                     delta=part.delta, accountant=accountant) if name.startswith("training")
                       else alone_epsilon(noise_multiplier=sigma * high, sample_rate=1.0, steps=1, delta=part.delta,
                                          accountant="prv"))
        own[name] = Part(epsilon=max(part.epsilon, epsilon), delta=part.delta)
    return NoisePlan(scale=high, epsilon=found, sample_rate=sample_rate, steps=steps, accountant=accountant,
                     cardinalities=base["cardinalities"] * high if "cardinalities" in base else None,
                     marginals={table_of(n): s * high for n, s in base.items() if n.startswith("marginals")},
                     training={table_of(n): s * high for n, s in base.items() if n.startswith("training")},
                     own=own)


def composed(*, mechanisms: Iterable[Mapping[str, Any]]) -> Composition:
    """The mechanisms of one fit (ledger records with their ``epsilon`` and ``delta``) composed by the
    project's accountant (``synthdata.privacy.composition``) as one charge: ``naive`` is the sum of their
    epsilons, ``rdp``/``prv`` the accountant's bounds over the Gaussian steps (DP-SGD, the cardinalities'
    Gaussian mechanism) plus the others by basic composition, ``composed`` the tightest, all at the sum of
    their deltas."""
    records = [dict(m) for m in mechanisms]
    return compose(charges=[{"status": "settled", "epsilon": sum(float(m["epsilon"]) for m in records),
                             "delta": sum(float(m["delta"]) for m in records), "mechanisms": records}])
