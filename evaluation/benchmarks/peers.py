"""Benchmark: synthdata beside MST, AIM, DP-CTGAN and SDV's GaussianCopula on the same split, same metrics.

    make bench-peers        # creates .venv-peers, then runs this
    python -m evaluation.benchmarks.peers [--epsilons 1 10] [--methods mst aim dpctgan gaussiancopula]
                                          [--cap 1200] [--peer-rows N] [--peers-python .venv-peers/bin/python]

Per epsilon, one synthdata release of the fidelity benchmark's 20,000 diabetes rows (not the demo slice;
``evaluation.benchmarks.table_fidelity``) fixes the split: its training rows (patients capped at 2
encounters) go to every peer, and every synthetic table is scored against the same training and holdout
rows by ``table_fidelity.score`` (SDMetrics quality and pair trends, representation, the literal
no-collapse rules, TSTR lift, every privacy gate).  Peers run in ``.venv-peers`` (their pins conflict with
ours) through ``peer_runner.py``, each under a wall-clock cap (``--cap`` seconds): a peer that does not
finish is reported as such.  Their fit time and peak RSS are their own process's.

Where the comparison favours the peers: they read category lists from the training data (smartnoise's
label encoding, SDV's metadata) without spending epsilon, where synthdata learns undeclared ones with DP;
they are not private per patient (a patient's 2 rows are 2 records to them: half the noise synthdata
needs).  Where it favours synthdata: nothing it knows.  GaussianCopula is not private at all (the ceiling
a non-private classical model reaches).  Results are cached under ``--cache``; ``results.md`` and one plot
per metric (vs epsilon, per method) are written there.  Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.benchmarks.table_fidelity import benchmark_rows, one_run, score

RUNNER = Path(__file__).with_name("peer_runner.py")
PRIVATE = {"mst": True, "aim": True, "dpctgan": True, "gaussiancopula": False, "synthdata": True}


def _columns(schema) -> dict:
    from synthdata.modalities.table.schema import CategoricalColumn, NumericColumn

    out = {}
    for name in schema.modelled_columns:
        column = schema.columns[name]
        if isinstance(column, CategoricalColumn):
            out[name] = {"type": "categorical"}
        elif isinstance(column, NumericColumn):
            out[name] = {"type": "numeric", "min": column.min, "max": column.max, "integer": column.integer}
        else:
            raise SystemExit(f"column {name}: only categorical and numeric columns are benchmarked")
    return out


def _typed(path: Path, columns: dict) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    for name, spec in columns.items():
        if spec["type"] == "numeric":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(np.float64)
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame[list(columns)]


def run_peer(*, method: str, epsilon: float, split: dict, work: Path, python: str, cap: float,
             rows: int | None = None) -> dict:
    """One peer on the split's training rows (or a random ``rows`` of them), scored on the whole split."""
    out = work / f"{method}-{epsilon:g}.csv"
    train_csv = split["train_csv"]
    if rows is not None and rows < len(split["train"]):
        train_csv = work / f"train-{rows}.csv"
        split["train"].sample(n=rows, random_state=0).to_csv(train_csv, index=False)
    command = [python, "-P", str(RUNNER), "--method", method, "--epsilon", str(epsilon), "--train", str(train_csv),
               "--columns", str(split["columns_json"]), "--rows", str(len(split["train"])), "--out", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=cap, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"did not finish in {cap:.0f} s"}
    if done.returncode != 0:
        return {"status": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:200]}
    costs = json.loads(done.stdout.strip().splitlines()[-1])
    synthetic = _typed(out, json.loads(Path(split["columns_json"]).read_text()))
    return {"status": "done", "peer_train_rows": min(rows or len(split["train"]), len(split["train"])), **costs,
            "rows_per_second": len(synthetic) / max(costs["sample_seconds"], 1e-9),
            **score(train=split["train"], holdout=split["holdout"], synthetic=synthetic, schema=split["schema"])}


def _split(record: dict, work: Path) -> dict:
    import polars as pl

    from synthdata.modalities import get_modality

    area = Path(record["work_area"])
    modality = get_modality("table")
    codec = modality.read_codec(path=area / "prepared" / "codec.json")
    frames = {role: modality.audit_frames(data=pl.read_parquet(area / "prepared" / f"{role}.parquet"), codec=codec)
              for role in ("train", "holdout")}
    columns = _columns(codec.schema)
    train_csv, columns_json = work / "train.csv", work / "columns.json"
    frames["train"].to_csv(train_csv, index=False)
    columns_json.write_text(json.dumps(columns))
    return {**frames, "schema": codec.schema, "train_csv": train_csv, "columns_json": columns_json}


