"""Audits of a database (several tables released together) on the shipped EHR example, without training: the
structure check finds the example's orphans in the raw files and none once loading dropped them, and counts the
same children per parent row as loading does; every table audit runs on every table (qualified by the table's
name, a copied table blocked by its own exact-copies gate), the structure and cardinality audits on the whole;
the gate requires all of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from evaluation import gate
from evaluation.base import AuditContext, AuditSettings
from synthdata.modalities.relational import RelationalDatabase, load_database
from synthdata.modalities.relational.cardinality import children_per_parent
from synthdata.modalities.relational.checks import load_relational_schema
from synthdata.modalities.relational.structure import check_structure
from synthdata.views.relational import DatabaseAuditSet

DATA = Path(__file__).resolve().parents[3] / "synthdata" / "data"
SCHEMA = DATA / "ehr_example.schema.yaml"
TABLES = ["PATIENTS", "ADMISSIONS", "DIAGNOSES"]


@pytest.fixture(scope="module")
def ehr() -> RelationalDatabase:
    return load_database(schema=SCHEMA, folder=DATA / "ehr_example")


def _raw() -> dict[str, pl.DataFrame]:
    schema = load_relational_schema(SCHEMA)
    return {name: pl.read_csv(DATA / "ehr_example" / spec.file, infer_schema=False)
            for name, spec in schema.tables.items()}


def test_the_structure_check_finds_the_orphans_of_the_raw_files_and_none_after_loading(ehr) -> None:
    raw = check_structure(schema=ehr.schema, frames=_raw())
    assert raw.problems["table ADMISSIONS: 'subject_id' matches no PATIENTS.subject_id (orphans)"] == 4
    assert raw.count > 4
    loaded = check_structure(schema=ehr.schema, frames={name: t.frame for name, t in ehr.tables.items()})
    assert loaded.problems == {}
    expected = children_per_parent(ehr)
    assert set(loaded.children) == set(expected)
    for name, counts in expected.items():
        assert np.array_equal(loaded.children[name], counts), name


def test_the_structure_check_finds_repeated_and_missing_keys(ehr) -> None:
    frames = {name: t.frame for name, t in ehr.tables.items()}
    admissions = frames["ADMISSIONS"]
    frames["ADMISSIONS"] = admissions.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.lit(admissions["hadm_id"][0])).otherwise(pl.col("hadm_id")).alias("hadm_id"))
    frames["DIAGNOSES"] = frames["DIAGNOSES"].drop("hadm_id")
    found = check_structure(schema=ehr.schema, frames=frames)
    assert found.problems["table ADMISSIONS: key (hadm_id) not unique"] == 3
    assert any("DIAGNOSES" in problem and "hadm_id" in problem for problem in found.problems)


def test_the_structure_check_reports_rows_whose_parent_table_is_empty_without_failing(ehr) -> None:
    """A synthetic database may draw no row at all for a parent table (every admission with 0 ICU stays, when
    the DP counts say so) while a child table still names it: every such row is an orphan, counted, and the
    check must not fail on the empty table (it raised IndexError)."""
    frames = {name: t.frame for name, t in ehr.tables.items()}
    frames["ADMISSIONS"] = frames["ADMISSIONS"].head(0)
    found = check_structure(schema=ehr.schema, frames=frames)
    named = frames["DIAGNOSES"]["hadm_id"].is_not_null().sum()
    assert named > 0
    assert found.problems["table DIAGNOSES: 'hadm_id' matches no ADMISSIONS.hadm_id (orphans)"] == named
    assert found.children["PATIENTS->ADMISSIONS"].sum() == 0


def _side(database: RelationalDatabase, *, ids: bool, structure: bool = False) -> DatabaseAuditSet:
    subjects = database.tables["PATIENTS"].frame["subject_id"].cast(pl.String).to_numpy()
    frames = {name: t.frame for name, t in database.tables.items()}
    schemas = {name: t.schema for name, t in database.tables.items()}
    found = check_structure(schema=database.schema, frames=frames)
    return DatabaseAuditSet(
        tables={name: frames[name].select(schemas[name].modelled_columns).to_pandas() for name in TABLES},
        schemas=schemas, children=found.children if structure else children_per_parent(database),
        subjects={name: subjects[t.subject] for name, t in database.tables.items()} if ids else {},
        problems=found.problems)


def _context(ehr: RelationalDatabase, *, synthetic: str) -> AuditContext:
    """Every fifth patient held out; the synthetic side is the training (``"train"``) or holdout side."""
    holdout = np.zeros(ehr.n_subjects, dtype=bool)
    holdout[::5] = True
    sides = {"train": ehr.select_subjects(keep=~holdout), "holdout": ehr.select_subjects(keep=holdout)}
    return AuditContext(modality="relational", train=_side(sides["train"], ids=True),
                        holdout=_side(sides["holdout"], ids=True),
                        synthetic=_side(sides[synthetic], ids=False, structure=True), schema=None,
                        settings=AuditSettings(max_rows=300, seed=1))


def test_every_table_audit_runs_on_every_table_and_a_copied_table_is_blocked(ehr) -> None:
    context = _context(ehr, synthetic="train")
    names = ["memorization.exact_copies", "fidelity.structure", "fidelity.cardinality"]
    results = {r.name: r for r in gate.run_audits(context=context, names=names)}
    assert set(results) == {f"{t}:memorization.exact_copies" for t in TABLES} | {"fidelity.structure",
                                                                                   "fidelity.cardinality"}
    for table in TABLES:
        assert results[f"{table}:memorization.exact_copies"].title.endswith(f"({table})")
    for table in ("PATIENTS", "ADMISSIONS"):  # the synthetic side IS the training data: their copies gates block
        assert results[f"{table}:memorization.exact_copies"].passed is False  # (DIAGNOSES: one 3-level column)
    assert results["fidelity.structure"].value == 0 and results["fidelity.structure"].passed is True
    assert results["fidelity.cardinality"].value == 0 and results["fidelity.cardinality"].passed is True


def test_the_gate_requires_every_table_audit_on_every_table_and_the_database_audits() -> None:
    required = gate.required(view=DatabaseAuditSet, target=None, parts=TABLES,
                             gates={"fidelity.quality": 0.5})
    for table in TABLES:
        assert f"{table}:fidelity.quality" in required and f"{table}:memorization.exact_copies" in required
    assert {"fidelity.structure", "fidelity.cardinality"} <= set(required)
    assert not any(":utility" in name for name in required)  # no table audit of utility (no target per table)
    assert gate.threshold("ADMISSIONS:fidelity.quality", {"fidelity.quality": 0.5}) == 0.5
    assert gate.required(view=DatabaseAuditSet, target=None) == [  # and the audits across tables
        "fidelity.structure", "fidelity.cardinality", "fidelity.cross_table_trends", "utility.cross_table_tstr",
        "memorization.patient_dcr_share", "memorization.patient_near_copies", "memorization.patient_exact_copies",
        "attack.patient_membership_inference"]  # (test_audits_across_tables.py)


def test_a_structure_drawn_from_the_wrong_distribution_or_with_orphans_is_blocked(ehr) -> None:
    real = _side(ehr, ids=True)
    wrong = {name: np.full_like(counts, counts.max()) for name, counts in real.children.items()}  # every parent full
    synthetic = DatabaseAuditSet(tables=real.tables, schemas=real.schemas, children=wrong,
                                 problems={"table DIAGNOSES: 'hadm_id' matches no ADMISSIONS.hadm_id (orphans)": 2})
    context = AuditContext(modality="relational", train=real, holdout=real, synthetic=synthetic, schema=None)
    results = {r.name: r for r in gate.run_audits(context=context, names=["fidelity.structure", "fidelity.cardinality"])}
    assert results["fidelity.structure"].value == 2 and results["fidelity.structure"].passed is False
    assert results["fidelity.cardinality"].value > 0.4 and results["fidelity.cardinality"].passed is False


def test_attacks_needing_two_column_groups_do_not_run_on_a_one_column_table(ehr) -> None:
    """DIAGNOSES models one column: linkability would link an empty half and inference guess the secret from no
    known column (every record equally near): noise that blocked fresh real patients (2 of 40 draws of
    ``evaluation.benchmarks.relational_gates``).  Such a gate is not run and says so; the two-column tables run it."""
    results = {r.name: r for r in gate.run_audits(context=_context(ehr, synthetic="holdout"),
                                                  names=["attack.linkability", "attack.inference"])}
    for name in ("attack.linkability", "attack.inference"):
        one_column = results[f"DIAGNOSES:{name}"]
        assert one_column.value is None and one_column.passed is None
        assert one_column.unjudged_because.startswith("could not run") and "columns" in one_column.note
        assert results[f"PATIENTS:{name}"].value is not None and results[f"ADMISSIONS:{name}"].value is not None
