"""The DP relational generator on a small EHR written by the test: keys join with no orphan and
no real key, children conditioned on their parent row reproduce the planted dependencies (an unconditioned fit
does not), the database's epsilon is the accountants' composition of every mechanism and spends the total, a
patient's rows are one DP-SGD unit in every table (empty where they have none), and no exact count of patients
with rows per table is stored."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml
from opacus.accountants import PRVAccountant, RDPAccountant

from synthdata.config import (
    SHARE_WITH_MODEL,
    SHARE_WITHOUT_MODEL,
    ModelSpec,
    PrivacySpec,
)
from synthdata.errors import BadInputError
from synthdata.modalities.relational import (
    RelationalDatabase,
    load_database,
    parse_relational_schema,
)
from synthdata.modalities.relational import generator as generator_module
from synthdata.modalities.relational.budget import (
    Part,
    marginal_shares,
    plan_noise,
    split_budget,
)
from synthdata.modalities.relational.context import encode_rows, resolve_codecs
from synthdata.modalities.relational.generator import (
    RelationalGenerator,
    SyntheticDatabase,
    fit_relational,
    grad_sample_mode,
    sample_relational,
)
from synthdata.modalities.relational.modality import _marginals_share
from synthdata.modalities.relational.storage import load_generator, save_generator
from synthdata.privacy.joint import MODEL_NOISE_LIMIT
from synthdata.privacy.joint import marginals_share as table_rule
from synthdata.privacy.training import (
    TrainingOutcome,
    calibrate_noise,
    poisson_schedule,
)

EXAMPLE = Path(__file__).resolve().parents[4] / "synthdata" / "data"
DELTA = 1e-5
SCHEMA: dict = yaml.safe_load((EXAMPLE / "ehr_example.schema.yaml").read_text(encoding="utf-8"))


def _example_maker():
    """``synthdata/data/make_ehr_example.py`` (shipped data, not a package): what it planted."""
    spec = importlib.util.spec_from_file_location("make_ehr_example", EXAMPLE / "make_ehr_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _example_maker()
P_KIND_A, CODE_OF_KIND = MAKER.P_KIND_A, MAKER.CODE_OF_KIND


#: A tiny model: 40 full-batch steps per table, about a second each on one core.
TINY = ModelSpec(preset="fast", epochs=40, batch_size=256, hidden=64, depth=2, lr=1e-2, augmentation=2,
                 sample_steps=10, guidance=0.0)
EPSILON = 30.0  # large: the dependency test needs little noise (jointly calibrated, it spends all of it)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: the machine's cores are shared (as ``make test`` does per worker)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: Patients of the hospital these tests train on: the shipped example's script at its seed, smaller than the
#: shipped 1,000 (which its release needs, ``evaluation.benchmarks.relational_gates``) to keep the fits short.
TEST_PATIENTS = 200


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory) -> RelationalDatabase:
    """The shipped example's hospital at ``TEST_PATIENTS`` patients, its orphans dropped."""
    folder = MAKER.write_ehr(tmp_path_factory.mktemp("ehr"), patients=TEST_PATIENTS)
    return load_database(schema=parse_relational_schema(SCHEMA), folder=folder)


def test_the_shipped_example_is_what_its_script_writes(tmp_path: Path) -> None:
    written = MAKER.write_ehr(tmp_path / "again")
    for name in ("patients.csv", "admissions.csv", "diagnoses.csv"):
        assert (written / name).read_bytes() == (EXAMPLE / "ehr_example" / name).read_bytes(), name
    shipped = load_database(schema=parse_relational_schema(SCHEMA), folder=EXAMPLE / "ehr_example")
    counts = {name: loaded.counts for name, loaded in shipped.tables.items()}
    assert shipped.n_subjects == MAKER.PATIENTS == 1000
    assert counts["ADMISSIONS"].dropped_as_orphans == 4  # of patients absent from patients.csv
    assert counts["DIAGNOSES"].dropped_as_orphans == 3 + 7  # of absent admissions, and of the orphan ones


#: The column distributions share these fits declare (as ``privacy.marginals_share`` may): the dependency test
#: needs the models to learn; left to the release, every table of this tiny hospital would take 0.9.
DECLARED = 0.5