def results_table(records: list[dict]) -> str:
    lines = ["| method | private | epsilon | status | quality | pair trends | representation | categories off | "
             "spreads off | constant | utility lift | privacy gates failed | fit s | rows/s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r["epsilon_target"], r["method"])):
        if r.get("status", "done") != "done":
            lines.append(f"| {r['method']} | {PRIVATE[r['method']]} | {r['epsilon_target']:g} | {r['status']} |"
                         + " |" * 11)
            continue
        failed = sum(p["passed"] is False for p in r["privacy"].values())
        status = f"done on {r['peer_train_rows']:,} rows" if r.get("peer_train_rows") else "done"
        lines.append(
            f"| {r['method']} | {PRIVATE[r['method']]} | {r['epsilon_target']:g} | {status} | {r['quality']:.3f} | "
            f"{r['pair_trends']:.3f} | {r['representation']:.3f} | {len(r['rules']['shares_off'])} of "
            f"{r['rules']['checked']} | {len(r['rules']['spreads_off'])} | {len(r['rules']['constant'])} | "
            f"{r['utility_lift']:.3f} | {failed} | {r['fit_seconds']:.0f} | {r['rows_per_second']:.0f} | "
            f"{r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def plots(records: list[dict], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in records if r.get("status", "done") == "done"]
    for metric in ("quality", "pair_trends", "representation", "utility_lift"):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for method in sorted({r["method"] for r in done}):
            points = sorted((r["epsilon_target"], r[metric]) for r in done if r["method"] == method)
            ax.plot(*zip(*points), marker="o", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("epsilon")
        ax.set_ylabel(metric.replace("_", " "))
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / f"{metric}.png", dpi=120)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--methods", nargs="+", default=["mst", "aim", "dpctgan", "gaussiancopula"])
    parser.add_argument("--cap", type=float, default=1200.0, help="seconds each peer may run")
    parser.add_argument("--preset", default="standard", choices=["fast", "standard"])
    parser.add_argument("--peers-python", default=".venv-peers/bin/python")
    parser.add_argument("--cache", type=Path, default=Path(".bench/peers"))
    parser.add_argument("--peer-rows", type=int, default=None,
                        help="give each peer a random slice of this many training rows (for peers that do not finish "
                             "on all of them); they still generate, and are scored on, the whole split")
    args = parser.parse_args()
    if not Path(args.peers_python).is_file():
        raise SystemExit(f"{args.peers_python} not found: `make bench-peers` creates .venv-peers")
    args.cache.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory(prefix="synthdata-peers-") as tmp:
        work = Path(tmp)
        data = benchmark_rows(work)
        for epsilon in args.epsilons:
            plan = ["synthdata", *(m for m in args.methods if not (m == "gaussiancopula" and epsilon != args.epsilons[0]))]
            if all((args.cache / f"{m}-eps{epsilon:g}.json").is_file() for m in plan):
                records += [json.loads((args.cache / f"{m}-eps{epsilon:g}.json").read_text()) for m in plan]
                continue
            ours = one_run(data=data, epsilon=epsilon, preset=args.preset, work=work / f"synthdata-{epsilon:g}")
            split = _split(ours, work)
            for method in plan:
                path = args.cache / f"{method}-eps{epsilon:g}.json"
                if method == "synthdata":
                    record = {**ours, "status": "done"}
                elif path.is_file():
                    records.append(json.loads(path.read_text()))
                    continue
                else:
                    print(f"epsilon {epsilon:g}: {method} ...", flush=True)
                    record = run_peer(method=method, epsilon=epsilon, split=split, work=work,
                                      python=args.peers_python, cap=args.cap, rows=args.peer_rows)
                record = {**record, "method": method, "epsilon_target": epsilon}
                path.write_text(json.dumps(record, default=float))
                records.append(record)
                print(f"epsilon {epsilon:g}: {method}: {record.get('status')}"
                      + (f", quality {record['quality']:.3f}, pair trends {record['pair_trends']:.3f}, utility lift "
                         f"{record['utility_lift']:.3f}" if record.get("status") == "done" else ""), flush=True)
    text = ("diabetes_130us, 20,000 rows (not the demo slice), the same training/holdout split for every method "
            "at each epsilon; one run each\n\n" + results_table(records))
    (args.cache / "results.md").write_text(text + "\n", encoding="utf-8")
    plots(records, args.cache)
    print(text)
    print(f"\nwritten: {args.cache / 'results.md'} and one plot per metric in {args.cache}", file=sys.stderr)


if __name__ == "__main__":
    main()
