"""The DP relational generator on the MIMIC-III demo subset with the shipped schema (skipped where
../shared/data is absent): a tiny fit at epsilon 10 releases every table with keys that join, no orphan, no
real key, and a database epsilon that is the accountants' composition of every mechanism, within the total; lab tests outside any admission (loose rows,
no parent row) are generated without a condition.

LABEVENTS.valuenum has no declared bounds in the shipped schema and cannot be bounded with DP at its
sensitivity (up to 2,700 rows per patient): the test declares [-1000, 10000], clipped, as the benchmark does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from synthdata.config import ModelSpec
from synthdata.errors import BadInputError
from synthdata.modalities.relational import load_database, load_relational_schema
from synthdata.modalities.relational.cardinality import relationships
from synthdata.modalities.relational.generator import fit_relational, sample_relational
from synthdata.modalities.table.schema import NumericColumn

ROOT = Path(__file__).resolve().parents[4]
MIMIC = ROOT.parent / "shared" / "data" / "ehr" / "mimic3_demo_subset_iso"
SCHEMA = ROOT / "synthdata" / "data" / "mimic3_demo.schema.yaml"
EPSILON, DELTA = 10.0, 1e-5

pytestmark = pytest.mark.skipif(not (MIMIC / "PATIENTS.csv").is_file(),
                                reason="shared/data/ehr/mimic3_demo_subset_iso not present")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_mimic_demo_lab_values_without_bounds_refused_before_any_mechanism() -> None:
    database = load_database(schema=SCHEMA, folder=MIMIC)
    with pytest.raises(BadInputError, match=r"LABEVENTS\.valuenum.*Nothing was spent"):
        fit_relational(database=database, epsilon=EPSILON, delta=DELTA, model="fast")


def test_mimic_demo_fit_and_sample() -> None:
    schema = load_relational_schema(SCHEMA)
    lab = schema.tables["LABEVENTS"]
    columns = {**lab.columns, "valuenum": NumericColumn(nullable=True, min=-1000, max=10000, clip=True)}
    schema = schema.model_copy(update={"tables": {**schema.tables, "LABEVENTS": lab.model_copy(
        update={"columns": columns})}})
    database = load_database(schema=schema, folder=MIMIC)
    tiny = ModelSpec(preset="fast", epochs=2, batch_size=1024, hidden=16, depth=1, lr=1e-2, augmentation=1,
                     sample_steps=4)
    fitted = fit_relational(database=database, epsilon=EPSILON, delta=DELTA, model=tiny)
    per_table = fitted.epsilon_per_table()
    assert set(per_table) == set(schema.tables)
    assert fitted.composition.composed <= EPSILON * (1 + 1e-6)
    assert fitted.composition.composed >= 0.98 * EPSILON  # jointly calibrated: the budget is spent
    assert all(epsilon < fitted.composition.composed for epsilon in per_table.values())
    assert {m.condition_on for m in fitted.tables.values()} == {None, "PATIENTS", "ADMISSIONS"}
    synthetic = sample_relational(generator=fitted, n_subjects=database.n_subjects, seed=5)
    real_keys = {str(v) for loaded in database.tables.values() for column in loaded.schema.identifier_columns
                 for v in loaded.frame[column].drop_nulls().to_list()}
    for name, spec in schema.tables.items():
        frame = synthetic.tables[name]
        for column, reference in spec.references.items():
            values = set(frame[column].drop_nulls().to_list())
            assert values <= set(synthetic.tables[reference.table][reference.column].to_list()), (name, column)
            assert not values & real_keys
        for key in spec.keys:
            assert not set(frame[key].to_list()) & real_keys
        modelled = database.tables[name].schema.modelled_columns
        assert set(modelled) <= set(frame.columns), name
    # The prescriptions' ICU stay (a reference off the parent chain) is left empty, as documented.
    assert synthetic.tables["PRESCRIPTIONS"]["icustay_id"].null_count() == synthetic.tables["PRESCRIPTIONS"].height
    labs = synthetic.tables["LABEVENTS"]
    assert fitted.tables["LABEVENTS"].outcome.grad_sample_mode == "hooks"  # units of hundreds of rows
    loose = synthetic.skeleton.tables["LABEVENTS"].parent_row < 0
    assert labs["hadm_id"].is_null().to_numpy().tolist() == loose.tolist()
    for relationship in relationships(schema):
        counts = synthetic.children_per_parent()[relationship.name]
        assert np.all(counts <= relationship.cap)
