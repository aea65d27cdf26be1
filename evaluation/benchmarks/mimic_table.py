"""Benchmark: a second real table, MIMIC-III ADMISSIONS (demo subset), released as a steward would.

    python -m evaluation.benchmarks.mimic_table [--epsilons 1 3 10] [--runs 3] [--cache .bench/mimic_table]

Reads ``../shared/data/ehr/mimic3_demo_subset_iso/ADMISSIONS.csv`` (MIMIC-III Clinical Database Demo v1.4,
ODbL 1.0; 85 admissions of 67 patients).  The table is released as it is, one row per admission, private
per patient (``subject_id``, at most 3 admissions each), with the length of stay in days derived from the
admission and discharge times (MIMIC shifts each patient's dates into the 2100s, so the absolute dates are
not modelled) and the target ``hospital_expire_flag``.  The schema declares public bounds and lets the
categories be discovered with DP, as a steward without a public code list would.

Each run is ``synthdata release --config <spec>`` in a fresh home (the CLI, its exit code and the audit
record it writes), its DP noise from OS entropy.  The table shows, per epsilon, how the runs ended and the
median [min, max] of the figures the audits measured.  This is the issue's check that the release works on
a second real table: 67 patients are very few for DP (a holdout of about 13 patients), so most privacy gates
cannot be judged and fidelity is low; the figures say how low.  Not a test: nothing here asserts.  Privacy:
public data; the cache holds audit figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from evaluation.benchmarks.table_fidelity import median_range

MIMIC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ehr" / "mimic3_demo_subset_iso"
CATEGORICAL = ("admission_type", "admission_location", "discharge_location", "insurance", "religion",
               "marital_status", "ethnicity")
FIGURES = ("fidelity.quality", "fidelity.representation", "utility.tstr", "memorization.dcr_share",
           "memorization.near_copies", "attack.membership_inference")


def admissions(folder: Path) -> tuple[Path, Path]:
    """ADMISSIONS with the length of stay in days, and its schema (public bounds, categories discovered)."""
    source = MIMIC / "ADMISSIONS.csv"
    if not source.is_file():
        raise SystemExit(f"{source} not found: this benchmark needs ../shared/data beside the checkout")
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    stay = pd.to_datetime(frame["dischtime"]) - pd.to_datetime(frame["admittime"])
    table = frame[["subject_id", "hadm_id", *CATEGORICAL, "hospital_expire_flag"]].copy()
    table.insert(2, "los_days", (stay.dt.total_seconds() / 86_400).round(2).astype(str))
    data = folder / "admissions.csv"
    table.to_csv(data, index=False)
    schema = {
        "subject": "subject_id",
        "missing_values": [""],
        "columns": {
            "subject_id": {"type": "identifier"}, "hadm_id": {"type": "identifier"},
            # Public plausibility bounds for a hospital stay, not the data's range.
            "los_days": {"type": "numeric", "min": 0, "max": 120},
            **{name: {"type": "categorical", "nullable": True, "categories": "discover"} for name in CATEGORICAL},
            "hospital_expire_flag": {"type": "categorical", "categories": ["0", "1"]},
        },
    }
    schema_path = folder / "admissions.schema.yaml"
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False))
    return data, schema_path


def one_run(*, data: Path, schema: Path, epsilon: float, home: Path) -> dict:
    """``synthdata release`` in a fresh home: exit code, wall time and the audit figures."""
    spec = {"name": "mimic_admissions",
            "dataset": {"path": str(data), "modality": "table", "schema": str(schema),
                        "target": "hospital_expire_flag", "licence": "ODbL 1.0"},
            "privacy": {"epsilon": epsilon, "max_rows_per_subject": 3, "total_epsilon": 1000},
            "model": {"preset": "standard"},
            "output": {"out": str(home / "release")}}
    home.mkdir(parents=True)
    spec_path = home / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "synthdata.cli", "release", "--config", str(spec_path), "--quiet"],
                          env={**os.environ, "SYNTHDATA_HOME": str(home)}, capture_output=True, text=True)
    records = sorted(home.glob("runs/*/synthetic/audit.json"))
    audits = json.loads(records[-1].read_text())["audits"] if records else []
    return {"exit": done.returncode, "seconds": round(time.perf_counter() - started, 1),
            "error": (next((line for line in done.stderr.splitlines() if line.startswith("error")),
                           done.stderr.strip()[-300:]) if done.returncode not in (0, 3) else None),
            "audits": {a["name"]: {"value": a["value"], "passed": a["passed"], "category": a["category"],
                                   "details": {k: a["details"].get(k) for k in ("column_pair_trends",)
                                               if k in (a.get("details") or {})}} for a in audits}}


def table(records: list[dict]) -> str:
    lines = ["| epsilon | runs | released / blocked / error | quality | pair trends | representation | TSTR lift | "
             "gates failed | privacy gates not judged | s per release |", "|---|---|---|---|---|---|---|---|---|---|"]
    for epsilon in sorted({r["epsilon"] for r in records}):
        done = [r for r in records if r["epsilon"] == epsilon]
        value = lambda name: [r["audits"].get(name, {}).get("value") for r in done]  # noqa: E731
        failed = sorted({n for r in done for n, a in r["audits"].items() if a["passed"] is False})
        unjudged = sorted({n for r in done for n, a in r["audits"].items() if a["passed"] is None
                           and a["category"] in ("memorization", "attack") and a["value"] is not None})
        lines.append(
            f"| {epsilon:g} | {len(done)} | {sum(r['exit'] == 0 for r in done)} / {sum(r['exit'] == 3 for r in done)} / "
            f"{sum(r['exit'] not in (0, 3) for r in done)} | {median_range(value('fidelity.quality'))} | "
            f"{median_range([r['audits'].get('fidelity.quality', {}).get('details', {}).get('column_pair_trends') for r in done])} | "
            f"{median_range(value('fidelity.representation'))} | {median_range(value('utility.tstr'))} | "
            f"{', '.join(failed) or 'none'} | {', '.join(unjudged) or 'none'} | "
            f"{statistics.median(r['seconds'] for r in done):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(".bench/mimic_table"))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory(prefix="synthdata-mimic-") as tmp:
        data, schema = admissions(Path(tmp))
        for epsilon in args.epsilons:
            for run in range(args.runs):
                path = args.cache / f"eps{epsilon:g}-run{run}.json"
                if not path.is_file():
                    home = Path(tmp) / f"home-{epsilon:g}-{run}"
                    record = {"epsilon": epsilon, **one_run(data=data, schema=schema, epsilon=epsilon, home=home)}
                    shutil.rmtree(home, ignore_errors=True)  # private splits: only the figures are kept
                    path.write_text(json.dumps(record, default=float))
                    print(f"epsilon {epsilon:g} run {run + 1}/{args.runs}: exit {record['exit']} in "
                          f"{record['seconds']} s" + (f" ({record['error']})" if record["error"] else ""), flush=True)
                records.append(json.loads(path.read_text()))
    print()
    print("MIMIC-III demo ADMISSIONS (85 admissions, 67 patients), private per patient; median [min, max] over runs")
    print(table(records))


if __name__ == "__main__":
    main()
