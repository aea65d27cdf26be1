"""How many children a parent row has, per relationship, measured with DP (issue 17, item 3).

**Relationships** (``relationships``; from the schema alone, so public): one per table with a parent, the
parent table's rows -> their children in the table (``ADMISSIONS->ICUSTAYS``); the subject table's direct
children give the number per patient (``PATIENTS->ADMISSIONS``).  A table whose parent key may be empty and
that another reference ties to its patient (MIMIC's lab events outside any admission) has a second one, the
patient -> those loose rows (``PATIENTS->LABEVENTS (no ADMISSIONS)``), since loading caps such rows as one
more group per patient.  Each relationship's support is ``0 .. cap``: the child table's
``max_rows_per_parent`` (or its ``max_rows_per_subject`` when it declares only that; the smaller of the two
when it declares both), a public number.  A relationship with no declared cap, or whose parent table has no
bounded number of rows per patient, is refused (``BadInputError``): its histogram would have no public
domain or no bounded sensitivity.

**Measurement** (``measure_cardinalities``): per relationship, the PATIENT-WEIGHTED histogram ``h[k]`` = the
sum, over the parent rows with ``k`` children (``k`` = 0 .. cap), of ``1 / a``, ``a`` the number of parent rows
of that row's patient (``parent_weights``): each patient's parent rows together weigh 1, whatever their number.
A relationship whose parent is the subject table, and a loose one, has one parent row per patient, so its
weights are all 1 and its histogram is the plain count of patients.  SENSITIVITY: adding or removing one
patient adds or removes their own parent rows only (the caps are patient-local, ``caps.py``, so no other
patient's rows, counts or weights change), ``a`` rows of weight ``1 / a`` each: the histogram moves by a
vector of L1 norm at most 1, so L2 at most 1, for every relationship, whatever ``B = schema.
rows_per_subject_bound(parent table)`` (8 admissions per patient on MIMIC) is.  The ``R`` relationships
together have L2 sensitivity ``sqrt(R)``, and all of them are released by ONE Gaussian mechanism
(``synthdata.privacy.gaussian.calibrate_gaussian`` at that sensitivity; recorded in the ledger as one
Gaussian step by ``GaussianMechanism.ledger_record``, composed with the training by the ledger's accountant,
exactly as the table modality's column distributions are).  Every histogram's noise has standard deviation
``noise_multiplier * sqrt(R + C + O)`` (``mechanism.sigma``; below) in patient units
(``RelationshipCardinality.sigma``), with no factor ``B``: before format version 4 every parent row counted 1,
the sensitivity was ``B`` and each per-admission bin got ``B`` times this noise.  CAVEAT (a bias, not a
privacy matter): the shares estimate the patient-weighted distribution (every patient's admissions count as
one), which differs from the distribution per parent row where a parent row's number of children depends on
how many parent rows its patient has (e.g. patients with many admissions having shorter ones); the skeleton
draws every synthetic parent row's count from it.

**Patients with rows** (``counted_tables``): the same mechanism also measures, for every table but the
subject table, the number of patients with at least one row in it (one count each, sensitivity 1: a patient
adds at most one to every count), so the L2 sensitivity of everything it releases is ``sqrt(R + C)`` for ``C``
such counts.  These noisy counts, clipped to ``0 .. n_subjects`` (post-processing; the number of patients is
public by declaration, as DP-SGD's sampling rate makes it), are what a table's DP column distributions are
out of (``CardinalityModel.patients``).  The exact counts are never used outside this mechanism: every
table's DP-SGD trains on one unit per patient of the database, empty where the patient has no row in it.

**What loading removed** (``LoadingCounts``, for the report): the same mechanism also measures, for every
table but the subject table whose rows a cap bounds, the number of orphan rows dropped and the number of rows
the caps removed, two counts each (``O = 2 x`` such tables).  Neither is bounded per patient as read (a
patient's 558 prescriptions, or a missing patient's many orphan rows), so each is CLIPPED first
(``TableCounts.orphans_clipped`` / ``removed_clipped``): every patient counts for at most ``B_T`` removed rows
of table T, and every would-be patient an orphan's keys name (``loading._claims``: the first patient key its
references name, directly or through the rows they find) for at most ``B_T`` orphan rows, ``B_T`` the
table's public bound on rows per patient.  Divided by ``B_T`` each has sensitivity 1 under adding or
removing one (would-be) patient with every row that names them, so the L2 sensitivity of everything the
mechanism releases is ``sqrt(R + C + O)``: one noise multiplier, one ledger record, composed jointly with
every other mechanism of the fit (``budget.plan_noise``), the database's epsilon unchanged by them (the
multiplier is per unit of sensitivity; every count gets more noise instead).  In rows the noise has standard
deviation ``noise_multiplier * sqrt(R + C + O) * B_T``.  Caveats: the released figures estimate the CLIPPED
counts (below the true ones where one patient lost more than ``B_T`` rows); an orphan chain that dangles
before any patient key (a table with no reference to the patient) is grouped by the key it dangles at, and
the bound then holds per such key, not per would-be patient.

**Post-processing** (free; ``shares_from_noisy``): negative noisy counts are clipped to 0 and the rest
renormalised to shares; when every count is clipped the shares are uniform over ``0 .. cap`` (nothing was
learned).  The total number of parent rows is not released on its own (only the shares).  Clipping leaves about
0.4 sigma of spurious mass in every empty bin, so where the noise is as large as the real bins synthetic counts
reach past the real range; a rule cutting such bins was tried and not kept, since at 200 patients it made the
cardinality gate block most clean releases (docs/benchmarks.md, "Children per parent weighted per patient").

Privacy caveats: the exact histograms (``children_per_parent``) and the weights (``parent_weights``: how many
parent rows each patient has) are private and stay in the run's work area; only the noisy shares may leave it.
The weights change what is estimated, not the guarantee: the shares are a patient-weighted distribution, biased
against the per-row one wherever a parent row's number of children depends on its patient's number of parent
rows (see Measurement).
``rng`` must be seeded from unrecorded OS entropy in a release (tests pass fixed seeds).  The noise is drawn in
floating point, whose low-order bits can leak (Mironov, CCS 2012): the shares are used to draw synthetic counts,
and the guarantee is stated for the idealised real-valued mechanism, as for every Gaussian mechanism of the
project.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from synthdata.errors import BadInputError
from synthdata.modalities.relational.database import RelationalDatabase
from synthdata.modalities.relational.graph import topological_order
from synthdata.modalities.relational.schema import RelationalSchema
from synthdata.privacy.gaussian import GaussianMechanism, calibrate_gaussian

_FORMAT = "synthdata.relational_cardinalities"
_VERSION = 4
# version 2 had no loading counts; before version 4 the histograms counted parent rows (sensitivity ``bound``,
# ``sigma`` in parent rows); their shares still draw a skeleton
_READS = (2, 3, 4)


@dataclass(frozen=True)
class Relationship:
    """Parent rows -> their children in ``child`` (public: from the schema alone).

    ``loose``: the child rows with an EMPTY parent key, counted per patient (``parent`` is then the subject
    table); ``cap``: the most children of one parent row (the histogram's last bin); ``bound``: the most
    parent rows one patient has (``rows_per_subject_bound`` of the parent; public; no longer the histogram's
    sensitivity, which the per-patient weights make 1: see the module docstring)."""

    parent: str
    child: str
    loose: bool
    cap: int
    bound: int
    via: str | None = None  # the parent table a loose row lacks (for its name)

    @property
    def name(self) -> str:
        base = f"{self.parent}->{self.child}"
        return f"{base} (no {self.via})" if self.loose else base


def _loose_rows_possible(schema: RelationalSchema, table: str) -> bool:
    """Whether ``table`` may keep rows with an empty parent key (tied to their patient by another reference):
    the same rule as ``RelationalSchema.rows_per_subject_bound``'s extra group per patient."""
    spec = schema.tables[table]
    column = spec.parent_column
    return column is not None and bool(spec.columns[column].nullable) and len(spec.references) > 1


def table_order(schema: RelationalSchema) -> list[str]:
    """The schema's tables, each after every table it references (parents first)."""
    return topological_order({name: [ref.table for ref in spec.references.values()]
                              for name, spec in schema.tables.items()})


def _children_cap(schema: RelationalSchema, table: str) -> int:
    """The most rows of ``table`` one parent row (or one patient's loose group) keeps under the declared caps.

    Raises BadInputError when no cap is declared: the histogram of children per parent needs a public end."""
    spec = schema.tables[table]
    caps = [c for c in (spec.max_rows_per_parent, spec.max_rows_per_subject) if c is not None]
    if not caps:
        raise BadInputError(f"table {table}: the number of children per {spec.parent_table} row needs a public "
                            "bound to be measured with DP: declare max_rows_per_parent")
    return min(caps)


def relationships(schema: RelationalSchema) -> list[Relationship]:
    """Every relationship whose cardinality a synthetic database must draw, parents first (public)."""
    found = []
    for table in table_order(schema):
        parent = schema.tables[table].parent_table
        if table == schema.subject or parent is None:
            continue
        cap = _children_cap(schema, table)
        bound = schema.rows_per_subject_bound(parent)
        if bound is None:
            raise BadInputError(f"table {parent}: no declared cap bounds its rows per patient, so the number of "
                                f"{table} rows per {parent} row has unbounded sensitivity: declare "
                                f"max_rows_per_parent on {parent} (and on its parents)")
        found.append(Relationship(parent=parent, child=table, loose=False, cap=cap, bound=bound))
        if _loose_rows_possible(schema, table):
            found.append(Relationship(parent=schema.subject, child=table, loose=True, cap=cap, bound=1, via=parent))
    return found


def count_children(*, relationship: Relationship, parent_row: np.ndarray, subject: np.ndarray,
                   n_parents: int) -> np.ndarray:
    """The number of children of each parent row (each patient for a loose relationship), from the child
    table's ``parent_row`` (-1 where its parent key is empty) and ``subject`` positions; ``n_parents`` is
    the parent table's height."""
    parent_row = np.asarray(parent_row, dtype=np.int64)
    if relationship.loose:
        owners = np.asarray(subject, dtype=np.int64)[parent_row < 0]
    else:
        owners = parent_row[parent_row >= 0]
    return np.bincount(owners, minlength=n_parents).astype(np.int64)


def parent_weights(database: RelationalDatabase) -> dict[str, np.ndarray]:
    """Per relationship (by name), every parent row's weight in its histogram: ``1 / a``, ``a`` the number of
    rows the row's patient has in the parent table (``database.tables[parent].subject``), so that each
    patient's parent rows weigh 1 together (all ones for the subject table and for loose relationships: one
    parent row per patient).  PRIVATE like the counts (the weights say how many admissions a patient has)."""
    weights = {}
    for relationship in relationships(database.schema):
        subject = np.asarray(database.tables[relationship.parent].subject, dtype=np.int64)
        weights[relationship.name] = 1.0 / np.bincount(subject, minlength=database.n_subjects)[subject]
    return weights


def children_per_parent(database: RelationalDatabase) -> dict[str, np.ndarray]:
    """Per relationship (by name), the number of children of every parent row of ``database``.

    EXACT and PRIVATE on a real database (never write them outside the run's work area); on a synthetic one
    they are what the cardinality audit compares."""
    counts = {}
    for relationship in relationships(database.schema):
        child = database.tables[relationship.child]
        assert child.parent_row is not None
        counts[relationship.name] = count_children(
            relationship=relationship, parent_row=child.parent_row, subject=child.subject,
            n_parents=database.tables[relationship.parent].height)
    return counts


@dataclass(frozen=True)
class RelationshipCardinality:
    """One relationship's DP distribution of children per parent row: ``shares[k]`` for ``k`` = 0 .. cap.

    ``sigma``: the standard deviation of the noise each bin received, public; from format version 4 in
    patient units (the histogram is patient-weighted, sensitivity 1: ``mechanism.sigma``), in parent rows in
    documents of versions 2 and 3 (``mechanism.sigma * bound``, unweighted histograms)."""

    parent: str
    child: str
    loose: bool
    cap: int
    bound: int
    sigma: float
    shares: tuple[float, ...]
    via: str | None = None

    @property
    def relationship(self) -> Relationship:
        return Relationship(parent=self.parent, child=self.child, loose=self.loose, cap=self.cap, bound=self.bound,
                            via=self.via)

    @property
    def name(self) -> str:
        return self.relationship.name

    def sample(self, *, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` numbers of children drawn from the shares (each in 0 .. cap); ``rng`` is public."""
        return rng.choice(self.cap + 1, size=size, p=np.asarray(self.shares, dtype=np.float64)).astype(np.int64)


@dataclass(frozen=True)
class LoadingCounts:
    """One table's DP estimates of what loading removed (see the module docstring): ``orphans`` dropped and
    rows ``removed_by_caps``, each clipped to ``clip`` rows per (would-be) patient before the noise, whose
    standard deviation in rows is ``sigma``.  Negative estimates are kept (post-processing may clip them; a
    report should show them with their noise)."""

    table: str
    orphans: float
    removed_by_caps: float
    sigma: float
    clip: int

    def describe(self) -> dict[str, float | int | str]:
        """For the manifest and the report: the estimates rounded to one decimal (never an exact count)."""
        return {"orphans_dropped": round(self.orphans, 1), "rows_removed_by_caps": round(self.removed_by_caps, 1),
                "noise_sd": round(self.sigma, 2), "clipped_per_patient": self.clip,
                "kind": "DP estimate (Gaussian noise, composed in the database's epsilon) of the clipped count"}


@dataclass(frozen=True)
class CardinalityModel:
    """The DP distributions of children per parent row of every relationship, parents first, and per table
    (the subject table excepted) the DP number of patients with rows in it (``patients``) and the DP
    estimates of the rows loading removed from it (``loading``)."""

    relationships: tuple[RelationshipCardinality, ...]
    patients: Mapping[str, float] = field(default_factory=dict)
    loading: Mapping[str, LoadingCounts] = field(default_factory=dict)

    def __getitem__(self, name: str) -> RelationshipCardinality:
        for relationship in self.relationships:
            if relationship.name == name:
                return relationship
        raise KeyError(name)

    def names(self) -> list[str]:
        return [r.name for r in self.relationships]

    def to_dict(self) -> dict:
        """JSON-able (the run's work area keeps it beside the model)."""
        return {"format": _FORMAT, "version": _VERSION,
                "relationships": [{**asdict(r), "shares": list(r.shares)} for r in self.relationships],
                "patients": dict(self.patients), "loading": [asdict(c) for c in self.loading.values()]}

    @classmethod
    def from_dict(cls, data: Mapping) -> CardinalityModel:
        if data.get("format") != _FORMAT or data.get("version") not in _READS:
            raise ValueError(f"not a {_FORMAT} document of a version this code reads ({', '.join(map(str, _READS))}): "
                             f"version {data.get('version')!r}")
        return cls(relationships=tuple(RelationshipCardinality(**{**r, "shares": tuple(r["shares"])})
                                       for r in data["relationships"]),
                   patients={name: float(count) for name, count in data["patients"].items()},
                   loading={c["table"]: LoadingCounts(**c) for c in data.get("loading", [])})


def histogram(counts: np.ndarray, *, cap: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``h[k]`` = how many parents have ``k`` children, ``k`` = 0 .. cap (counts above ``cap``, which the
    loaded caps exclude, go to the last bin); with ``weights`` (one per parent row, ``parent_weights``), the
    sum of the weights of those parents instead."""
    clipped = np.minimum(np.asarray(counts, dtype=np.int64), cap)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != clipped.shape:
            raise ValueError("one weight per parent row")
    return np.bincount(clipped, weights=weights, minlength=cap + 1).astype(np.float64)


def calibrate_cardinalities(*, epsilon: float, delta: float, relationships: int,
                            noise_multiplier: float | None = None) -> GaussianMechanism:
    """The Gaussian mechanism for ``relationships`` histograms (and counts) each scaled to sensitivity 1 (L2
    sensitivity ``sqrt(relationships)`` together): (epsilon, delta)-DP, calibrated by ``calibrate_gaussian``;
    or, given ``noise_multiplier`` (chosen jointly with the other mechanisms of a fit, ``budget.plan_noise``),
    that noise, stated with ``epsilon`` (its own epsilon at ``delta``)."""
    if relationships < 1:
        raise ValueError("no histogram to measure")
    if noise_multiplier is not None:
        return GaussianMechanism(noise_multiplier=float(noise_multiplier), sensitivity=math.sqrt(relationships),
                                 epsilon=float(epsilon), delta=float(delta))
    return calibrate_gaussian(epsilon=epsilon, delta=delta, sensitivity=math.sqrt(relationships))


def noisy_histograms(*, histograms: Mapping[str, np.ndarray], bounds: Mapping[str, int],
                     mechanism: GaussianMechanism, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Noisy copies of ``histograms`` (name -> counts), whose L2 sensitivities under adding or removing one
    patient are ``bounds`` (name -> a whole number: 1 for the patient-weighted histograms of children per
    parent row and the counts of patients with rows, the clip for the loading counts; see the module
    docstring): each is divided by its bound and all go through ``mechanism`` (``calibrate_cardinalities`` for
    this many histograms), then are multiplied back: noise sd ``mechanism.sigma * bound`` per count."""
    if set(histograms) != set(bounds):
        raise ValueError("every histogram needs its bound")
    if not histograms or not math.isclose(mechanism.sensitivity, math.sqrt(len(histograms))):
        raise ValueError(f"the mechanism must be calibrated for {len(histograms)} histogram(s) of sensitivity 1 "
                         "(calibrate_cardinalities)")
    for name, bound in bounds.items():
        if int(bound) != bound or bound < 1:
            raise ValueError(f"{name}: the bound must be a whole number >= 1 (parent rows per patient)")
    return {name: mechanism.add_noise(np.asarray(counts, dtype=np.float64) / bounds[name], rng=rng) * bounds[name]
            for name, counts in histograms.items()}


def shares_from_noisy(noisy: np.ndarray) -> np.ndarray:
    """Post-processing: negative counts clipped to 0, the rest renormalised (uniform when nothing is left)."""
    kept = np.clip(np.asarray(noisy, dtype=np.float64), 0.0, None)
    total = kept.sum()
    return kept / total if total > 0 else np.full(kept.size, 1.0 / kept.size)


def counted_tables(schema: RelationalSchema) -> list[str]:
    """The tables whose number of patients with rows the structure mechanism measures: all but the subject
    table, parents first (public: from the schema)."""
    return [name for name in table_order(schema) if name != schema.subject]


def _count_name(table: str) -> str:
    return f"patients with rows in {table}"


def _orphans_name(table: str) -> str:
    return f"orphans dropped from {table}"


def _removed_name(table: str) -> str:
    return f"rows removed by caps from {table}"


def loading_clipped(database: RelationalDatabase) -> dict[str, tuple[int, int, int]]:
    """Per table with a bound on rows per patient (the subject table excepted): its clipped orphan and
    cap-removed counts of the whole input as loaded, and the clip (``TableCounts``).  EXACT and PRIVATE: only
    the structure mechanism reads them."""
    counts = database.counts()
    return {name: (counts[name].orphans_clipped, counts[name].removed_clipped, counts[name].clip)
            for name in counted_tables(database.schema) if counts[name].clip is not None}


def patients_with_rows(database: RelationalDatabase) -> dict[str, int]:
    """Per counted table, the number of patients with at least one row in it.  EXACT and PRIVATE: only the
    structure mechanism reads it."""
    return {name: int(np.unique(database.tables[name].subject).size) for name in counted_tables(database.schema)}


def measure_cardinalities(*, database: RelationalDatabase, epsilon: float, delta: float, rng: np.random.Generator,
                          noise_multiplier: float | None = None) -> tuple[CardinalityModel, GaussianMechanism]:
    """(epsilon, delta)-DP distributions of children per parent row (patient-weighted, post-processed by
    ``shares_from_noisy``) for every relationship of ``database`` and numbers of patients with rows per table and
    the clipped numbers of rows loading removed per table (orphans, caps; of the whole input as loaded:
    ``database.counts()``) (see the module docstring for the mechanism and its sensitivity), and the mechanism
    to record in the ledger (``mechanism.ledger_record(stage="cardinalities")``).
    ``noise_multiplier``: the noise chosen jointly with the fit's other mechanisms (``epsilon`` is then its own
    epsilon at ``delta``); None calibrates the mechanism for (epsilon, delta) alone.

    Privacy: the database must have been loaded with its caps (``load_database``): the caps make the bounds
    true.  ``database.n_subjects`` is public by declaration.  ``rng`` must be seeded from unrecorded OS entropy
    in a release."""
    found = relationships(database.schema)
    counts = children_per_parent(database)
    weights = parent_weights(database)
    histograms = {r.name: histogram(counts[r.name], cap=r.cap, weights=weights[r.name]) for r in found}
    bounds = {r.name: 1 for r in found}  # each patient's parent rows weigh 1 together
    with_rows = patients_with_rows(database)
    for table, count in with_rows.items():
        histograms[_count_name(table)], bounds[_count_name(table)] = np.array([float(count)]), 1
    removed = loading_clipped(database)
    for table, (orphans, capped, clip) in removed.items():
        histograms[_orphans_name(table)], bounds[_orphans_name(table)] = np.array([float(orphans)]), clip
        histograms[_removed_name(table)], bounds[_removed_name(table)] = np.array([float(capped)]), clip
    mechanism = calibrate_cardinalities(epsilon=epsilon, delta=delta, relationships=len(histograms),
                                        noise_multiplier=noise_multiplier)
    noisy = noisy_histograms(histograms=histograms, bounds=bounds, mechanism=mechanism, rng=rng)
    model = CardinalityModel(relationships=tuple(
        RelationshipCardinality(parent=r.parent, child=r.child, loose=r.loose, cap=r.cap, bound=r.bound,
                                sigma=mechanism.sigma, via=r.via,
                                shares=tuple(float(s) for s in shares_from_noisy(noisy[r.name])))
        for r in found), patients={table: float(np.clip(noisy[_count_name(table)][0], 0, database.n_subjects))
                                   for table in with_rows},
        loading={table: LoadingCounts(table=table, orphans=float(noisy[_orphans_name(table)][0]),
                                      removed_by_caps=float(noisy[_removed_name(table)][0]),
                                      sigma=mechanism.sigma * clip, clip=clip)
                 for table, (_, _, clip) in removed.items()})
    return model, mechanism
