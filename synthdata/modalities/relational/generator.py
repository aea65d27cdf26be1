"""The DP generator of a relational database: one denoiser per table, children conditioned on their parent
row, the structure from the DP cardinalities (issue 17, items 2 and 3).

``fit_relational`` trains it on a loaded ``RelationalDatabase`` (the training patients; splitting off a
holdout is the caller's, ``RelationalDatabase.select_subjects``):

1. the budget is split (``budget.split_budget``: cardinalities, column discovery, training per table), and
   every part is checked to be trainable before anything reads the data through a mechanism;
2. open column domains are learned with DP (``context.resolve_codecs``), the children per parent row are
   measured with DP (``cardinality.measure_cardinalities``);
3. every table, parents first, measures its column distributions with DP (the table modality's
   ``marginals.measure``, over the same units) and trains one ``MLPDenoiser`` with DP-SGD (``synthdata.privacy.training.
   train_private``) on one unit per patient (all their rows of the table, ``context.table_units``); a child
   table's rows carry their parent row's encoding as the diffusion process's condition (``condition_dim``,
   with condition dropout so guidance can be used when sampling);
4. every Gaussian mechanism's noise is chosen jointly before any runs (``budget.plan_noise``): the smallest
   for which the accountants' composition of everything the fit runs stays within (epsilon, delta); the
   mechanisms run are composed again afterwards (``budget.composed``) and checked to stay within it.

``sample_relational`` is post-processing (no epsilon): ``skeleton.sample_skeleton`` draws the structure (row
counts, parent rows, fresh keys) from the DP cardinalities; the subject table's rows are sampled first, then
each child table's rows conditioned on their SYNTHETIC parent rows, parents first, each table's samples
calibrated to its DP column distributions (``marginals.calibrate``: the model's ordering of rows, and with it
the dependence on the parent row, is kept); key and foreign key
columns come from the skeleton, so every key joins, no orphan is generated and no real key is ever read.

**The guarantee**: the fitted generator (weights, codecs, cardinalities, the DP counts of patients with rows
per table and of the rows loading removed per table, ``cardinality.LoadingCounts``) is (epsilon, delta)-DP
with respect to adding or removing one PATIENT: the subject table's row with every row that references them,
at most the declared caps of each table (``load_database`` applied them).  Each table's model clips one gradient per patient and trains on one unit per patient of the database (empty
where the patient has no row in the table); the patient is the unit of every mechanism, and the stated
epsilon (``composition.composed``) is the accountants' composition of all of them.  The number of patients
is public by declaration (it sets every table's sampling rate and steps, as it does for one table).  Not
covered: anything read before the fit (the caps, the declared domains and dictionaries are public by
declaration), orphan rows dropped by loading (they belong to no patient in the data), runs with
``reproducible_seed`` (not DP), and the non-private losses in ``TrainingOutcome.final_loss``.  The column distributions weigh each patient 1 over
their rows (the table modality's rule), so in a table where patients hold very different numbers of rows
(lab events) they are distributions over patients, not rows.

What is not modelled: identifier columns other than keys (dropped from the output); a reference off the
parent chain (a prescription's ICU stay) is left empty, as the skeleton leaves it; absolute dates and the
derived relative times are generated as separate columns and need not agree.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from synthdata.config import ModelSpec
from synthdata.diffusion.denoisers.mlp import MLPDenoiser
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.diffusion.samplers import ddim_sample
from synthdata.errors import BadInputError
from synthdata.modalities.base import Units
from synthdata.modalities.relational.budget import (
    DEFAULT_CARDINALITY_SHARE,
    DEFAULT_DISCOVERY_SHARE,
    BudgetSplit,
    NoisePlan,
    composed,
    marginal_shares,
    plan_noise,
    split_budget,
    table_of,
)
from synthdata.modalities.relational.cardinality import (
    CardinalityModel,
    measure_cardinalities,
    relationships,
)
from synthdata.modalities.relational.context import (
    context_rows,
    encode_rows,
    open_columns,
    refuse_doomed,
    resolve_codecs,
    table_units,
    with_rows,
)
from synthdata.modalities.relational.database import RelationalDatabase
from synthdata.modalities.relational.schema import RelationalSchema
from synthdata.modalities.relational.skeleton import KeyStyle, Skeleton, sample_skeleton
from synthdata.modalities.table.discovery import DiscoveryReport
from synthdata.modalities.table.encoding import TableCodec
from synthdata.modalities.table.marginals import TableMarginals, calibrate, measure
from synthdata.modalities.table.settings import PRESETS
from synthdata.privacy.composition import Composition
from synthdata.privacy.joint import release_epsilon
from synthdata.privacy.training import (
    MIN_UNITS,
    TrainingOutcome,
    TrainingPlan,
    poisson_schedule,
    train_private,
)
from synthdata.progress import Progress


@dataclass(frozen=True)
class TableModel:
    """One table's trained denoiser: its codec, the parent table whose row conditions it (None: not
    conditioned), the condition's width, the weights (CPU), what training did, what discovery learned and the
    DP column distributions the samples are calibrated to (None: not measured)."""

    table: str
    codec: TableCodec
    condition_on: str | None
    condition_dim: int
    weights: Mapping[str, torch.Tensor]
    outcome: TrainingOutcome
    units: int
    discovery: DiscoveryReport | None = None
    marginals: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RelationalGenerator:
    """A fitted relational generator (see the module docstring): DP output, safe to keep beside a release.

    ``mechanisms``: the ledger records of every mechanism the fit ran; ``composition``: them composed by the
    accountants (``composition.composed`` is the database's epsilon at ``composition.delta``); ``noise_scale``:
    the factor joint calibration put on every Gaussian mechanism's noise (``budget.plan_noise``)."""

    schema: RelationalSchema
    model: ModelSpec
    tables: Mapping[str, TableModel]
    cardinalities: CardinalityModel
    budget: BudgetSplit
    mechanisms: tuple[dict[str, Any], ...]
    composition: Composition
    notes: tuple[str, ...] = field(default=())
    noise_scale: float = 1.0

    def epsilon_per_table(self) -> dict[str, float]:
        """Each table's epsilon as spent: the accountants' composition of its own mechanisms (column discovery,
        column distributions, DP-SGD) at the sum of their deltas, what releasing that table's model alone would
        cost.  The structure mechanism (cardinalities, patients with rows) is shared by every table and not
        included; the tables' figures do not add up to the database's (``composition.composed``)."""
        found = {}
        for name in self.tables:
            own = [m for m in self.mechanisms if m["stage"] != "cardinalities" and table_of(m["stage"]) == name]
            found[name] = release_epsilon(mechanisms=own, delta=sum(float(m["delta"]) for m in own))
        return found

    def privacy_unit(self) -> str:
        bounds = {name: self.schema.rows_per_subject_bound(name) for name in self.tables}
        rows = ", ".join(f"{name} {'unbounded' if b is None else b}" for name, b in bounds.items())
        return (f"one patient ({self.schema.subject} row) with every row that references them, at most: {rows}; "
                "one clipped gradient per patient in every table's model")


@dataclass(frozen=True)
class SyntheticDatabase:
    """A synthetic database: per table (parents first) its frame of key, foreign key and modelled columns,
    and the skeleton it was drawn on (row counts, parent rows, patients)."""

    schema: RelationalSchema
    tables: Mapping[str, pl.DataFrame]
    skeleton: Skeleton

    def children_per_parent(self) -> dict[str, np.ndarray]:
        """Per relationship, the number of children of every synthetic parent row."""
        return self.skeleton.children_per_parent()


def model_spec(model: ModelSpec | str) -> ModelSpec:
    """A table model preset ("fast", "standard", ``synthdata.modalities.table.settings``) or a spec, filled."""
    spec = ModelSpec(preset=model) if isinstance(model, str) else model
    return spec.filled(presets=PRESETS)


def _plan(model: ModelSpec) -> TrainingPlan:
    return TrainingPlan(epochs=int(model.resolved("epochs")), batch_size=int(model.resolved("batch_size")),
                        lr=float(model.resolved("lr")), max_grad_norm=model.max_grad_norm,
                        augmentation=int(model.resolved("augmentation")))


def _denoiser(*, codec: TableCodec, condition_dim: int, model: ModelSpec, seed: int) -> nn.Module:
    """The table's MLP, initialised from the public ``seed`` (torch's global generator left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLPDenoiser(data_dim=codec.width, hidden=int(model.resolved("hidden")),
                           depth=int(model.resolved("depth")), condition_dim=condition_dim)


def grad_sample_mode(*, rows: int, augmentation: int, hidden: int) -> str | None:
    """How the trainer gets per-unit gradient norms for units of ``rows`` rows: per-sample gradients
    (``"hooks"``) when a unit's row evaluations (rows x augmentation) exceed half the MLP's width, else the
    trainer's default (one-pass ghost clipping).  Ghost norms of a unit of R row evaluations cost about
    R^2 (in + out) per layer, per-sample gradients R in out: measured on MIMIC's LABEVENTS (55 units of up to
    1,533 rows, width 64, one thread, a loaded machine) 0.6 s per DP step with hooks against 21 s.  The
    clipping, the noise and the guarantee are the same either way.  The fit passes the table's public bound
    on rows per patient (the recorded mode would otherwise tell whether the longest unit passes the mark)."""
    return "hooks" if rows * augmentation > hidden / 2 else None


def _diffusion(*, model: ModelSpec, condition_dim: int) -> GaussianDiffusion:
    return GaussianDiffusion(timesteps=model.timesteps, prediction=model.prediction, condition_dim=condition_dim,
                             condition_dropout=model.condition_dropout)


def _check_trainable(database: RelationalDatabase, split: BudgetSplit, plan: TrainingPlan,
                     accountant: str) -> NoisePlan:
    """Refuse before any mechanism runs: every table trains on one unit per patient, so the database needs
    MIN_UNITS patients and every table's delta (its column distributions' and DP-SGD's, whatever their split)
    must be below 1 / patients, and the noise must be calibratable
    (``plan_noise``, returned).  Reads only the number of patients (public by declaration)."""
    units = database.n_subjects
    if units < MIN_UNITS:
        raise BadInputError(f"table {database.schema.subject}: {units} patient(s); DP training needs at least "
                            f"{MIN_UNITS}")
    for name, part in split.training.items():  # the table's delta: its DP-SGD's and its column distributions'
        delta = part.delta + (split.marginals[name].delta if name in split.marginals else 0.0)
        if not delta < 1 / units:
            raise BadInputError(f"table {name}: its delta {delta:.3g} is not below 1/{units} (patients): use a "
                                "smaller delta")
    _, rate, _, steps = poisson_schedule(n_units=units, batch_size=plan.batch_size, epochs=plan.epochs)
    return plan_noise(split=split, sample_rate=rate, steps=steps, accountant=accountant)


def plan_fit(*, database: RelationalDatabase, epsilon: float, delta: float, model: ModelSpec | str = "fast",
             table_shares: Mapping[str, float] | None = None,
             cardinality_share: float = DEFAULT_CARDINALITY_SHARE, discovery_share: float = DEFAULT_DISCOVERY_SHARE,
             marginals_share: float | Mapping[str, float] | None = None,
             accountant: str = "prv") -> tuple[BudgetSplit, NoisePlan]:
    """The budget split and the jointly calibrated noise ``fit_relational`` would use, and every refusal it would
    make before a mechanism runs (BadInputError: a relationship without a cap, too few patients, a delta or an
    epsilon too small, a column whose range discovery would most likely fail).  ``marginals_share`` None: each
    table's is chosen by the table modality's rule (``budget.marginal_shares``, from public numbers).  Reads the
    number of patients (public) and, for the discovery check, a noise-free look at the data that is never
    published; runs no mechanism."""
    found = relationships(database.schema)  # refuses a relationship without a declared cap
    plan = _plan(model_spec(model))
    shared: dict[str, Any] = {"tables": database.order, "epsilon": epsilon, "delta": delta,
                              "open_columns": open_columns(database), "has_relationships": bool(found),
                              "table_shares": table_shares, "cardinality_share": cardinality_share,
                              "discovery_share": discovery_share}
    if marginals_share is None:
        _, rate, _, steps = poisson_schedule(n_units=database.n_subjects, batch_size=plan.batch_size,
                                             epochs=plan.epochs)
        marginals_share = marginal_shares(**shared, sample_rate=rate, steps=steps, batch=rate * database.n_subjects)
    split = split_budget(**shared, marginals_share=marginals_share)
    noise = _check_trainable(database, split, plan, accountant)
    refuse_doomed(database=database, discovery=split.discovery)
    return split, noise


def fit_relational(*, database: RelationalDatabase, epsilon: float, delta: float, model: ModelSpec | str = "fast",
                   table_shares: Mapping[str, float] | None = None,
                   cardinality_share: float = DEFAULT_CARDINALITY_SHARE,
                   discovery_share: float = DEFAULT_DISCOVERY_SHARE,
                   marginals_share: float | Mapping[str, float] | None = None, condition_on_parent: bool = True,
                   accountant: str = "prv", seed: int = 0, reproducible_seed: int | None = None,
                   progress: bool | Progress = False, device: torch.device | str | None = None) -> RelationalGenerator:
    """Fit the DP generator of ``database`` for (epsilon, delta) per patient (see the module docstring).

    ``model``: a table preset name or a ``ModelSpec`` (epochs, batch, width, learning rate, clipping norm,
    sampling steps, guidance, condition dropout); ``table_shares``: training weights per table (every table
    named), else equal; ``marginals_share``: the part of each table's epsilon that measures its column
    distributions (one figure or one per table; 0: none, samples not calibrated; None: chosen per table by the
    table modality's rule, ``budget.marginal_shares``, from public numbers only: 0.5, or ``SHARE_WITHOUT_MODEL``
    where the table's DP-SGD would be too noisy to learn; the split, and with it every noise, is planned and
    composed after the choice); ``condition_on_parent``: False trains every table
    unconditioned (an ablation).
    ``seed`` is public (model initialisation only).  ``reproducible_seed`` replays every DP draw: NOT DP.

    Raises BadInputError before any mechanism runs when the schema, the shares or the data cannot be trained
    as asked (a relationship without a cap, too few patients in a table, an epsilon too small to calibrate);
    PreprocessingFailedError when a column's range cannot be learned with DP at its share."""
    schema = database.schema
    spec = model_spec(model)
    plan = _plan(spec)
    found = relationships(schema)
    split, noise = plan_fit(database=database, epsilon=epsilon, delta=delta, model=spec, table_shares=table_shares,
                            cardinality_share=cardinality_share, discovery_share=discovery_share,
                            marginals_share=marginals_share, accountant=accountant)
    dp_rng = np.random.default_rng(secrets.randbits(128) if reproducible_seed is None else [reproducible_seed, 7])
    codecs, reports = resolve_codecs(database=database, discovery=split.discovery, rng=dp_rng)
    mechanisms: list[dict[str, Any]] = [
        {"stage": f"discovery ({name})", "mechanism": "noisy histograms (Laplace)", "columns": report.columns,
         "epsilon": report.epsilon, "delta": report.delta} for name, report in reports.items()]
    cardinalities = CardinalityModel(relationships=())
    if found:
        assert split.cardinalities is not None
        own = noise.own["cardinalities"]
        cardinalities, mechanism = measure_cardinalities(database=database, epsilon=own.epsilon, delta=own.delta,
                                                         rng=dp_rng, noise_multiplier=noise.cardinalities)
        mechanisms.append(mechanism.ledger_record(stage="cardinalities", relationships=cardinalities.names(),
                                                  loading_counts=list(cardinalities.loading)))
    encoded = {name: encode_rows(codec=codecs[name], frame=loaded.frame) for name, loaded in database.tables.items()}
    tables = {}
    for index, (name, loaded) in enumerate(database.tables.items()):
        parent = loaded.parent if condition_on_parent else None
        codec = codecs[name]
        condition_dim = codecs[parent].width if parent is not None else 0
        units = table_units(loaded=loaded, codec=codec, parent_encoded=encoded[parent] if parent else None,
                            n_subjects=database.n_subjects)
        marginals = None
        if name in split.marginals:
            own = noise.own[f"marginals ({name})"]
            filled = with_rows(units)  # out of the DP count of patients with rows (the subject table: all)
            measured, mechanism = measure(units=Units(data=filled.data[..., : codec.width], mask=filled.mask),
                                          codec=codec, epsilon=own.epsilon, delta=own.delta, rng=dp_rng,
                                          total=cardinalities.patients.get(name, float(database.n_subjects)))
            marginals = measured.to_dict()
            mechanisms.append(mechanism.ledger_record(stage=f"marginals ({name})"))
        denoiser = _denoiser(codec=codec, condition_dim=condition_dim, model=spec, seed=seed + index)
        own = noise.own[f"training ({name})"]
        outcome = train_private(model=denoiser, diffusion=_diffusion(model=spec, condition_dim=condition_dim),
                                units=units.data, mask=units.mask, plan=plan, epsilon=own.epsilon, delta=own.delta,
                                accountant=accountant, reproducible_seed=reproducible_seed, progress=progress,
                                device=device, empty_units=True, grad_sample_mode=grad_sample_mode(
                                    rows=schema.rows_per_subject_bound(name) or units.data.shape[1],
                                    augmentation=plan.augmentation, hidden=int(spec.resolved("hidden"))))
        mechanisms.append({"stage": f"training ({name})", "mechanism": "DP-SGD (Opacus, Poisson sampling, Gaussian "
                           "noise)", "noise_multiplier": outcome.noise_multiplier, "sample_rate": outcome.sample_rate,
                           "steps": outcome.steps, "accountant": outcome.accountant, "epsilon": outcome.epsilon,
                           "delta": outcome.delta})
        tables[name] = TableModel(table=name, codec=codec, condition_on=parent, condition_dim=condition_dim,
                                  weights={k: v.detach().cpu() for k, v in denoiser.state_dict().items()},
                                  outcome=outcome, units=units.count, discovery=reports.get(name),
                                  marginals=marginals)
    composition = composed(mechanisms=mechanisms)
    if not composition.composed <= epsilon * (1 + 1e-6) or not composition.delta <= delta * (1 + 1e-9):
        raise RuntimeError(f"the fit's mechanisms compose to epsilon {composition.composed:.6g}, delta "
                           f"{composition.delta:.3g}, above its budget ({epsilon:g}, {delta:g}): discard the model")
    notes = [(f"budget split: {split.rule}{'' if marginals_share is not None else _RULE}; every Gaussian mechanism's "
              f"noise then scaled by {noise.scale:.3g} so that the accountants' composition of all of them is the "
              "database's epsilon")]
    notes += [note for report in reports.values() for note in report.notes]
    return RelationalGenerator(schema=schema, model=spec, tables=tables, cardinalities=cardinalities, budget=split,
                               mechanisms=tuple(mechanisms), composition=composition, notes=tuple(notes),
                               noise_scale=noise.scale)


