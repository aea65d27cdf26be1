"""Helpers shared by the tests (importable as `helpers`: pytest's pythonpath includes tests/)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent.parent / "synthdata" / "data"
TINY_COLUMNS = ["encounter_id", "patient_nbr", "race", "gender", "age", "time_in_hospital",
                "num_lab_procedures", "num_medications", "number_inpatient", "A1Cresult", "insulin",
                "diabetesMed", "readmitted"]


def tiny_schema() -> dict:
    full = yaml.safe_load((DATA / "diabetes_demo.schema.yaml").read_text())
    return {"subject": "patient_nbr", "missing_values": ["?"],
            "columns": {name: full["columns"][name] for name in TINY_COLUMNS}}


def tiny_types_schema(*, ranges: bool = True) -> dict:
    """The tiny schema with its domains left to DP discovery, only the (public) column types declared: every
    category list, and with ``ranges`` every numeric range too."""
    schema = tiny_schema()
    for column in schema["columns"].values():
        if ranges:
            column.pop("min", None), column.pop("max", None)
        if column["type"] == "categorical":
            column["categories"] = "discover"
    return schema


def tiny_spec_dict(data: Path, schema: Path | None, out: Path, **privacy) -> dict:
    return {
        "name": "tiny",
        "dataset": {"path": str(data), "schema": str(schema) if schema else None, "target": "readmitted"},
        "privacy": {"epsilon": 4.0, **privacy},
        "model": {"preset": "fast", "epochs": 2, "batch_size": 64, "hidden": 32, "depth": 1, "sample_steps": 10,
                  "timesteps": 100},
        # A 600-row table trained for seconds: the gates are loosened so these tests check the mechanics
        # (the audit suite's own tests check that the default gates catch copies and bad fidelity). A model
        # trained for 16 steps samples near one mode, so its DCR share against ~120 holdout rows swings
        # between 0.4 and 0.9 from run to run: its gate is opened too, and so are the attack and near-copy
        # gates, whose intervals on ~60 attacks per side are too wide to judge. The TSTR lift ratio is unbounded
        # below when the real-data model barely beats chance (120 holdout rows): its gate is off too.
        "audits": {"max_rows": 300, "gates": {"fidelity.quality": 0.1, "fidelity.representation": 0.0,
                                              "memorization.dcr_share": 1.0, "utility.tstr": -100.0,
                                              "memorization.near_copies": 1.0, "attack.membership_inference": 1.0,
                                              "attack.singling_out": 1.0, "attack.linkability": 1.0,
                                              "attack.inference": 1.0}},
        "output": {"out": str(out)},
        "seed": 7,
    }


_RESERVER = """
import json, sys, time
from synthdata.errors import BudgetRefusedError
from synthdata.privacy.ledger import Ledger
url, run_id, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
ledger = Ledger(url=url)
while time.time() < start:
    time.sleep(0.001)
try:
    ledger.reserve(fingerprint="shared", name="d.csv", run_id=run_id, release="r", epsilon=2.0, delta=1e-6,
                   total_epsilon=7.0)
    print(json.dumps({"run": run_id, "ok": True}))
except BudgetRefusedError:
    print(json.dumps({"run": run_id, "ok": False}))
