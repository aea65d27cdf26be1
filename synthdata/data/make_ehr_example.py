"""Make the small relational example shipped with synthdata (run from the repository root).

    .venv/bin/python synthdata/data/make_ehr_example.py [--out synthdata/data/ehr_example]

Three tables of an invented hospital, drawn from fixed distributions with a fixed seed: no record comes from
a real person, so the folder is public and tests and demos can use it without ``../shared``.  The schema is
``synthdata/data/ehr_example.schema.yaml``.

* ``patients.csv``: 1,000 patients, ``group`` X or Y and ``age``;
* ``admissions.csv``: 0 to 3 admissions per patient (a tenth of them never admitted); an admission's ``kind``
  is A with probability 0.9 for a group-X patient and 0.1 for a group-Y one (the planted patient -> admission
  dependency), ``los`` its length of stay in days;
* ``diagnoses.csv``: 1 to 4 codes per admission, c1 after most A admissions and c3 after most B ones (with
  probability 0.85; otherwise any code: the planted admission -> diagnosis dependency);
* plus orphans, as real extracts have: 4 admissions (with 7 diagnoses) of patients absent from
  ``patients.csv`` and 3 diagnoses of admissions absent from ``admissions.csv``, which loading drops.

The same seed always writes the same bytes (``tests/unit/modalities/relational/test_relational_generator.py`` checks it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
PATIENTS, SEED = 1000, 3
#: P(admission kind = "A" | patient group): the planted patient -> admission dependency.
P_KIND_A = {"X": 0.9, "Y": 0.1}
#: The diagnosis code an admission of each kind mostly gets (with probability P_CODE), else any code.
CODE_OF_KIND = {"A": "c1", "B": "c3"}
P_CODE = 0.85


def write_ehr(folder: Path, *, patients: int = PATIENTS, seed: int = SEED, orphans: bool = True) -> Path:
    """The three tables as CSV in ``folder``, keys in MIMIC's style (large integers), dependencies planted."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    subject_ids = np.array([str(10_000 + i) for i in range(patients)])
    group = rng.choice(["X", "Y"], patients)
    age = rng.uniform(20, 90, patients).round(1)
    n_adm = rng.choice([0, 1, 2, 3], size=patients, p=[0.1, 0.45, 0.27, 0.18])
    owner = np.repeat(np.arange(patients), n_adm)
    kind = np.where(rng.random(owner.size) < np.vectorize(P_KIND_A.get)(group[owner]), "A", "B")
    hadm_ids = np.array([str(100_000 + i) for i in range(owner.size)])
    admission_subject = subject_ids[owner]
    los = rng.uniform(0, 30, owner.size).round(2)
    n_dx = rng.choice([1, 2, 3, 4], size=owner.size, p=[0.2, 0.3, 0.3, 0.2])
    adm = np.repeat(np.arange(owner.size), n_dx)
    planted = np.vectorize(CODE_OF_KIND.get)(kind[adm])
    other = rng.choice(["c1", "c2", "c3"], adm.size)
    code = np.where(rng.random(adm.size) < P_CODE, planted, other)
    diagnoses = pl.DataFrame({"row_id": [str(900_000 + i) for i in range(adm.size)],
                              "subject_id": admission_subject[adm], "hadm_id": hadm_ids[adm], "code": code})
    admissions = pl.DataFrame({"hadm_id": hadm_ids, "subject_id": admission_subject, "kind": kind, "los": los})
    if orphans:
        absent = [str(20_000 + i) for i in range(4)]  # patients not in patients.csv
        orphan_adm = pl.DataFrame({"hadm_id": [str(190_000 + i) for i in range(4)], "subject_id": absent,
                                   "kind": ["A", "B", "A", "B"], "los": [1.5, 2.0, 7.25, 3.0]})
        orphan_dx = pl.DataFrame({
            "row_id": [str(990_000 + i) for i in range(10)],
            "subject_id": [*np.repeat(absent, [2, 2, 2, 1]).tolist(), *subject_ids[:3].tolist()],
            "hadm_id": [*np.repeat(orphan_adm["hadm_id"].to_list(), [2, 2, 2, 1]).tolist(),
                        *[str(199_000 + i) for i in range(3)]],  # the last 3: admissions not in admissions.csv
            "code": ["c1", "c2", "c3", "c1", "c2", "c3", "c1", "c2", "c3", "c1"]})
        admissions = pl.concat([admissions, orphan_adm])
        diagnoses = pl.concat([diagnoses, orphan_dx])
    pl.DataFrame({"subject_id": subject_ids, "group": group, "age": age}).write_csv(folder / "patients.csv")
    admissions.write_csv(folder / "admissions.csv")
    diagnoses.write_csv(folder / "diagnoses.csv")
    return folder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "ehr_example")
    write_ehr(parser.parse_args().out)