@pytest.fixture(scope="module")
def conditioned(ehr: RelationalDatabase) -> RelationalGenerator:
    return fit_relational(database=ehr, epsilon=EPSILON, delta=DELTA, model=TINY, marginals_share=DECLARED)


@pytest.fixture(scope="module")
def unconditioned(ehr: RelationalDatabase) -> RelationalGenerator:
    return fit_relational(database=ehr, epsilon=EPSILON, delta=DELTA, model=TINY, condition_on_parent=False,
                          marginals_share=DECLARED)


N_SYNTHETIC = 300


def _real_keys(database: RelationalDatabase) -> set[str]:
    """Every identifier value of the real database (keys, foreign keys, row ids)."""
    values: set[str] = set()
    for loaded in database.tables.values():
        for column in loaded.schema.identifier_columns:
            values |= {str(v) for v in loaded.frame[column].drop_nulls().to_list()}
    return values


def _assert_joins(synthetic: SyntheticDatabase) -> None:
    """Every non-empty foreign key matches a key of its table; the parent reference is never empty."""
    schema = synthetic.schema
    for name, spec in schema.tables.items():
        frame = synthetic.tables[name]
        for key in spec.keys:
            assert frame[key].null_count() == 0 and frame[key].n_unique() == frame.height, (name, key)
        for column, reference in spec.references.items():
            targets = set(synthetic.tables[reference.table][reference.column].to_list())
            values = frame[column].drop_nulls().to_list()
            assert set(values) <= targets, f"{name}.{column}: orphans"
            if column == spec.parent_column:
                assert len(values) == frame.height, f"{name}.{column}: empty parent keys"


@pytest.fixture(scope="module")
def synthetic(conditioned: RelationalGenerator) -> SyntheticDatabase:
    return sample_relational(generator=conditioned, n_subjects=N_SYNTHETIC, seed=11)


def test_keys_join_without_orphans_and_no_real_key(synthetic: SyntheticDatabase, ehr: RelationalDatabase) -> None:
    _assert_joins(synthetic)
    assert synthetic.tables["PATIENTS"].height == N_SYNTHETIC
    assert synthetic.tables["ADMISSIONS"].height > 0 and synthetic.tables["DIAGNOSES"].height > 0
    released = {str(v) for frame in synthetic.tables.values() for column in frame.columns
                if frame[column].dtype == pl.String for v in frame[column].drop_nulls().to_list()}
    assert not released & _real_keys(ehr)
    assert "row_id" not in synthetic.tables["DIAGNOSES"].columns  # an identifier that is no key: not released
    assert list(synthetic.tables["ADMISSIONS"].columns) == ["hadm_id", "subject_id", "kind", "los"]
    for relationship, counts in synthetic.children_per_parent().items():
        cap = {"PATIENTS->ADMISSIONS": 3, "ADMISSIONS->DIAGNOSES": 4}[relationship]
        assert counts.max() <= cap


def _kind_agreement(database: dict[str, pl.DataFrame]) -> float:
    """Share of admissions whose kind is the one their patient's group makes likely."""
    joined = database["ADMISSIONS"].join(database["PATIENTS"], on="subject_id")
    likely = pl.when(pl.col("group") == "X").then(pl.lit("A")).otherwise(pl.lit("B"))
    return float(joined.select((pl.col("kind") == likely).mean()).item())


def _code_agreement(database: dict[str, pl.DataFrame]) -> float:
    """Share of diagnoses whose code is the one their admission's kind makes likely."""
    joined = database["DIAGNOSES"].join(database["ADMISSIONS"].select("hadm_id", "kind"), on="hadm_id")
    likely = pl.col("kind").replace_strict(CODE_OF_KIND)
    return float(joined.select((pl.col("code") == likely).mean()).item())


