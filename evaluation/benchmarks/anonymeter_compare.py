"""Benchmark: synthdata's anonymeter-style risks beside anonymeter's own, on the same data.

    python -m evaluation.benchmarks.anonymeter_compare [--rows 6000] [--venv ~/.cache/synthdata-anonymeter-venv]

anonymeter pins numpy<1.27, which synthdata's stack cannot use, so it runs in a separate virtualenv (created
with ``pip install anonymeter`` on first use) through a subprocess.  Data: the shipped diabetes_130us slice
split by patient into training ("ori"), holdout ("control") and fresh real rows; two "synthetic" sets: the
fresh rows (no leak) and a copy of training rows (a total leak).  Both tools get the same records, the same
number of attacks, the same column halves for linkability (3 neighbours) and the same secret for inference.
Prints one table: attack, synthetic set, risk and interval from each tool, seconds.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "synthdata" / "data"
SECRET = "readmitted"

_RUNNER = textwrap.dedent('''
    import json, sys, time
    import pandas as pd
    from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator
    folder, spec = sys.argv[1], json.loads(sys.argv[2])
    read = lambda name: pd.read_csv(f"{folder}/{name}.csv", dtype=spec["dtypes"])
    ori, control = read("ori"), read("control")
    out = {}
    for name in spec["synthetic"]:
        syn = read(name)
        for attack in ("singling_out", "linkability", "inference"):
            started = time.perf_counter()
            if attack == "singling_out":
                ev = SinglingOutEvaluator(ori=ori, syn=syn, control=control, n_attacks=spec["singling_out_attacks"], n_cols=3)
                ev.evaluate(mode="multivariate")
            elif attack == "linkability":
                ev = LinkabilityEvaluator(ori=ori, syn=syn, control=control, n_attacks=spec["attacks"],
                                          aux_cols=tuple(spec["halves"]), n_neighbors=3)
                ev.evaluate(n_jobs=1)
            else:
                ev = InferenceEvaluator(ori=ori, syn=syn, control=control, aux_cols=spec["known"],
                                        secret=spec["secret"], n_attacks=spec["attacks"])
                ev.evaluate(n_jobs=1)
            risk = ev.risk()
            out[f"{name}/{attack}"] = {"risk": float(risk.value), "ci": [float(v) for v in risk.ci],
                                       "seconds": time.perf_counter() - started}
    print(json.dumps(out))
''')


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with anonymeter (first use) ...", flush=True)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "anonymeter"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "synthdata-anonymeter-venv")
    args = parser.parse_args()

    from evaluation.attacks.inference import InferenceAudit
    from evaluation.attacks.linkability import LinkabilityAudit
    from evaluation.attacks.singling_out import SinglingOutAudit
    from evaluation.base import AuditContext
    from synthdata.modalities.table.schema import load_schema

    schema = load_schema(DATA / "diabetes_demo.schema.yaml")
    raw = pd.read_csv(DATA / "diabetes_demo.csv", keep_default_na=False, na_values=["?"], dtype=str).head(args.rows)
    columns = schema.modelled_columns
    frame = raw[columns].copy()
    numeric = [c for c in columns if schema.columns[c].__class__.__name__ == "NumericColumn"]
    for name in numeric:
        frame[name] = pd.to_numeric(frame[name]).astype(np.float64)
    patients = raw[schema.subject].unique()
    np.random.default_rng(20240601).shuffle(patients)
    part = raw[schema.subject].map(pd.Series(np.arange(len(patients)) % 5, index=patients)).to_numpy()
    train, control, fresh = (frame[m].reset_index(drop=True) for m in (part <= 1, part == 2, part >= 3))
    ori = train.sample(n=len(control), random_state=1).reset_index(drop=True)  # equal sizes for both tools
    synthetic = {"fresh": fresh.sample(n=len(control), random_state=2).reset_index(drop=True),
                 "copies": train.sample(n=len(control), replace=True, random_state=3).reset_index(drop=True)}
    half = len(columns) // 2
    spec = {"attacks": len(control), "singling_out_attacks": 500, "halves": [columns[:half], columns[half:]],
            "secret": SECRET, "known": [c for c in columns if c != SECRET], "synthetic": list(synthetic),
            "dtypes": {c: "float64" if c in numeric else "object" for c in columns}}

    ours: dict[str, dict] = {}
    for name, syn in synthetic.items():
        context = AuditContext(modality="table", train=ori, holdout=control, synthetic=syn, schema=schema, target=SECRET)
        for attack, audit in (("singling_out", SinglingOutAudit()), ("linkability", LinkabilityAudit()),
                              ("inference", InferenceAudit())):
            started = time.perf_counter()
            m = audit.measure(context)
            ours[f"{name}/{attack}"] = {"risk": m.value, "ci": list(m.interval) if m.interval else None,
                                        "seconds": time.perf_counter() - started, "note": m.not_informative}

    python = ensure_venv(args.venv)
    with tempfile.TemporaryDirectory(prefix="synthdata-anonymeter-") as tmp:
        for name, data in {"ori": ori, "control": control, **synthetic}.items():
            data.to_csv(Path(tmp) / f"{name}.csv", index=False)
        done = subprocess.run([str(python), "-c", _RUNNER, tmp, json.dumps(spec)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"anonymeter failed:\n{done.stderr[-3000:]}")
    theirs = json.loads(done.stdout.strip().splitlines()[-1])

    def fmt(result: dict | None) -> str:
        if not result:
            return "-"
        ci = result.get("ci")
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        return f"{result['risk']:.3f}{interval} ({result['seconds']:.1f} s)"

    print(f"\nrecords: ori {len(ori)}, control {len(control)}, synthetic {len(control)} each; {len(columns)} columns")
    print(f"{'synthetic / attack':<26} | {'synthdata risk [interval] (time)':<36} | anonymeter risk [ci] (time)")
    for key in ours:
        print(f"{key:<26} | {fmt(ours[key]):<36} | {fmt(theirs.get(key))}")


if __name__ == "__main__":
    main()
