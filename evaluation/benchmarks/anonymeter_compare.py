"""Benchmark: synthdata's anonymeter-style risks beside anonymeter's own, on the same data.

    python -m evaluation.benchmarks.anonymeter_compare [--rows 6000] [--venv ~/.cache/synthdata-anonymeter-venv]

anonymeter pins numpy<1.27, which synthdata's stack cannot use, so it runs in a separate virtualenv (created
with ``pip install anonymeter`` on first use) through a subprocess; the test suite never imports it.  Data:
the shipped diabetes_130us slice split by patient into training, holdout ("control") and fresh real rows;
"ori" is a training sample as large as the control set (equal sizes: no size correction on either side).
Three "synthetic" sets as large: fresh real rows (no leak), training rows drawn with replacement (a total
leak; about half of them are in "ori") and each column drawn independently from the training marginals.
Both tools get the same records, 500 multivariate 3-column singling-out predicates, every record attacked
for linkability (the same column halves, 3 neighbours) and inference (the same secret, ``readmitted``, all
other columns known).  Prints one table: attack, risk [95% interval], success rates of the main, control
and baseline attacks and seconds, from each tool.  anonymeter's linkability and inference sample their
targets without a seed, so its last digits move between runs.  Not a test.
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
                ev = SinglingOutEvaluator(ori=ori, syn=syn, control=control, n_attacks=spec["singling_out_attacks"],
                                          n_cols=3, seed=0)
                ev.evaluate(mode="multivariate")
            elif attack == "linkability":
                ev = LinkabilityEvaluator(ori=ori, syn=syn, control=control, n_attacks=spec["attacks"],
                                          aux_cols=tuple(spec["halves"]), n_neighbors=3)
                ev.evaluate(n_jobs=1)
            else:
                ev = InferenceEvaluator(ori=ori, syn=syn, control=control, aux_cols=spec["known"],
                                        secret=spec["secret"], n_attacks=spec["attacks"])
                ev.evaluate(n_jobs=1)
            risk, res = ev.risk(), ev.results()
            out[f"{name}/{attack}"] = {"risk": float(risk.value), "ci": [float(v) for v in risk.ci],
                                       "rates": [float(r.value) for r in (res.attack_rate, res.control_rate, res.baseline_rate)],
                                       "seconds": time.perf_counter() - started}
    from importlib.metadata import version
    out["version"] = version("anonymeter")
    print(json.dumps(out))
''')


def ensure_venv(venv: Path) -> Path:
    """The venv's python, creating the venv and installing anonymeter on first use.

    anonymeter 1.1 installs on Python 3.11 (it brings numpy 1.26 and polars); should the newest release
    not resolve, the last 1.0 release is tried.
    """
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (first use) ...", flush=True)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(python), "-c", "import anonymeter"], capture_output=True, check=False).returncode:
        for requirement in ("anonymeter", "anonymeter==1.0.0"):
            print(f"pip install {requirement} into {venv} ...", flush=True)
            if subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=False).returncode == 0:
                break
        else:
            raise SystemExit("could not install anonymeter into the separate virtualenv")
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "synthdata-anonymeter-venv")
    args = parser.parse_args()

    from evaluation.attack.inference import InferenceAudit
    from evaluation.attack.linkability import LinkabilityAudit
    from evaluation.attack.singling_out import SinglingOutAudit
    from evaluation.base import AuditContext
    from synthdata.modalities.table.schema import NumericColumn, load_schema

    schema = load_schema(DATA / "diabetes_demo.schema.yaml")
    raw = pd.read_csv(DATA / "diabetes_demo.csv", keep_default_na=False, na_values=["?"], dtype=str).head(args.rows)
    columns = schema.modelled_columns
    frame = raw[columns].copy()
    numeric = [c for c in columns if isinstance(schema.columns[c], NumericColumn)]
    for name in numeric:
        frame[name] = pd.to_numeric(frame[name]).astype(np.float64)
    patients = raw[schema.subject].unique()
    np.random.default_rng(20240601).shuffle(patients)
    part = raw[schema.subject].map(pd.Series(np.arange(len(patients)) % 5, index=patients)).to_numpy()
    train, control, fresh = (frame[m].reset_index(drop=True) for m in (part <= 1, part == 2, part >= 3))
    ori = train.sample(n=len(control), random_state=1).reset_index(drop=True)  # equal sizes for both tools
    synthetic = {"fresh": fresh.sample(n=len(control), random_state=2).reset_index(drop=True),
                 "copies": train.sample(n=len(control), replace=True, random_state=3).reset_index(drop=True),
                 "independent": pd.DataFrame({c: train[c].sample(n=len(control), replace=True, random_state=4 + i)
                                              .to_numpy() for i, c in enumerate(columns)})}
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
                                        "rates": [m.details.get(f"{arm}_success_rate", float("nan"))
                                                  for arm in ("main", "control", "baseline")],
                                        "seconds": time.perf_counter() - started, "note": m.not_informative}

    python = ensure_venv(args.venv)
    with tempfile.TemporaryDirectory(prefix="synthdata-anonymeter-") as tmp:
        for name, data in {"ori": ori, "control": control, **synthetic}.items():
            data.to_csv(Path(tmp) / f"{name}.csv", index=False)
        done = subprocess.run([str(python), "-c", _RUNNER, tmp, json.dumps(spec)], capture_output=True, text=True,
                              check=False)
    if done.returncode != 0:
        raise SystemExit(f"anonymeter failed:\n{done.stderr[-3000:]}")
    theirs = json.loads(done.stdout.strip().splitlines()[-1])

    def fmt(result: dict | None) -> tuple[str, str, str]:
        if not result:
            return "-", "-", "-"
        ci = result.get("ci")
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        rates = "/".join(f"{r:.3f}" for r in result["rates"])
        return f"{result['risk']:.3f}{interval}", rates, f"{result['seconds']:.1f}"

    print(f"\nanonymeter {theirs.pop('version')}; records: ori {len(ori)}, control {len(control)}, synthetic "
          f"{len(control)} each; {len(columns)} columns; rates = success of main / control / baseline attacks")
    print(f"{'synthetic / attack':<24} | {'ours: risk [95% CI]':<24} {'rates':<19} {'s':>4} | "
          f"{'anonymeter: risk [95% CI]':<25} {'rates':<19} {'s':>4}")
    for key, result in ours.items():
        a, b = fmt(result), fmt(theirs.get(key))
        print(f"{key:<24} | {a[0]:<24} {a[1]:<19} {a[2]:>4} | {b[0]:<25} {b[1]:<19} {b[2]:>4}")

if __name__ == "__main__":
    main()
