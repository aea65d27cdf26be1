"""The shipped MIMIC-III demo schema on the real demo subset (../shared/data, skipped where it is absent):
orphan counts against an independent pandas computation, the caps' counts, and every kept link joining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthdata.modalities.relational import RelationalDatabase, load_database, load_relational_schema

ROOT = Path(__file__).resolve().parents[3]
MIMIC = ROOT.parent / "shared" / "data" / "ehr" / "mimic3_demo_subset_iso"
SCHEMA = ROOT / "synthdata" / "data" / "mimic3_demo.schema.yaml"

pytestmark = pytest.mark.skipif(not (MIMIC / "PATIENTS.csv").is_file(),
                                reason="shared/data/ehr/mimic3_demo_subset_iso not present")


@pytest.fixture(scope="module")
def real() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(MIMIC / f"{name}.csv", dtype=str, keep_default_na=False, na_values=["NA", ""])
            for name in ("PATIENTS", "ADMISSIONS", "ICUSTAYS", "DIAGNOSES_ICD", "PRESCRIPTIONS", "LABEVENTS")}


@pytest.fixture(scope="module")
def uncapped() -> RelationalDatabase:
    schema = load_relational_schema(SCHEMA)
    tables = {name: table.model_copy(update={"max_rows_per_parent": None, "max_rows_per_subject": None})
              for name, table in schema.tables.items()}
    return load_database(schema=schema.model_copy(update={"tables": tables}), folder=MIMIC)


@pytest.fixture(scope="module")
def capped() -> RelationalDatabase:
    return load_database(schema=SCHEMA, folder=MIMIC)


def _expected_orphans(real: dict[str, pd.DataFrame]) -> dict[str, tuple[int, int]]:
    """(orphans pointing nowhere, orphans whose row points at an orphan) per table, by pandas joins."""
    patients = set(real["PATIENTS"].subject_id)
    admissions = real["ADMISSIONS"]
    admissions_kept = set(admissions.hadm_id[admissions.subject_id.isin(patients)])
    expected = {"PATIENTS": (0, 0), "ADMISSIONS": (int((~admissions.subject_id.isin(patients)).sum()), 0)}
    for name in ("ICUSTAYS", "DIAGNOSES_ICD", "PRESCRIPTIONS", "LABEVENTS"):
        frame = real[name]
        has_admission = frame.hadm_id.notna()
        direct = ~frame.subject_id.isin(patients) | (has_admission & ~frame.hadm_id.isin(admissions.hadm_id))
        through = ~direct & has_admission & ~frame.hadm_id.isin(admissions_kept)
        expected[name] = (int(direct.sum()), int(through.sum()))
    return expected


def test_orphan_counts_match_an_independent_pandas_computation(real: dict[str, pd.DataFrame],
                                                               uncapped: RelationalDatabase) -> None:
    expected = _expected_orphans(real)
    measured = {name: (c.orphans, c.orphans_of_orphans) for name, c in uncapped.counts().items()}
    assert measured == expected
    assert expected["ADMISSIONS"] == (23, 0)  # the data's README: 23 of 85 admissions have no patient row
    for name, counts in uncapped.counts().items():
        assert counts.read == len(real[name])
        assert counts.kept == len(real[name]) - sum(expected[name]) == uncapped.tables[name].height
        assert counts.removed_by_caps == 0


def test_optional_icu_links_to_stays_not_kept_are_unlinked(real: dict[str, pd.DataFrame],
                                                           uncapped: RelationalDatabase) -> None:
    stays = set(uncapped.tables["ICUSTAYS"].frame["icustay_id"].to_list())
    prescriptions = uncapped.tables["PRESCRIPTIONS"].frame.to_pandas()
    dangling = prescriptions.icustay_id.notna() & ~prescriptions.icustay_id.isin(stays)
    assert uncapped.tables["PRESCRIPTIONS"].counts.unlinked == int(dangling.sum())
    links = uncapped.tables["PRESCRIPTIONS"].links["icustay_id"]
    assert ((links == -1) == (prescriptions.icustay_id.isna() | dangling).to_numpy()).all()


def test_the_caps_count_what_they_removed(real: dict[str, pd.DataFrame], capped: RelationalDatabase) -> None:
    patients = set(real["PATIENTS"].subject_id)
    admissions = real["ADMISSIONS"][real["ADMISSIONS"].subject_id.isin(patients)]
    over = (admissions.groupby("subject_id").size() - 8).clip(lower=0).sum()  # max_rows_per_parent: 8
    assert capped.tables["ADMISSIONS"].counts.capped_per_parent == int(over)
    expected = _expected_orphans(real)
    for name, counts in capped.counts().items():
        assert (counts.orphans, counts.orphans_of_orphans) == expected[name]  # caps come after orphans
        assert counts.kept == counts.read - counts.dropped_as_orphans - counts.removed_by_caps
        assert counts.kept == capped.tables[name].height
        spec = capped.schema.tables[name]
        if spec.max_rows_per_parent is not None:
            parent = capped.tables[name].parent_row
            groups = np.where(parent >= 0, parent, -1 - capped.tables[name].subject)
            assert np.unique(groups, return_counts=True)[1].max() <= spec.max_rows_per_parent
    assert capped.tables["PRESCRIPTIONS"].counts.capped_per_parent > 0  # one admission has 558 prescriptions


def test_every_kept_link_joins_and_agrees_on_the_patient(capped: RelationalDatabase) -> None:
    patients = capped.tables["PATIENTS"].frame["subject_id"].to_numpy()
    for name in capped.order:
        table = capped.tables[name]
        assert (patients[table.subject] == table.frame["subject_id"].to_numpy()).all()
        for column, positions in table.links.items():
            target = capped.schema.tables[name].references[column]
            keys = capped.tables[target.table].frame[target.column].to_numpy()
            values = table.frame[column].to_numpy()
            linked = positions >= 0
            assert (keys[positions[linked]] == values[linked]).all()
            if column != "icustay_id":  # the one optional (unlinked) reference
                assert (pd.isna(values[~linked])).all()


def test_relative_times_are_in_their_declared_ranges(capped: RelationalDatabase) -> None:
    admissions = capped.tables["ADMISSIONS"].frame
    assert admissions["los_days"].min() >= 0 and admissions["age_at_admission"].max() <= 90
    assert capped.tables["LABEVENTS"].frame["days_since_admission"].null_count() > 0  # labs outside admissions
    assert capped.tables["LABEVENTS"].schema.columns["itemid"].other == "(other item)"