_RULE = (" (each table's column distributions share chosen by the table rule: 0.5, or more where its DP-SGD "
         "would add more noise than the model can learn through)")


def sample_relational(*, generator: RelationalGenerator, n_subjects: int, seed: int, key_style: KeyStyle = "uuid",
                      guidance: float | None = None, progress: bool | Progress = False) -> SyntheticDatabase:
    """A synthetic database of ``n_subjects`` patients (post-processing of the DP generator: no epsilon).

    ``seed`` drives the skeleton, the fresh keys and the samplers (public randomness); ``guidance`` overrides
    the model's classifier-free guidance weight for conditioned tables (0: plain conditional sampling)."""
    schema = generator.schema
    spec = generator.model
    rng = np.random.default_rng([seed, 23])
    skeleton = sample_skeleton(schema=schema, model=generator.cardinalities, n_subjects=n_subjects, rng=rng,
                               key_style=key_style)
    weight = float(spec.resolved("guidance")) if guidance is None else float(guidance)
    values: dict[str, pl.DataFrame] = {}
    encoded: dict[str, np.ndarray] = {}
    for index, (name, table) in enumerate(generator.tables.items()):
        structure = skeleton.tables[name]
        condition = None
        if table.condition_on is not None:
            assert structure.parent_row is not None
            condition = torch.from_numpy(context_rows(parent_encoded=encoded[table.condition_on],
                                                      parent_row=structure.parent_row))
        values[name] = _sample_table(table=table, spec=spec, n=structure.height, condition=condition,
                                     guidance=weight, seed=seed + index, progress=progress)
        encoded[name] = encode_rows(codec=table.codec, frame=values[name])
    frames = {name: _assemble(schema, name, skeleton, values[name]) for name in generator.tables}
    return SyntheticDatabase(schema=schema, tables=frames, skeleton=skeleton)