def test_children_conditioned_on_parents_keep_the_planted_dependencies(
        synthetic: SyntheticDatabase, unconditioned: RelationalGenerator, ehr: RelationalDatabase) -> None:
    real = {name: loaded.frame for name, loaded in ehr.tables.items()}
    assert _kind_agreement(real) > 0.85 and _code_agreement(real) > 0.85  # the fixture plants them
    plain = sample_relational(generator=unconditioned, n_subjects=N_SYNTHETIC, seed=11)
    conditioned_kind, plain_kind = _kind_agreement(dict(synthetic.tables)), _kind_agreement(dict(plain.tables))
    conditioned_code, plain_code = _code_agreement(dict(synthetic.tables)), _code_agreement(dict(plain.tables))
    # Without the parent row a child can only follow the marginals: agreement near one half (P_KIND_A is
    # symmetric, codes c1 and c3 about equally frequent).
    assert abs(plain_kind - 0.5) < 0.15 and abs(plain_code - 0.5) < 0.15, (plain_kind, plain_code)
    assert conditioned_kind > 0.75 and conditioned_kind > plain_kind + 0.2, (conditioned_kind, plain_kind)
    assert conditioned_code > 0.75 and conditioned_code > plain_code + 0.2, (conditioned_code, plain_code)
    assert P_KIND_A["X"] == 1 - P_KIND_A["Y"]


def _recomputed(mechanisms, *, delta: float, scale: float = 1.0) -> float:
    """The mechanisms' Gaussian steps composed here with Opacus' RDP and PRV accountants directly (the tighter),
    every noise multiplier times ``scale``; the fixture has no DP domains, so nothing else is added."""
    history = [(m["noise_multiplier"] * scale, m["sample_rate"], m["steps"]) for m in mechanisms]
    rdp, prv = RDPAccountant(), PRVAccountant()
    rdp.history, prv.history = list(history), list(history)
    with np.errstate(divide="ignore"):  # PRV at sample rate 1
        return min(rdp.get_epsilon(delta=delta), prv.get_epsilon(delta=delta))


def test_the_database_epsilon_is_the_accountants_composition_and_spends_the_budget(
        conditioned: RelationalGenerator) -> None:
    """The stated epsilon is Opacus' composition of every mechanism that ran, within the spec's epsilon, and the
    noise is as small as allowed: 3% less noise everywhere would exceed it.  (Each part calibrated to its share
    alone composed to a fraction of the total: 0.30 of 1 on the MIMIC demo.)"""
    gaussian = [m for m in conditioned.mechanisms if m.get("noise_multiplier")]
    assert len(gaussian) == 7  # three trainings, three tables' column distributions, the structure mechanism
    assert len(gaussian) == len(conditioned.mechanisms)
    delta = sum(m["delta"] for m in gaussian)
    assert delta == pytest.approx(DELTA, rel=1e-9)
    recomputed = _recomputed(gaussian, delta=delta)
    assert conditioned.composition.composed == pytest.approx(recomputed, rel=0.01)
    assert 0.97 * EPSILON <= recomputed <= EPSILON * (1 + 1e-6)
    assert _recomputed(gaussian, delta=delta, scale=0.97) > EPSILON
    # each part's own epsilon is above its share, so the parts add up to more than the total
    assert conditioned.composition.naive > EPSILON and conditioned.noise_scale < 1
    for name, model in conditioned.tables.items():
        assert model.outcome.dp_valid and model.outcome.epsilon > conditioned.budget.training[name].epsilon
    per_table = conditioned.epsilon_per_table()
    assert set(per_table) == {"PATIENTS", "ADMISSIONS", "DIAGNOSES"}
    for name, epsilon in per_table.items():
        own = [m for m in gaussian if m["stage"] in (f"training ({name})", f"marginals ({name})")]
        assert epsilon == pytest.approx(_recomputed(own, delta=sum(m["delta"] for m in own)), rel=0.01)
        assert epsilon < recomputed


