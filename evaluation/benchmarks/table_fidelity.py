"""Benchmark: does the table generator keep the data at epsilon 1, 3 and 10?  Repeated DP releases.

    python -m evaluation.benchmarks.table_fidelity [--epsilons 1 3 10] [--runs 3] [--preset standard]
                                                   [--cache .bench/table_fidelity]

The data: 20,000 encounters of UCI diabetes_130us (``../shared/data/ehr/diabetes_130us``) drawn once with
a fixed seed from the rows that are NOT in the shipped demo slice: the generator's defaults were chosen on
the demo slice, so the benchmark scores data the tuning never read.  Each release keeps its own holdout
(20%), and is private per patient (``patient_nbr``, at most 2 encounters each) with the target
``readmitted``.  Every run draws its DP noise from OS entropy, so runs differ: the table shows, per epsilon,
the median over runs with the range [min, max]:

- SDMetrics quality and column pair trends (``fidelity.quality``), and the representation audit;
- the issue's no-collapse rules, applied literally to the full synthetic and training tables: categories
  holding >= 1% of real training rows whose synthetic share is off by more than a factor 2, numeric columns
  whose standard deviation ratio is outside [0.75, 1.33], synthetic columns constant where the real one
  is not;
- utility: the retained lift of ``utility.tstr``, (AUC_TSTR - 0.5) / (AUC_TRTR - 0.5);
- every privacy gate's verdict (DCR share, near copies, exact copies, membership inference, ...);
- fit time (prepare + DP training), generation rows/s (sampling and calibration), peak RSS after the fit
  and overall (each run in a fresh process);
- an ablation, "marginals alone": the same release's DP column distributions calibrating a model that says
  nothing (every output 0), scored the same way (fidelity and utility only).  Where it matches the full
  generator, the DP-SGD model added nothing measurable at that epsilon.

Runs are cached one JSON file each under ``--cache``: a killed benchmark resumes.  Not a test: nothing
here asserts.  Privacy: the data are public (CC BY 4.0); the cache holds aggregates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

from evaluation.benchmarks.gate_calibration import privacy_audits
from evaluation.benchmarks.table import SCHEMA, ZIP

DEMO = Path(__file__).resolve().parents[2] / "synthdata" / "data" / "diabetes_demo.csv"
ROWS = 20_000
SPLIT_SEED = 2026
METRICS = ("fidelity.quality", "fidelity.representation", "utility.tstr")


def benchmark_rows(folder: Path) -> Path:
    """The benchmark's 20,000 rows (fixed seed), none of them in the demo slice; written as CSV."""
    if not ZIP.is_file():
        raise SystemExit(f"{ZIP} not found: this benchmark needs ../shared/data beside the checkout")
    with zipfile.ZipFile(ZIP) as archive, archive.open("dataset_diabetes/diabetic_data.csv") as handle:
        full = pd.read_csv(handle, dtype=str, keep_default_na=False)
    tuning = set(pd.read_csv(DEMO, dtype=str, usecols=["encounter_id"])["encounter_id"])
    unseen = full[~full["encounter_id"].isin(tuning)]
    path = folder / "diabetes_benchmark.csv"
    unseen.sample(n=ROWS, random_state=SPLIT_SEED).to_csv(path, index=False)
    return path


def collapse_rules(real: pd.DataFrame, synthetic: pd.DataFrame, schema) -> dict:
    """The issue's no-collapse rules, literally (no sampling-error allowance): counts of what breaks them."""
    from synthdata.modalities.table.schema import CategoricalColumn

    shares_off, spreads_off, constant, checked = [], [], [], 0
    for name in schema.modelled_columns:
        real_col, fake_col = real[name], synthetic[name]
        if isinstance(schema.columns[name], CategoricalColumn):
            real_share = real_col.astype(object).fillna("(missing)").value_counts(normalize=True)
            fake_share = synthetic[name].astype(object).fillna("(missing)").value_counts(normalize=True)
            for category, share in real_share[real_share >= 0.01].items():
                checked += 1
                ratio = fake_share.get(category, 0.0) / share
                if not 0.5 <= ratio <= 2.0:
                    shares_off.append(f"{name}={category} ({share:.1%} -> {fake_share.get(category, 0.0):.1%})")
        else:
            real_sd, fake_sd = float(pd.to_numeric(real_col).std()), float(pd.to_numeric(fake_col).std())
            if real_sd > 0:
                checked += 1
                if not 0.75 <= fake_sd / real_sd <= 1.33:
                    spreads_off.append(f"{name} ({fake_sd / real_sd:.2f})")
        if fake_col.nunique(dropna=False) <= 1 < real_col.nunique(dropna=False):
            off_mode = 1.0 - real_col.astype(object).fillna("(missing)").value_counts(normalize=True).iloc[0]
            constant.append(f"{name} ({off_mode:.2%} of real rows off its mode)")
    return {"checked": checked, "shares_off": shares_off, "spreads_off": spreads_off, "constant": constant}