def _sample_table(*, table: TableModel, spec: ModelSpec, n: int, condition: torch.Tensor | None, guidance: float,
                  seed: int, progress: bool | Progress) -> pl.DataFrame:
    """``n`` rows of one table (their conditions given), decoded by the table's codec."""
    if n == 0:
        return table.codec.decode(np.zeros((0, table.codec.width), dtype=np.float32))
    model = MLPDenoiser(data_dim=table.codec.width, hidden=int(spec.resolved("hidden")),
                        depth=int(spec.resolved("depth")), condition_dim=table.condition_dim)
    model.load_state_dict(dict(table.weights))
    diffusion = _diffusion(model=spec, condition_dim=table.condition_dim)
    array = ddim_sample(model=model, diffusion=diffusion, shape=(n, table.codec.width + table.condition_dim),
                        steps=int(spec.resolved("sample_steps")), generator=torch.Generator().manual_seed(seed),
                        condition=condition, guidance=guidance if condition is not None else 0.0, progress=progress)
    data = array[:, : table.codec.width].cpu().numpy()
    if table.marginals is not None:
        data = calibrate(array=data, codec=table.codec, marginals=TableMarginals.from_dict(dict(table.marginals)),
                         rng=np.random.default_rng([seed, 17]))
    return table.codec.decode(data)


def _assemble(schema: RelationalSchema, name: str, skeleton: Skeleton, values: pl.DataFrame) -> pl.DataFrame:
    """The released columns in the schema's order (declared, then derived): keys and foreign keys from the
    skeleton, modelled columns from the sampled values; other identifier columns are not released."""
    spec = schema.tables[name]
    keys = skeleton.tables[name].frame()
    columns = []
    for column in [*spec.columns, *spec.derived]:
        if column in keys.columns:
            columns.append(keys[column])
        elif column in values.columns:
            columns.append(values[column])
    return pl.DataFrame(columns) if columns else pl.DataFrame()