@pytest.mark.parametrize("epsilon", [1.0, 10.0])
def test_joint_noise_plan_spends_the_total_at_small_epsilon(epsilon: float) -> None:
    """The plan alone (public numbers only), at the benchmark's epsilons: composed within 1% under the total."""
    split = split_budget(tables=["P", "A", "D"], epsilon=epsilon, delta=DELTA, open_columns={}, has_relationships=True)
    _, rate, _, steps = poisson_schedule(n_units=66, batch_size=256, epochs=40)
    plan = plan_noise(split=split, sample_rate=rate, steps=steps, accountant="prv")
    records = [{"noise_multiplier": plan.cardinalities, "sample_rate": 1.0, "steps": 1}]
    records += [{"noise_multiplier": s, "sample_rate": 1.0, "steps": 1} for s in plan.marginals.values()]
    records += [{"noise_multiplier": s, "sample_rate": rate, "steps": steps} for s in plan.training.values()]
    assert 0.99 * epsilon <= _recomputed(records, delta=DELTA) <= epsilon * (1 + 1e-6)
    assert plan.epsilon == pytest.approx(_recomputed(records, delta=DELTA), rel=0.01)
    assert _recomputed(records, delta=DELTA, scale=0.98) > epsilon
    basic = [{**r, "noise_multiplier": r["noise_multiplier"] / plan.scale} for r in records]
    assert _recomputed(basic, delta=DELTA) < 0.8 * epsilon  # what the split alone spent


def test_the_generator_file_holds_no_exact_count_of_patients_with_rows(
        conditioned: RelationalGenerator, ehr: RelationalDatabase, tmp_path: Path) -> None:
    """Only the number of patients (public by declaration) and DP output are stored: a table's model trains on
    one unit per patient of the database, and the numbers of patients with rows per table are measured with DP.
    (The previous generator stored them exactly, as each table's unit count.)"""
    exact = {name: int(np.unique(loaded.subject).size) for name, loaded in ehr.tables.items()}
    assert exact["ADMISSIONS"] < ehr.n_subjects and exact["DIAGNOSES"] < ehr.n_subjects  # the fixture's point
    state = torch.load(save_generator(conditioned, tmp_path / "generator.pt"), weights_only=True)

    def numbers(value) -> list[float]:
        if isinstance(value, dict):
            return [x for key, item in value.items() if key != "weights" for x in numbers(item)]
        if isinstance(value, (list, tuple)):
            return [x for item in value for x in numbers(item)]
        return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []

    stored = numbers(state)
    for name in ("ADMISSIONS", "DIAGNOSES"):
        assert exact[name] not in stored, name
    assert {entry["units"] for entry in state["tables"]} == {ehr.n_subjects}
    patients = conditioned.cardinalities.patients
    assert set(patients) == {"ADMISSIONS", "DIAGNOSES"}
    structure = next(m for m in conditioned.mechanisms if m["stage"] == "cardinalities")
    sigma = structure["noise_multiplier"] * structure["sensitivity"]  # about 2.3 patients at epsilon 30
    for name, count in patients.items():
        assert count != exact[name] and abs(count - exact[name]) < 4 * sigma  # noisy, and close at epsilon 30
    # two relationships, two counts of patients with rows, two tables' orphans and rows removed by caps
    assert structure["sensitivity"] == pytest.approx(math.sqrt(2 + 2 + 4))


def test_what_loading_removed_is_released_noisy_and_composed_in_the_database_epsilon(
        conditioned: RelationalGenerator, ehr: RelationalDatabase) -> None:
    """The orphans dropped and rows removed by the caps, per table, are DP estimates released by the structure
    mechanism: the noise they carry (their stated sd over clip x sqrt(components)) is the ledger record's noise
    multiplier, and the database's epsilon recomputed with Opacus at THAT multiplier stays within the budget.
    Counts noised apart from the record (or with a sensitivity that left them out) would imply less noise, and
    this composition exceeds epsilon (the plan spends all of it: 3% less noise exceeds it)."""
    counts = ehr.counts()
    assert (counts["ADMISSIONS"].orphans_clipped, counts["DIAGNOSES"].orphans_clipped) == (4, 3 + 7)  # planted
    loading = conditioned.cardinalities.loading
    assert set(loading) == {"ADMISSIONS", "DIAGNOSES"}
    structure = next(m for m in conditioned.mechanisms if m["stage"] == "cardinalities")
    assert structure["loading_counts"] == ["ADMISSIONS", "DIAGNOSES"]
    components = len(conditioned.cardinalities.relationships) + len(conditioned.cardinalities.patients) + 2 * len(loading)
    implied = []
    for name, released in loading.items():
        assert released.clip == ehr.schema.rows_per_subject_bound(name)
        assert released.orphans != counts[name].orphans_clipped  # noisy, never the exact count
        assert released.removed_by_caps != counts[name].removed_clipped
        implied.append(released.sigma / (released.clip * math.sqrt(components)))
    assert implied == pytest.approx([structure["noise_multiplier"]] * 2, rel=1e-9)
    gaussian = [m if m is not structure else {**m, "noise_multiplier": min(implied)} for m in conditioned.mechanisms]
    recomputed = _recomputed(gaussian, delta=sum(m["delta"] for m in gaussian))
    assert recomputed <= EPSILON * (1 + 1e-6)
    assert recomputed == pytest.approx(conditioned.composition.composed, rel=0.01)