def one_run(*, data: Path, epsilon: float, preset: str, work: Path) -> dict:
    os.environ["SYNTHDATA_HOME"] = str(work / "home")
    import polars as pl

    from synthdata import home
    from synthdata.flow import stages
    from synthdata.modalities import get_modality
    from synthdata.privacy.ledger import Ledger
    from synthdata.release_spec import parse_spec
    from synthdata.run_area import RunArea

    spec = parse_spec({
        "name": "table_fidelity",
        "dataset": {"path": str(data), "schema": str(SCHEMA), "target": "readmitted"},
        "privacy": {"epsilon": epsilon, "max_rows_per_subject": 2, "total_epsilon": 1000},
        "model": {"preset": preset},
        "output": {"out": str(work / "release")},
        "seed": int.from_bytes(os.urandom(2), "big"),
    })
    area = RunArea(home.run_dir("bench"))
    ledger = Ledger(path=home.home() / "ledger.sqlite")
    started = time.perf_counter()
    prepared = stages.prepare(spec=spec, area=area, ledger=ledger, run_id="bench")
    training = stages.train(spec=spec, area=area, ledger=ledger, run_id="bench", progress=False)
    fitted = time.perf_counter()
    fit_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process is fresh (``_isolated``)
    synthetic_info = stages.sample(spec=spec, area=area)
    sampled = time.perf_counter()
    modality = get_modality("table")
    codec = modality.read_codec(path=area.prepared / "codec.json")
    frames = {role: modality.audit_frames(data=pl.read_parquet(path), codec=codec) for role, path in (
        ("train", area.prepared / "train.parquet"), ("holdout", area.prepared / "holdout.parquet"),
        ("synthetic", area.synthetic / "synthetic.parquet"))}
    alone = marginals_alone(modality=modality, codec=codec, marginals=json.loads(
        (area.prepared / "marginals.json").read_text()), n=synthetic_info["records"])
    return {
        "epsilon": training["epsilon"], "epsilon_marginals": training["epsilon_marginals"],
        "noise_multiplier": training["noise_multiplier"], "steps": training["steps"],
        "train_records": prepared["train_records"], "synthetic_records": synthetic_info["records"],
        **score(**frames, schema=codec.schema),
        "marginals_alone": score(train=frames["train"], holdout=frames["holdout"], synthetic=alone,
                                 schema=codec.schema, privacy=False),
        "fit_seconds": fitted - started,
        "rows_per_second": synthetic_info["records"] / (sampled - fitted),
        "fit_peak_rss_mib": fit_peak,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "work_area": str(area.root),
    }


def _isolated(**kwargs) -> dict:
    """``one_run`` in a fresh process, so that its peak RSS (after the fit, and overall) is its own."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(one_run, kwds=kwargs)


def marginals_alone(*, modality, codec, marginals: dict, n: int) -> pd.DataFrame:
    """The ablation: ``n`` rows of a model that outputs 0 everywhere, calibrated to the release's DP column
    distributions (what the generator would be without its DP-SGD model)."""
    import numpy as np

    array = modality.calibrate(codec=codec, array=np.zeros((n, codec.width)), marginals=marginals,
                               rng=np.random.default_rng())
    return modality.audit_frames(data=modality.decode(codec=codec, array=array), codec=codec)


def score(*, train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, schema,
          privacy: bool = True) -> dict:
    """The benchmark's figures for one synthetic table (any generator's) against the release's split;
    ``privacy=False`` leaves the privacy audits out."""
    from evaluation.base import AuditContext, AuditSettings
    from evaluation.gate import run_audits

    context = AuditContext(modality="table", train=train, holdout=holdout, synthetic=synthetic, schema=schema,
                           target="readmitted", settings=AuditSettings(seed=0))
    audits = privacy_audits() if privacy else ()
    results = {r.name: r for r in run_audits(context=context, names=[*METRICS, *audits])}
    quality = results["fidelity.quality"]
    return {
        "quality": quality.value, "pair_trends": quality.details.get("column_pair_trends"),
        "column_shapes": quality.details.get("column_shapes"),
        "representation": results["fidelity.representation"].value,
        "utility_lift": results["utility.tstr"].value,
        "rules": collapse_rules(train, synthetic, schema),
        "privacy": {name: {"value": results[name].value, "passed": results[name].passed} for name in audits},
    }


def median_range(values: list[float], fmt: str = "{:.3f}") -> str:
    """``median [min, max]`` of the values that are not None (``-`` when none are)."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    middle = statistics.median(values)
    return f"{fmt.format(middle)} [{fmt.format(min(values))}, {fmt.format(max(values))}]"