"""


def ledger_race(url: str, processes: int) -> list[dict]:
    """Start ``processes`` real processes that each reserve 2.0 of a 7.0 budget at the same instant."""
    from synthdata.privacy.ledger import Ledger

    Ledger(url=url)  # create the schema first, so the race is about the budget only
    start = time.time() + 3.0  # every process has imported and connected by then
    procs = [subprocess.Popen([sys.executable, "-c", _RESERVER, url, f"run{i}", str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(processes)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    return outcomes


# Gates opened for mechanics tests on tiny signal data (a few dozen windows, a model trained for a few
# steps): the audits' own tests check that the default gates catch copies and poor fidelity.
OPEN_GATES = {"memorization.dcr_share": 1.0, "utility.tstr": -1e6, "memorization.near_copies": 1.0,
              "attack.membership_inference": 1.0}
IMAGE_OPEN_GATES = {**OPEN_GATES, "attack.membership_inference_features": 1.0, "memorization.image_ssim": 1.0}


def tiny_signal_spec_dict(kind: str, out: Path, **signal) -> dict:
    """A release of the shipped ECG beats (record 100) or EEG windows (S001R01/R02), cut small and trained
    for two DP-SGD epochs with a tiny U-Net: seconds on a CPU."""
    if kind == "ecg":
        dataset = {"path": str(DATA / "ecg" / "100"), "modality": "ecg", "signal": {
            "sample_rate": 90, "amplitude": [-2.5, 2.5], "segment": "beats", "labels": {"N": "normal", "A": "sv"},
            **signal}}
    else:
        dataset = {"path": str(DATA / "eeg"), "modality": "eeg", "signal": {
            "sample_rate": 40, "amplitude": [-150, 150], "channels": ["O1", "O2"], "window_seconds": 2,
            "step_seconds": 1, "label_table": str(DATA / "eeg" / "labels.csv"),
            "classes": ["eyes_open", "eyes_closed"], "class_proportions": {"eyes_open": 1, "eyes_closed": 1},
            "privacy_unit": "window", **signal}}
    return {
        "name": f"tiny_{kind}",
        "dataset": dataset,
        "privacy": {"epsilon": 8.0},
        "model": {"preset": "fast", "epochs": 2, "batch_size": 32, "unet_base": 8, "sample_steps": 5,
                  "timesteps": 50},
        "audits": {"max_rows": 200, "holdout_fraction": 0.3, "gates": dict(OPEN_GATES)},
        "output": {"out": str(out), "records": 40},
        "seed": 3,
    }


def tiny_image_spec_dict(out: Path, **image) -> dict:
    """A release of the shipped BreastMNIST val + test splits (234 real 28x28 images), trained for two DP-SGD
    epochs with a tiny U-Net."""
    return {
        "name": "tiny_image",
        "dataset": {"path": str(DATA / "imaging" / "breastmnist.npz"), "modality": "image", "image": {
            "size": [28, 28], "channels": 1, "window": [0, 255], "npz_splits": ["val", "test"],
            "classes": ["0", "1"], **image}},
        "privacy": {"epsilon": 8.0},
        "model": {"preset": "fast", "epochs": 2, "batch_size": 32, "unet_base": 8, "sample_steps": 5,
                  "timesteps": 50},
        "audits": {"max_rows": 200, "holdout_fraction": 0.3, "gates": dict(IMAGE_OPEN_GATES)},
        "output": {"out": str(out), "records": 40},
        "seed": 3,
    }


@dataclass(frozen=True)
class PostgresServer:
    """A throwaway PostgreSQL cluster listening on a Unix socket only (``socket_dir``), user ``synthdata``, trust
    authentication."""

    socket_dir: Path
    port: int
    user: str = "synthdata"

    def url(self, database: str = "postgres", *, driver: str = "psycopg") -> str:
        """A SQLAlchemy URL: ``driver`` psycopg (3) for the ledger, psycopg2 for dagster-postgres."""
        scheme = f"postgresql+{driver}"
        return f"{scheme}://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str) -> str:
        """A new empty database on the server; returns its name."""
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name


def postgres_binaries() -> tuple[str, str] | None:
    """``initdb`` and ``pg_ctl`` from PATH or Debian's /usr/lib/postgresql/*/bin, or None."""
    found = [shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
             for name in ("initdb", "pg_ctl")]
    return (found[0], found[1]) if all(found) else None


@contextmanager
def postgres_cluster(initdb: str, pg_ctl: str, *, port: int = 54329) -> Iterator[PostgresServer]:
    """initdb + pg_ctl start in a fresh folder, stopped and deleted afterwards.  PostgreSQL refuses to run as
    root: as root the server runs as ``nobody`` (through runuser)."""
    folder = Path(tempfile.mkdtemp(prefix="synthdata-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="nobody")
        run_as = ["runuser", "-u", "nobody", "--"]
    subprocess.run([*run_as, initdb, "-D", str(folder / "db"), "-A", "trust", "-U", "synthdata"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, pg_ctl, "-D", str(folder / "db"), "-o", f"-k {folder} -h '' -p {port}",
                    "-l", str(folder / "log"), "-w", "start"], check=True, capture_output=True)
    try:
        yield PostgresServer(socket_dir=folder, port=port)
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(folder / "db"), "-m", "immediate", "stop"], check=False,
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