def test_a_patient_is_one_unit_in_every_table(ehr: RelationalDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def spy(*, model, diffusion, units, mask, plan, epsilon, delta, grad_sample_mode, empty_units, **_):
        seen[len(seen)] = (units, mask, diffusion.condition_dim)
        assert empty_units
        assert grad_sample_mode is None  # public bounds: 1, 3 and 12 rows per patient, 2 draws, width 64
        _, rate, _, steps = poisson_schedule(n_units=units.shape[0], batch_size=plan.batch_size, epochs=plan.epochs)
        sigma = calibrate_noise(epsilon=epsilon, delta=delta, sample_rate=rate, steps=steps, accountant="prv")
        return TrainingOutcome(private=True, epsilon=epsilon, delta=delta, noise_multiplier=sigma, sample_rate=rate,
                               steps=steps, epochs=plan.epochs, accountant="prv", grad_sample_mode="bookkeeping",
                               noise_source="test", dp_valid=True, seconds=1.0, records_per_second=1.0,
                               final_loss=0.0)

    monkeypatch.setattr(generator_module, "train_private", spy)
    fitted = fit_relational(database=ehr, epsilon=EPSILON, delta=DELTA, model=TINY, marginals_share=DECLARED)
    codecs = {name: model.codec for name, model in fitted.tables.items()}
    patients = encode_rows(codec=codecs["PATIENTS"], frame=ehr.tables["PATIENTS"].frame)
    for index, name in enumerate(ehr.order):
        units, mask, condition_dim = seen[index]
        loaded = ehr.tables[name]
        rows = np.bincount(loaded.subject, minlength=ehr.n_subjects)
        # One unit per patient of the database, holding exactly that patient's rows, empty for a patient without
        # one (rows as units would give one unit per row: 200 patients, about 320 admissions, 800 diagnoses).
        assert units.shape[0] == ehr.n_subjects
        assert mask.sum(dim=1).numpy().tolist() == rows.tolist()
        assert (rows == 0).any() or name == "PATIENTS"
        assert units.shape[0] < loaded.height or name == "PATIENTS"
        width = codecs[name].width
        assert units.shape[2] == width + condition_dim
        if name == "ADMISSIONS":
            # The condition of every admission in a unit is the encoding of that unit's patient row.
            for unit in range(units.shape[0]):
                conditions = units[unit, mask[unit], width:].numpy()
                assert np.allclose(conditions, patients[unit])


def test_budget_split_rule() -> None:
    split = split_budget(tables=["P", "A", "D"], epsilon=4.0, delta=1e-6, open_columns={"A": 1, "D": 3},
                         has_relationships=True)
    assert split.cardinalities == Part(0.4, 1e-7)
    assert split.discovery["A"].epsilon == pytest.approx(0.1) and split.discovery["D"].epsilon == pytest.approx(0.3)
    assert all(split.training[t].epsilon == pytest.approx(1.6 / 3) for t in "PAD")  # half of each table's
    assert all(split.marginals[t].epsilon == pytest.approx(1.6 / 3) for t in "PAD")  # part: its columns
    assert sum(p.epsilon for p in split.parts()) == pytest.approx(4.0)
    assert sum(p.delta for p in split.parts()) == pytest.approx(1e-6)
    assert split.per_table()["D"] == pytest.approx(0.3 + 3.2 / 3)
    declared = split_budget(tables=["P", "A"], epsilon=1.0, delta=1e-6, open_columns={}, has_relationships=False,
                            table_shares={"P": 1, "A": 3}, marginals_share=0)
    assert declared.cardinalities is None and not declared.discovery and not declared.marginals
    assert declared.training["A"].epsilon == pytest.approx(0.75) and declared.training["P"].epsilon == pytest.approx(0.25)
    with pytest.raises(BadInputError, match="every table"):
        split_budget(tables=["P", "A"], epsilon=1.0, delta=1e-6, open_columns={}, has_relationships=True,
                     table_shares={"P": 1})
    with pytest.raises(BadInputError, match="below 0.95"):
        split_budget(tables=["P"], epsilon=1.0, delta=1e-6, open_columns={"P": 1}, has_relationships=True,
                     cardinality_share=0.5, discovery_share=0.5)


def test_refused_before_any_mechanism(ehr: RelationalDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(**_):
        raise AssertionError("a mechanism ran")

    monkeypatch.setattr(generator_module, "train_private", never)
    monkeypatch.setattr(generator_module, "measure_cardinalities", never)
    with pytest.raises(BadInputError, match="delta"):
        fit_relational(database=ehr, epsilon=1.0, delta=0.1, model=TINY)
    few = ehr.select_subjects(keep=np.arange(ehr.n_subjects) < 9)
    with pytest.raises(BadInputError, match="at least 10"):
        fit_relational(database=few, epsilon=1.0, delta=DELTA, model=TINY)


def test_open_domains_learned_with_dp_at_the_tables_bound(ehr: RelationalDatabase, tmp_path) -> None:
    raw = {**SCHEMA, "tables": {**SCHEMA["tables"]}}
    admissions = dict(raw["tables"]["ADMISSIONS"])
    admissions["columns"] = {**admissions["columns"], "kind": {"type": "categorical", "categories": "discover"},
                             "los": {"type": "numeric"}}
    raw["tables"]["ADMISSIONS"] = admissions
    database = RelationalDatabase(schema=parse_relational_schema(raw), folder=ehr.folder, tables={
        name: (loaded if name != "ADMISSIONS" else _with_schema(loaded, parse_relational_schema(raw)))
        for name, loaded in ehr.tables.items()}, dictionaries={})
    codecs, reports = resolve_codecs(database=database, discovery={"ADMISSIONS": Part(8.0, 1e-6)},
                                     rng=np.random.default_rng(0))
    learned = codecs["ADMISSIONS"].schema.columns
    assert {"A", "B"} <= set(learned["kind"].categories)
    assert learned["los"].min < 5 and learned["los"].max >= 25
    assert reports["ADMISSIONS"].epsilon == 8.0 and set(reports["ADMISSIONS"].columns) == {"kind", "los"}
    assert "ADMISSIONS" not in {n for n in reports if n != "ADMISSIONS"}
    unbounded = raw["tables"]["ADMISSIONS"] | {"max_rows_per_parent": None}
    schema = parse_relational_schema({**raw, "tables": {**raw["tables"], "ADMISSIONS": unbounded}})
    database = RelationalDatabase(schema=schema, folder=ehr.folder, tables=database.tables, dictionaries={})
    with pytest.raises(BadInputError, match="bound on one patient's rows"):
        resolve_codecs(database=database, discovery={"ADMISSIONS": Part(8.0, 1e-6)}, rng=np.random.default_rng(0))


def test_unlearnable_range_refused_before_any_mechanism(ehr: RelationalDatabase,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def never(**_):
        raise AssertionError("a mechanism ran")

    for name in ("train_private", "measure_cardinalities", "resolve_codecs"):
        monkeypatch.setattr(generator_module, name, never)
    raw = {**SCHEMA, "tables": {**SCHEMA["tables"]}}
    raw["tables"]["ADMISSIONS"] = {**raw["tables"]["ADMISSIONS"],
                                   "columns": {**raw["tables"]["ADMISSIONS"]["columns"], "los": {"type": "numeric"}}}
    schema = parse_relational_schema(raw)
    database = RelationalDatabase(schema=schema, folder=ehr.folder, dictionaries={}, tables={
        **ehr.tables, "ADMISSIONS": _with_schema(ehr.tables["ADMISSIONS"], schema)})
    with pytest.raises(BadInputError, match=r"ADMISSIONS\.los.*Nothing was spent"):
        fit_relational(database=database, epsilon=0.5, delta=DELTA, model=TINY)


def _with_schema(loaded, schema):
    """The loaded ADMISSIONS table with the columns of ``schema`` (the same data, domains left open)."""
    from dataclasses import replace

    from synthdata.modalities.table.schema import TableSchema

    spec = schema.tables["ADMISSIONS"]
    table_schema = TableSchema(columns=dict(spec.columns), missing_values=loaded.schema.missing_values)
    return replace(loaded, schema=table_schema, frame=loaded.frame.with_columns(pl.col("kind").cast(pl.String)))


def test_long_units_get_per_sample_gradients() -> None:
    assert grad_sample_mode(rows=3, augmentation=4, hidden=256) is None  # the table modality's case: ghost norms
    assert grad_sample_mode(rows=1533, augmentation=1, hidden=64) == "hooks"  # MIMIC's lab events per patient


def test_saved_generator_samples_the_same_database(conditioned: RelationalGenerator, tmp_path: Path) -> None:
    loaded = load_generator(save_generator(conditioned, tmp_path / "generator.pt"))
    assert loaded.epsilon_per_table() == conditioned.epsilon_per_table()
    assert loaded.composition == conditioned.composition and loaded.budget == conditioned.budget
    first = sample_relational(generator=conditioned, n_subjects=40, seed=2, key_style="sequential")
    again = sample_relational(generator=loaded, n_subjects=40, seed=2, key_style="sequential")
    for name, frame in first.tables.items():
        assert frame.equals(again.tables[name]), name
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a synthdata.relational_generator"):
        load_generator(tmp_path / "other.pt")


def _noise_per_step(part: Part, *, patients: int, batch_size: int, epochs: int) -> float:
    """DP-SGD's noise on a table's summed gradients (clipping norms) at half its part, by the PRV accountant the
    fit calibrates with: the quantity the table rule compares with ``MODEL_NOISE_LIMIT``."""
    _, rate, _, steps = poisson_schedule(n_units=patients, batch_size=batch_size, epochs=epochs)
    sigma = calibrate_noise(epsilon=part.epsilon / 2, delta=part.delta / 2, sample_rate=rate, steps=steps,
                            accountant="prv")
    return sigma / (rate * patients * math.sqrt(steps))


def test_each_tables_share_follows_the_table_rule_on_its_own_plan() -> None:
    """Left to the release, a table whose DP-SGD would add more noise than the model can learn through gets
    SHARE_WITHOUT_MODEL and the others 0.5, each judged on its own part of the split (public numbers only): a
    hospital of 20,000 patients at epsilon 3 with most of the budget on PATIENTS.  Where a table's part is below
    what the RDP accountant can calibrate, the single-table rule would say 0.5; the table's noise is then
    counted by PRV (ADMISSIONS and DIAGNOSES here: 0.5 before that fallback)."""
    tables, weights = ["PATIENTS", "ADMISSIONS", "DIAGNOSES"], {"PATIENTS": 8, "ADMISSIONS": 1, "DIAGNOSES": 1}
    patients, batch_size, epochs = 20_000, 1024, 20  # the fast preset's schedule
    _, rate, _, steps = poisson_schedule(n_units=patients, batch_size=batch_size, epochs=epochs)
    chosen = marginal_shares(tables=tables, epsilon=3.0, delta=1e-6, open_columns={}, has_relationships=True,
                             sample_rate=rate, steps=steps, batch=rate * patients, table_shares=weights)
    assert chosen == {"PATIENTS": SHARE_WITH_MODEL, "ADMISSIONS": SHARE_WITHOUT_MODEL, "DIAGNOSES": SHARE_WITHOUT_MODEL}
    for name, share in chosen.items():  # each table's part: 0.9 of epsilon (0.1 to the structure) by its weight
        part = Part(3.0 * 0.9 * weights[name] / 10, 1e-6 * 0.9 * weights[name] / 10)
        noisy = _noise_per_step(part, patients=patients, batch_size=batch_size, epochs=epochs) > MODEL_NOISE_LIMIT
        assert share == (SHARE_WITHOUT_MODEL if noisy else SHARE_WITH_MODEL), name
    # ADMISSIONS' part (0.27, delta 9e-8) is below what RDP's orders calibrate: the single-table rule falls back
    # to 0.5 there, though its DP-SGD would add 5.5 times the limit
    assert table_rule(epsilon=0.27, delta=9e-8, preprocessing_share=0.0, sample_rate=rate, steps=steps,
                      batch=round(rate * patients)) == SHARE_WITH_MODEL
    assert _noise_per_step(Part(0.27, 9e-8), patients=patients, batch_size=batch_size,
                           epochs=epochs) > 5 * MODEL_NOISE_LIMIT
    # the shipped example's training split (800 patients, full batches) at epsilon 1 and 3: every table 0.9
    _, rate, _, steps = poisson_schedule(n_units=800, batch_size=batch_size, epochs=epochs)
    for epsilon in (1.0, 3.0):
        small = marginal_shares(tables=tables, epsilon=epsilon, delta=1e-5, open_columns={}, has_relationships=True,
                                sample_rate=rate, steps=steps, batch=rate * 800)
        assert set(small.values()) == {SHARE_WITHOUT_MODEL}


def test_a_declared_share_is_used_as_is(conditioned: RelationalGenerator, ehr: RelationalDatabase) -> None:
    """``privacy.marginals_share`` declared: every table's split uses it, even where the rule would choose
    otherwise (this hospital's every table: SHARE_WITHOUT_MODEL); unset, the generator chooses."""
    _, rate, _, steps = poisson_schedule(n_units=ehr.n_subjects, batch_size=TINY.batch_size, epochs=TINY.epochs)
    rule = marginal_shares(tables=ehr.order, epsilon=EPSILON, delta=DELTA, open_columns={}, has_relationships=True,
                           sample_rate=rate, steps=steps, batch=rate * ehr.n_subjects)
    assert set(rule.values()) == {SHARE_WITHOUT_MODEL}
    assert conditioned.budget.marginals_shares() == pytest.approx(dict.fromkeys(ehr.order, DECLARED))
    assert _marginals_share(PrivacySpec(epsilon=3.0, marginals_share=0.3)) == 0.3
    assert _marginals_share(PrivacySpec(epsilon=3.0)) is None


@pytest.fixture(scope="module")
def chosen(ehr: RelationalDatabase) -> RelationalGenerator:
    """A fit that leaves each table's share to the rule (every table: SHARE_WITHOUT_MODEL here)."""
    return fit_relational(database=ehr, epsilon=EPSILON, delta=DELTA, model=TINY)


def test_the_chosen_shares_are_composed_in_the_database_epsilon(chosen: RelationalGenerator,
                                                                 conditioned: RelationalGenerator) -> None:
    """The chosen shares move each table's epsilon to its column distributions (less noise there, more in
    DP-SGD than the declared 0.5's fit), and every mechanism as it RAN, recomputed with Opacus' accountants,
    composes within the database's epsilon, spending it.  A share applied to a mechanism's noise without being
    in the joint plan (the column distributions measured at 0.9 of a table's part, the noise planned for 0.5)
    composes above epsilon here."""
    assert chosen.budget.marginals_shares() == pytest.approx(dict.fromkeys(chosen.tables, SHARE_WITHOUT_MODEL))
    ran = {m["stage"]: m for m in chosen.mechanisms}
    even = {m["stage"]: m for m in conditioned.mechanisms}
    for name in chosen.tables:
        assert ran[f"marginals ({name})"]["noise_multiplier"] < even[f"marginals ({name})"]["noise_multiplier"]
        assert ran[f"training ({name})"]["noise_multiplier"] > 2 * even[f"training ({name})"]["noise_multiplier"]
    gaussian = [m for m in chosen.mechanisms if m.get("noise_multiplier")]
    assert len(gaussian) == len(chosen.mechanisms) == 7
    recomputed = _recomputed(gaussian, delta=sum(m["delta"] for m in gaussian))
    assert 0.97 * EPSILON <= recomputed <= EPSILON * (1 + 1e-6)
    assert chosen.composition.composed == pytest.approx(recomputed, rel=0.01)
    assert any("chosen by the table rule" in note for note in chosen.notes)