def table(records: list[dict]) -> str:
    lines = [("| epsilon | runs | quality | pair trends | representation | categories off (>=1%) | spreads off | "
             "constant columns | utility lift | privacy gates failed | fit s | rows/s | fit peak RSS MiB | peak RSS MiB |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for epsilon in sorted({r["target_epsilon"] for r in records}):
        done = [r for r in records if r["target_epsilon"] == epsilon]
        failed = [sum(p["passed"] is False for p in r["privacy"].values()) for r in done]
        lines.append(
            f"| {epsilon:g} | {len(done)} | {median_range([r['quality'] for r in done])} | "
            f"{median_range([r['pair_trends'] for r in done])} | {median_range([r['representation'] for r in done])} | "
            f"{median_range([len(r['rules']['shares_off']) for r in done], '{:.0f}')} of "
            f"{done[0]['rules']['checked']} checks | {median_range([len(r['rules']['spreads_off']) for r in done], '{:.0f}')} | "
            f"{median_range([len(r['rules']['constant']) for r in done], '{:.0f}')} | "
            f"{median_range([r['utility_lift'] for r in done])} | {median_range(failed, '{:.0f}')} | "
            f"{median_range([r['fit_seconds'] for r in done], '{:.0f}')} | "
            f"{median_range([r['rows_per_second'] for r in done], '{:.0f}')} | "
            f"{median_range([r.get('fit_peak_rss_mib') for r in done], '{:.0f}')} | "
            f"{median_range([r['peak_rss_mib'] for r in done], '{:.0f}')} |")
    return "\n".join(lines)


def ablation_table(records: list[dict]) -> str:
    """Per epsilon, the full generator beside its DP column distributions alone (``marginals_alone``)."""
    lines = ["| epsilon | arm | quality | pair trends | representation | categories off | utility lift |",
             "|---|---|---|---|---|---|---|"]
    for epsilon in sorted({r["target_epsilon"] for r in records}):
        done = [r for r in records if r["target_epsilon"] == epsilon and "marginals_alone" in r]
        for arm, figures in (("full generator", done), ("marginals alone", [r["marginals_alone"] for r in done])):
            if figures:
                lines.append(
                    f"| {epsilon:g} | {arm} | {median_range([f['quality'] for f in figures])} | "
                    f"{median_range([f['pair_trends'] for f in figures])} | "
                    f"{median_range([f['representation'] for f in figures])} | "
                    f"{median_range([len(f['rules']['shares_off']) for f in figures], '{:.0f}')} | "
                    f"{median_range([f['utility_lift'] for f in figures])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preset", default="standard", choices=["fast", "standard"])
    parser.add_argument("--cache", type=Path, default=Path(".bench/table_fidelity"))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory(prefix="synthdata-fidelity-") as tmp:
        data = benchmark_rows(Path(tmp))
        for epsilon in args.epsilons:
            for run in range(args.runs):
                path = args.cache / f"{args.preset}-eps{epsilon:g}-run{run}.json"
                if not path.is_file():
                    record = {"target_epsilon": epsilon, "preset": args.preset,
                              **_isolated(data=data, epsilon=epsilon, preset=args.preset, work=Path(tmp) / f"{epsilon:g}-{run}")}
                    path.write_text(json.dumps(record, default=float))
                    print(f"epsilon {epsilon:g} run {run + 1}/{args.runs}: quality {record['quality']:.3f}, pair trends "
                          f"{record['pair_trends']}, utility lift {record['utility_lift']}, "
                          f"{len(record['rules']['shares_off'])} categories off", flush=True)
                records.append(json.loads(path.read_text()))
    print()
    print(f"diabetes_130us, {ROWS:,} rows (not the demo slice), preset {args.preset}; median [min, max] over runs")
    print(table(records))
    print("\nWhat the DP-SGD model adds: the same releases' DP column distributions alone (a model that says nothing)")
    print(ablation_table(records))
    for epsilon in args.epsilons:
        lost = sorted({item for r in records if r["target_epsilon"] == epsilon for item in r["rules"]["shares_off"]})
        if lost:
            print(f"\nepsilon {epsilon:g}: categories off in some run: {'; '.join(lost[:20])}")
        flat = sorted({item for r in records if r["target_epsilon"] == epsilon for item in r["rules"]["constant"]})
        if flat:
            print(f"epsilon {epsilon:g}: constant in some run: {'; '.join(flat)}")


if __name__ == "__main__":
    main()
