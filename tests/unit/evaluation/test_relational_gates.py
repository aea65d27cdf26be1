"""The relational gates benchmark's copier scenarios and the rates it stores for database releases' reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.benchmarks import relational_gates as bench


def _audit(passed, category="memorization", threshold=0.5, unjudged=None) -> dict:
    return {"value": 0.5, "interval": [0.4, 0.6], "passed": passed, "threshold": threshold, "category": category,
            "unjudged": unjudged}


def _record(scenario: str, *, privacy, fidelity=True) -> dict:
    return {"scenario": scenario, "patients": 1000, "sizes": {"train": 800, "holdout": 200},
            "audits": {"memorization.patient_near_copies": _audit(privacy),
                       "PATIENTS:attack.membership_inference": _audit(
                           None, category="attack", unjudged="too few records: only a value above about 0.75 would"),
                       "fidelity.cardinality": _audit(fidelity, category="fidelity")}}


def test_rates_count_the_privacy_gates_over_fresh_and_copier_draws_only():
    records = ([_record("fresh", privacy=True, fidelity=False)] * 59 + [_record("fresh", privacy=False)]
               + [_record("trained", privacy=False)] * 3  # a trained draw is not a copier: left out
               + [_record("copies 5%", privacy=True)] * 20 + [_record("copies 20%", privacy=False)] * 20)
    rates = bench.measured_rates(records)
    assert set(rates["scenarios"]) == {"fresh", "copies 5%", "copies 20%"}
    assert rates["records"] == "patients" and rates["sizes"] == {"train": 800, "holdout": 200, "synthetic": 800}
    assert "1,000 patients" in rates["example"]
    fresh, copier = rates["scenarios"]["fresh"], rates["scenarios"]["copies 20%"]
    assert set(fresh["gates"]) == {"memorization.patient_near_copies", "PATIENTS:attack.membership_inference"}
    assert fresh["draws"] == 60 and fresh["blocked"] == 1  # the 59 fidelity failures are not privacy blocks
    assert fresh["bound"] == pytest.approx(0.0766, abs=1e-4)  # one-sided upper Clopper-Pearson of 1 in 60
    assert fresh["gates"]["PATIENTS:attack.membership_inference"]["unjudged"] == 60
    assert fresh["gates"]["PATIENTS:attack.membership_inference"]["floor"] == 0.75
    assert copier["blocked"] == 20 and copier["bound"] == pytest.approx(0.8609, abs=1e-4)  # lower bound
    assert copier["description"].startswith("20% of the patients replaced by training patients")


def test_the_20_percent_copier_replaces_a_fifth_of_the_patients_by_whole_training_patients(tmp_path: Path):
    real = bench._database(tmp_path / "real", patients=200, seed=bench.REAL_SEED)
    train, _ = bench._split(real, seed=0)
    fresh = bench._database(tmp_path / "fresh", patients=train.n_subjects, seed=10_000)
    frames = bench._copier(fresh, train, share=bench.COPIES["copies 20%"], seed=0)
    patients = frames["PATIENTS"]["subject_id"].to_list()
    copied = [p for p in patients if p.startswith("t")]
    assert len(patients) == fresh.n_subjects and len(copied) == round(0.2 * fresh.n_subjects)
    # whole records: every admission of a copied patient comes along, keyed to the copy
    kept = {p[1:] for p in copied}
    train_admissions = train.tables["ADMISSIONS"].frame
    expected = train_admissions.filter(train_admissions["subject_id"].cast(str).is_in(list(kept))).height
    admissions = frames["ADMISSIONS"]
    assert admissions.filter(admissions["subject_id"].str.starts_with("t")).height == expected > 0
