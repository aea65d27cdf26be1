"""The structure of a synthetic relational database: the DP cardinality model (its sensitivity, its noise, a
valid distribution at any epsilon, the known distribution recovered at a large one) and the skeleton drawn
from it (every foreign key joins, no orphan, the caps kept, fresh keys); on the MIMIC-III demo subset when
../shared is there."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from synthdata.errors import BadInputError
from synthdata.modalities.relational import (
    RelationalDatabase,
    cardinality,
    load_database,
    parse_relational_schema,
)
from synthdata.modalities.relational.cardinality import (
    CardinalityModel,
    calibrate_cardinalities,
    children_per_parent,
    counted_tables,
    histogram,
    measure_cardinalities,
    noisy_histograms,
    parent_weights,
    relationships,
)
from synthdata.modalities.relational.skeleton import (
    Skeleton,
    fresh_keys,
    sample_skeleton,
)
from synthdata.privacy.gaussian import calibrate_gaussian

ROOT = Path(__file__).resolve().parents[3]
MIMIC = ROOT.parent / "shared" / "data" / "ehr" / "mimic3_demo_subset_iso"
MIMIC_SCHEMA = ROOT / "synthdata" / "data" / "mimic3_demo.schema.yaml"

#: The fixture's true distributions: admissions per patient (cap 3), events per admission (cap 5), events
#: outside any admission per patient (cap 5).
ADMISSIONS_PER_PATIENT = np.array([0.1, 0.5, 0.3, 0.1])
EVENTS_PER_ADMISSION = np.array([0.05, 0.1, 0.4, 0.2, 0.15, 0.1])
LOOSE_EVENTS_PER_PATIENT = np.array([0.6, 0.3, 0.1, 0.0, 0.0, 0.0])
DELTA = 1e-5

SCHEMA: dict = {
    "subject": "PATIENTS",
    "tables": {
        "PATIENTS": {"file": "patients.csv", "keys": ["subject_id"],
                     "columns": {"subject_id": {"type": "identifier"},
                                 "gender": {"type": "categorical", "categories": ["F", "M"]}}},
        "ADMISSIONS": {"file": "admissions.csv", "keys": ["hadm_id"],
                       "references": {"subject_id": "PATIENTS.subject_id"}, "max_rows_per_parent": 3,
                       "columns": {"hadm_id": {"type": "identifier"}, "subject_id": {"type": "identifier"},
                                   "kind": {"type": "categorical", "categories": ["A", "B"]}}},
        "STAYS": {"file": "stays.csv", "keys": ["stay_id"], "max_rows_per_parent": 2,
                  "references": {"subject_id": "PATIENTS.subject_id", "hadm_id": "ADMISSIONS.hadm_id"},
                  "parent": "hadm_id",
                  "columns": {"stay_id": {"type": "identifier"}, "subject_id": {"type": "identifier"},
                              "hadm_id": {"type": "identifier", "nullable": False},
                              "unit": {"type": "categorical", "categories": ["ICU", "CCU"]}}},
        "EVENTS": {"file": "events.csv", "max_rows_per_parent": 5, "max_rows_per_subject": 12,
                   "references": {"subject_id": "PATIENTS.subject_id", "hadm_id": "ADMISSIONS.hadm_id",
                                  "stay_id": {"to": "STAYS.stay_id", "on_orphan": "unlink"}},
                   "parent": "hadm_id",
                   "columns": {"subject_id": {"type": "identifier"}, "hadm_id": {"type": "identifier"},
                               "stay_id": {"type": "identifier"},
                               "value": {"type": "numeric", "min": 0, "max": 10}}},
    },
}


def _write_database(folder: Path, *, patients: int, seed: int) -> Path:
    """Tables drawn from the known distributions (keys in the style of MIMIC's: large integers)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    subject_ids = [str(10_000 + i) for i in range(patients)]
    pl.DataFrame({"subject_id": subject_ids, "gender": rng.choice(["F", "M"], patients)}).write_csv(
        folder / "patients.csv")
    n_adm = rng.choice(4, size=patients, p=ADMISSIONS_PER_PATIENT)
    adm_subject = np.repeat(subject_ids, n_adm)
    hadm_ids = [str(100_000 + i) for i in range(len(adm_subject))]
    pl.DataFrame({"hadm_id": hadm_ids, "subject_id": adm_subject,
                  "kind": rng.choice(["A", "B"], len(hadm_ids))}).write_csv(folder / "admissions.csv")
    n_stays = rng.choice(3, size=len(hadm_ids), p=[0.3, 0.6, 0.1])
    stay_hadm = np.repeat(hadm_ids, n_stays)
    stay_subject = np.repeat(adm_subject, n_stays)
    stay_ids = [str(200_000 + i) for i in range(len(stay_hadm))]
    pl.DataFrame({"stay_id": stay_ids, "subject_id": stay_subject, "hadm_id": stay_hadm,
                  "unit": rng.choice(["ICU", "CCU"], len(stay_ids))}).write_csv(
        folder / "stays.csv")
    n_events = rng.choice(6, size=len(hadm_ids), p=EVENTS_PER_ADMISSION)
    n_loose = rng.choice(6, size=patients, p=LOOSE_EVENTS_PER_PATIENT)
    events_hadm = list(np.repeat(hadm_ids, n_events)) + [None] * int(n_loose.sum())
    events_subject = list(np.repeat(adm_subject, n_events)) + list(np.repeat(subject_ids, n_loose))
    pl.DataFrame({"subject_id": events_subject, "hadm_id": events_hadm,
                  "stay_id": [None] * len(events_hadm),
                  "value": rng.uniform(0, 10, len(events_hadm)).round(2)},
                 schema={"subject_id": pl.String, "hadm_id": pl.String, "stay_id": pl.String,
                         "value": pl.Float64}).write_csv(folder / "events.csv")
    return folder


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> RelationalDatabase:
    folder = _write_database(tmp_path_factory.mktemp("db"), patients=3000, seed=7)
    return load_database(schema=parse_relational_schema(SCHEMA), folder=folder)


def _ks(shares: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(np.cumsum(shares) - np.cumsum(truth)).max())


def _real_keys(database: RelationalDatabase) -> set[str]:
    keys: set[str] = set()
    for table in database.tables.values():
        for column in table.keys:
            keys |= set(table.frame[column].cast(pl.String).to_list())
    return keys


# ------------------------------------------------------------------------------------------ relationships


def test_relationships_from_the_schema_with_caps_and_per_patient_bounds() -> None:
    found = {r.name: r for r in relationships(parse_relational_schema(SCHEMA))}
    assert list(found) == ["PATIENTS->ADMISSIONS", "ADMISSIONS->STAYS", "ADMISSIONS->EVENTS",
                           "PATIENTS->EVENTS (no ADMISSIONS)"]
    assert (found["PATIENTS->ADMISSIONS"].cap, found["PATIENTS->ADMISSIONS"].bound) == (3, 1)
    # a patient has up to 3 admissions (public; the weights 1 / admissions of the patient keep the histograms'
    # sensitivity at 1 whatever it is: test_one_patient_with_8_admissions_moves_each_histogram_by_at_most_one)
    assert (found["ADMISSIONS->EVENTS"].cap, found["ADMISSIONS->EVENTS"].bound) == (5, 3)
    assert (found["ADMISSIONS->STAYS"].cap, found["ADMISSIONS->STAYS"].bound) == (2, 3)
    loose = found["PATIENTS->EVENTS (no ADMISSIONS)"]
    assert (loose.loose, loose.cap, loose.bound) == (True, 5, 1)


def test_a_relationship_without_a_declared_cap_is_refused() -> None:
    tables = {**SCHEMA["tables"], "STAYS": {**SCHEMA["tables"]["STAYS"]}}
    del tables["STAYS"]["max_rows_per_parent"]
    with pytest.raises(BadInputError, match="table STAYS: .*max_rows_per_parent"):
        relationships(parse_relational_schema({**SCHEMA, "tables": tables}))


def test_children_per_parent_counts_every_parent_row(database: RelationalDatabase) -> None:
    counts = children_per_parent(database)
    assert len(counts["PATIENTS->ADMISSIONS"]) == database.n_subjects
    assert counts["PATIENTS->ADMISSIONS"].sum() == database.tables["ADMISSIONS"].height
    assert len(counts["ADMISSIONS->EVENTS"]) == database.tables["ADMISSIONS"].height
    events = database.tables["EVENTS"]
    assert counts["ADMISSIONS->EVENTS"].sum() + counts["PATIENTS->EVENTS (no ADMISSIONS)"].sum() == events.height


# --------------------------------------------------------------------------------------- DP measurement


def test_a_large_epsilon_recovers_the_known_distributions(database: RelationalDatabase) -> None:
    model, _ = measure_cardinalities(database=database, epsilon=50.0, delta=DELTA, rng=np.random.default_rng(0))
    assert _ks(np.array(model["PATIENTS->ADMISSIONS"].shares), ADMISSIONS_PER_PATIENT) < 0.03
    # per-admission events are capped per patient too (12): the truth is a little below the drawn one
    assert _ks(np.array(model["ADMISSIONS->EVENTS"].shares), EVENTS_PER_ADMISSION) < 0.05
    assert _ks(np.array(model["PATIENTS->EVENTS (no ADMISSIONS)"].shares), LOOSE_EVENTS_PER_PATIENT) < 0.03


def test_a_tiny_epsilon_is_noisy_but_still_a_distribution(database: RelationalDatabase) -> None:
    model, _ = measure_cardinalities(database=database, epsilon=0.01, delta=DELTA, rng=np.random.default_rng(1))
    for relationship in model.relationships:
        shares = np.array(relationship.shares)
        assert shares.shape == (relationship.cap + 1,)
        assert (shares >= 0).all() and math.isclose(shares.sum(), 1.0)
    # noise sd about 9,000 patients per bin on about 2,700 patients with admissions: far from the truth
    assert _ks(np.array(model["ADMISSIONS->EVENTS"].shares), EVENTS_PER_ADMISSION) > 0.1


def test_the_noise_is_calibrated_at_one_patient_per_histogram(database: RelationalDatabase) -> None:
    """sigma = noise_multiplier x sqrt(R + C + O) for every relationship (R relationships, C counts of patients
    with rows, O = 2 loading counts per table, orphans and rows removed by caps), in patient units: the
    per-admission histograms weigh each patient's admissions 1 / (their number), so they need no factor B (3
    admissions per patient here; before format version 4 they counted admissions and got 3 times the noise)."""
    epsilon = 2.0
    found = relationships(database.schema)
    measured = len(found) + len(counted_tables(database.schema)) + 2 * len(counted_tables(database.schema))
    assert counted_tables(database.schema) == ["ADMISSIONS", "STAYS", "EVENTS"]
    model, mechanism = measure_cardinalities(database=database, epsilon=epsilon, delta=DELTA,
                                             rng=np.random.default_rng(2))
    reference = calibrate_gaussian(epsilon=epsilon, delta=DELTA, sensitivity=1.0)
    assert mechanism.sensitivity == pytest.approx(math.sqrt(measured))
    assert mechanism.noise_multiplier == reference.noise_multiplier
    expected = reference.noise_multiplier * math.sqrt(measured)
    assert {r.name: r.sigma for r in model.relationships} == pytest.approx({r.name: expected for r in found})
    assert mechanism.sigma == pytest.approx(expected)
    record = mechanism.ledger_record(stage="cardinalities")
    assert (record["sample_rate"], record["steps"], record["epsilon"]) == (1.0, 1, epsilon)

    # The noise actually drawn, over many draws, has that standard deviation in every bin of the weighted ones.
    counts, weights = children_per_parent(database), parent_weights(database)
    histograms = {r.name: histogram(counts[r.name], cap=r.cap, weights=weights[r.name]) for r in found}
    bounds = {r.name: 1 for r in found}
    for table in counted_tables(database.schema):  # the counts of patients with rows go through it too
        histograms[table], bounds[table] = np.array([float(np.unique(database.tables[table].subject).size)]), 1
        loaded = database.tables[table].counts  # and what loading removed, clipped (their own test below)
        for name, count in (("orphans", loaded.orphans_clipped), ("removed", loaded.removed_clipped)):
            histograms[f"{name} {table}"], bounds[f"{name} {table}"] = np.array([float(count)]), loaded.clip
    rng = np.random.default_rng(3)
    draws = [noisy_histograms(histograms=histograms, bounds=bounds, mechanism=mechanism, rng=rng)
             for _ in range(400)]
    for r in found:
        noise = np.stack([d[r.name] for d in draws]) - histograms[r.name]
        assert noise.std() == pytest.approx(expected, rel=0.06)
        assert abs(noise.mean()) < 0.2 * expected


def test_the_weights_make_each_patient_s_parent_rows_weigh_one(database: RelationalDatabase) -> None:
    """Every patient with admissions weighs 1 in each per-admission histogram (its total is the number of patients
    with admissions), the per-patient histograms count patients, and at a large epsilon the weighted shares are
    still the planted distribution (drawn independently of the number of admissions, so the weighting's bias is
    nil here)."""
    weights, counts = parent_weights(database), children_per_parent(database)
    with_admissions = np.unique(database.tables["ADMISSIONS"].subject).size
    for r in relationships(database.schema):
        total = histogram(counts[r.name], cap=r.cap, weights=weights[r.name]).sum()
        assert total == pytest.approx(with_admissions if r.parent == "ADMISSIONS" else database.n_subjects)
    assert (weights["PATIENTS->ADMISSIONS"] == 1).all() and (weights["PATIENTS->EVENTS (no ADMISSIONS)"] == 1).all()
    admissions = np.bincount(database.tables["ADMISSIONS"].subject, minlength=database.n_subjects)
    assert weights["ADMISSIONS->STAYS"] == pytest.approx(1 / admissions[database.tables["ADMISSIONS"].subject])


def test_one_patient_with_8_admissions_moves_each_histogram_by_at_most_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the mechanism measures (the histograms handed to ``noisy_histograms``, whose noise sd is
    ``mechanism.sigma`` per bin) moves by at most 1 in L1 when one patient is removed, in every relationship,
    here a patient with 8 admissions of 2 ICU stays each: their admissions weigh 1/8 each.  Before format
    version 4 the histograms counted parent rows: the stays histogram moved by 8 (and got 8 times the noise)."""
    tables = {name: dict(spec) for name, spec in SCHEMA["tables"].items()}
    tables["ADMISSIONS"]["max_rows_per_parent"] = 8
    schema = parse_relational_schema({**SCHEMA, "tables": tables})
    folder = _write_database(tmp_path / "db", patients=40, seed=11)
    hadm = [str(300_000 + i) for i in range(8)]
    for name, extra in (
            ("patients", {"subject_id": ["99999"], "gender": ["F"]}),
            ("admissions", {"hadm_id": hadm, "subject_id": ["99999"] * 8, "kind": ["A"] * 8}),
            ("stays", {"stay_id": [str(400_000 + i) for i in range(16)], "subject_id": ["99999"] * 16,
                       "hadm_id": [h for h in hadm for _ in range(2)], "unit": ["ICU"] * 16}),
            ("events", {"subject_id": ["99999"] * 8, "hadm_id": hadm, "stay_id": [None] * 8, "value": ["1.0"] * 8})):
        frame = pl.read_csv(folder / f"{name}.csv", infer_schema=False)
        pl.concat([frame, pl.DataFrame(extra, schema={c: pl.String for c in frame.columns})]).write_csv(
            folder / f"{name}.csv")
    real = load_database(schema=schema, folder=folder)
    patient = real.n_subjects - 1  # the last patient row
    assert (real.tables["ADMISSIONS"].subject == patient).sum() == 8
    seen: list[dict[str, np.ndarray]] = []
    measured = cardinality.noisy_histograms

    def recording(**kwargs):
        seen.append({name: np.asarray(counts, dtype=np.float64) for name, counts in kwargs["histograms"].items()})
        return measured(**kwargs)

    monkeypatch.setattr(cardinality, "noisy_histograms", recording)
    keep = np.arange(real.n_subjects) != patient
    for database in (real, real.select_subjects(keep=keep)):
        measure_cardinalities(database=database, epsilon=1.0, delta=DELTA, rng=np.random.default_rng(0))
    present, absent = seen
    for relationship in relationships(schema):
        assert np.abs(present[relationship.name] - absent[relationship.name]).sum() <= 1 + 1e-9, relationship.name
    moved = present["ADMISSIONS->STAYS"] - absent["ADMISSIONS->STAYS"]
    assert moved == pytest.approx([0.0, 0.0, 1.0])  # 8 admissions of 2 stays: one patient in bin 2


def test_noisy_histograms_refuses_a_missing_bound_or_a_mechanism_for_other_histograms() -> None:
    one = calibrate_cardinalities(epsilon=1.0, delta=DELTA, relationships=1)
    with pytest.raises(ValueError, match="bound"):
        noisy_histograms(histograms={"a": np.ones(3)}, bounds={}, mechanism=one, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="whole number"):
        noisy_histograms(histograms={"a": np.ones(3)}, bounds={"a": 0.5}, mechanism=one, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="calibrated for 2"):
        noisy_histograms(histograms={"a": np.ones(3), "b": np.ones(2)}, bounds={"a": 1, "b": 2}, mechanism=one,
                         rng=np.random.default_rng(0))


def test_patients_with_rows_are_counted_with_dp_and_noise_of_the_joint_multiplier(
        database: RelationalDatabase) -> None:
    """The numbers of patients with rows per table come out of the same mechanism, noisy (sd noise_multiplier x
    sqrt(R + C)) and clipped to 0 .. patients; a given noise multiplier is used as it is."""
    exact = {name: int(np.unique(database.tables[name].subject).size) for name in ("ADMISSIONS", "STAYS", "EVENTS")}
    draws = []
    for seed in range(60):
        model, mechanism = measure_cardinalities(database=database, epsilon=1.0, delta=DELTA, noise_multiplier=2.0,
                                                 rng=np.random.default_rng(seed))
        assert mechanism.noise_multiplier == 2.0 and mechanism.epsilon == 1.0
        assert set(model.patients) == set(exact)
        assert all(0 <= count <= database.n_subjects for count in model.patients.values())
        draws.append([model.patients[name] - exact[name] for name in exact])
    noise = np.array(draws)
    assert noise.std() == pytest.approx(2.0 * mechanism.sensitivity, rel=0.2)
    assert (noise != 0).all()


def test_what_loading_removed_is_released_by_the_same_mechanism_clipped_and_noisy(
        database: RelationalDatabase) -> None:
    """The orphans and cap-removed rows per table come out of the structure mechanism: centred on the CLIPPED
    counts (each patient at most the table's bound on rows per patient), with noise sd noise_multiplier x
    sqrt(R + C + O) x bound, the sd the model states, so they are covered by the mechanism's ledger record
    (and its joint calibration).  Before this change nothing was released (and no sd stated)."""
    counts = database.counts()
    assert counts["EVENTS"].removed_clipped > 0 and counts["EVENTS"].clip == 12  # (clipping: the loading tests)
    draws = []
    for seed in range(200):
        model, mechanism = measure_cardinalities(database=database, epsilon=1.0, delta=DELTA, noise_multiplier=2.0,
                                                 rng=np.random.default_rng(seed))
        assert set(model.loading) == {"ADMISSIONS", "STAYS", "EVENTS"}
        draws.append([(model.loading[t].orphans, model.loading[t].removed_by_caps) for t in ("STAYS", "EVENTS")])
    assert mechanism.sensitivity == pytest.approx(math.sqrt(len(relationships(database.schema)) + 3 + 6))
    noise = np.array(draws) - np.array([[(counts[t].orphans_clipped, counts[t].removed_clipped)]
                                        for t in ("STAYS", "EVENTS")]).reshape(1, 2, 2)
    for index, table in enumerate(("STAYS", "EVENTS")):
        stated = model.loading[table].sigma
        assert stated == pytest.approx(2.0 * mechanism.sensitivity * counts[table].clip)
        assert noise[:, index].std() == pytest.approx(stated, rel=0.12)
        assert np.abs(noise[:, index].mean(axis=0)).max() < 0.25 * stated
    assert (noise != 0).all()
    described = model.loading["EVENTS"].describe()
    assert "DP estimate" in described["kind"] and described["clipped_per_patient"] == 12


def test_the_model_round_trips_through_json(database: RelationalDatabase) -> None:
    model, _ = measure_cardinalities(database=database, epsilon=1.0, delta=DELTA, rng=np.random.default_rng(4))
    assert CardinalityModel.from_dict(model.to_dict()) == model


# ---------------------------------------------------------------------------------------------- skeleton


def _check_structure(skeleton: Skeleton) -> None:
    """Every non-empty foreign key joins its table's key, the links agree with the keys, the parent row's
    patient is the row's, and no count leaves 0 .. cap."""
    schema = skeleton.schema
    for name, table in skeleton.tables.items():
        frame = table.frame()
        assert frame.height == table.height
        for column in schema.tables[name].keys:
            assert frame[column].null_count() == 0 and frame[column].n_unique() == table.height
        for column, reference in schema.tables[name].references.items():
            target = skeleton.tables[reference.table].frame()[reference.column]
            values = frame[column].drop_nulls()
            assert values.is_in(target.implode()).all(), f"{name}.{column} has an orphan"
            links = table.links[column]
            present = links >= 0
            assert (frame[column].is_not_null().to_numpy() == present).all()
            assert (target.to_numpy()[links[present]] == frame[column].to_numpy()[present]).all()
        if table.parent_row is not None:
            attached = table.parent_row >= 0
            parent = skeleton.tables[str(table.parent)]
            assert (parent.subject[table.parent_row[attached]] == table.subject[attached]).all()
            assert table.frame()[str(table.parent_column)].null_count() == int((~attached).sum())
    for relationship in relationships(schema):
        counts = skeleton.children_per_parent()[relationship.name]
        assert counts.min(initial=0) >= 0 and counts.max(initial=0) <= relationship.cap
    for name, spec in schema.tables.items():
        if spec.max_rows_per_subject is not None and skeleton.tables[name].height:
            assert np.bincount(skeleton.tables[name].subject).max() <= spec.max_rows_per_subject


@pytest.mark.parametrize("epsilon", [0.05, 10.0])
def test_the_skeleton_joins_with_no_orphan_and_keeps_the_caps(database: RelationalDatabase, epsilon: float) -> None:
    model, _ = measure_cardinalities(database=database, epsilon=epsilon, delta=DELTA, rng=np.random.default_rng(5))
    skeleton = sample_skeleton(schema=database.schema, model=model, n_subjects=500, rng=np.random.default_rng(6))
    assert skeleton.n_subjects == 500
    _check_structure(skeleton)
    # the reference off the parent chain (an event's stay) is left to the generator: empty
    assert skeleton.tables["EVENTS"].frame()["stay_id"].null_count() == skeleton.tables["EVENTS"].height
    # an event's subject_id is its admission's patient's key (or its own patient's, outside an admission)
    events, patients = skeleton.tables["EVENTS"], skeleton.tables["PATIENTS"]
    assert (events.references["subject_id"] == patients.keys["subject_id"][events.subject]).all()


def test_the_skeleton_draws_the_model_s_distributions(database: RelationalDatabase) -> None:
    model, _ = measure_cardinalities(database=database, epsilon=50.0, delta=DELTA, rng=np.random.default_rng(8))
    skeleton = sample_skeleton(schema=database.schema, model=model, n_subjects=4000, rng=np.random.default_rng(9))
    drawn = skeleton.children_per_parent()
    for name in ("PATIENTS->ADMISSIONS", "PATIENTS->EVENTS (no ADMISSIONS)"):
        shares = np.bincount(drawn[name], minlength=model[name].cap + 1) / len(drawn[name])
        assert _ks(shares, np.array(model[name].shares)) < 0.03


@pytest.mark.parametrize("style", ["uuid", "sequential"])
def test_fresh_keys_share_nothing_with_the_real_keys(database: RelationalDatabase, style: str) -> None:
    model, _ = measure_cardinalities(database=database, epsilon=1.0, delta=DELTA, rng=np.random.default_rng(10))
    skeleton = sample_skeleton(schema=database.schema, model=model, n_subjects=database.n_subjects,
                               rng=np.random.default_rng(11), key_style=style)  # type: ignore[arg-type]
    synthetic: set[str] = set()
    for table in skeleton.tables.values():
        for values in table.keys.values():
            synthetic |= {str(v) for v in values}
    assert synthetic and not synthetic & _real_keys(database)
    _check_structure(skeleton)


def test_fresh_keys_are_distinct_uuids_or_counts() -> None:
    keys = fresh_keys(size=1000, style="uuid", rng=np.random.default_rng(0))
    assert len(set(keys)) == 1000 and all(len(k) == 36 and k[14] == "4" for k in keys)
    assert list(fresh_keys(size=3, style="sequential", rng=np.random.default_rng(0))) == ["1", "2", "3"]
    with pytest.raises(ValueError, match="key style"):
        fresh_keys(size=1, style="hash", rng=np.random.default_rng(0))  # type: ignore[arg-type]


def test_a_skeleton_of_no_patients_and_a_mismatched_model(database: RelationalDatabase) -> None:
    model, _ = measure_cardinalities(database=database, epsilon=1.0, delta=DELTA, rng=np.random.default_rng(12))
    empty = sample_skeleton(schema=database.schema, model=model, n_subjects=0, rng=np.random.default_rng(0))
    assert all(table.height == 0 for table in empty.tables.values())
    fewer = CardinalityModel(relationships=model.relationships[:2])
    with pytest.raises(ValueError, match="needs"):
        sample_skeleton(schema=database.schema, model=fewer, n_subjects=5, rng=np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------ MIMIC


@pytest.mark.skipif(not (MIMIC / "PATIENTS.csv").is_file(), reason="shared/data/ehr/mimic3_demo_subset_iso not present")
def test_mimic_skeleton_joins_and_keeps_the_caps() -> None:
    real = load_database(schema=MIMIC_SCHEMA, folder=MIMIC)
    model, mechanism = measure_cardinalities(database=real, epsilon=1.0, delta=DELTA, rng=np.random.default_rng(0))
    # 6 relationships (lab events twice), 5 counts of patients with rows, 2 x 5 counts of what loading removed
    assert mechanism.sensitivity == pytest.approx(math.sqrt(6 + 5 + 10))
    assert model["ADMISSIONS->LABEVENTS"].bound == 8 and model["PATIENTS->ADMISSIONS"].bound == 1
    skeleton = sample_skeleton(schema=real.schema, model=model, n_subjects=real.n_subjects,
                               rng=np.random.default_rng(1))
    _check_structure(skeleton)
    synthetic = {str(v) for t in skeleton.tables.values() for values in t.keys.values() for v in values}
    assert not synthetic & _real_keys(real)
