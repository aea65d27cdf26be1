"""Benchmark: the privacy gates' error rates, measured over repeated draws.

    python -m evaluation.benchmarks.gate_calibration [--modality table|eeg|ecg|image] [--draws 60]
        [--copier-draws 20] [--demo-releases 10] [--cache DIR] [--write-rates]

A gate is a statistical test that decides whether data leaves the hospital, so its two error rates are
measured, not assumed, on the shipped demo table (20,000 real encounters of diabetes_130us; no
``../shared`` needed).  Each draw splits the patients at random into training, holdout and a pool of fresh
patients, and hands the privacy audits (every registered memorization and attack audit, at its default gate)
a "synthetic" table that is:

- ``fresh``: real rows of patients in neither training nor holdout: leaks nothing (false-block rate);
- ``exact 5%``: fresh rows with 5% replaced by training rows (detection rate);
- ``near 10%, one field``: 10% training rows with one count changed by 1;
- ``near 10%, noise``: 10% training rows with every number moved by noise of 1% of its public range.

It prints, per scenario, how often the release was blocked by any privacy gate (family-wise) with the
Clopper-Pearson 95% bound (upper for ``fresh``, lower for the copiers), and how often each gate failed or
could not judge.  Draws are cached one JSON file each under ``--cache`` (default
``.bench/gate_calibration``): a killed run resumes.  The split of sizes follows the demo release: training
and holdout in a 4:1 ratio, as many synthetic rows as the audits read (``max_rows``).  Real DP releases are
run too (``--demo-releases``, default 10: ``synthdata release`` on the demo spec in a fresh home each, as
``make demo`` does, about 4 minutes each), and counted apart: released, blocked, gates not judged.

``--write-rates`` stores the rates in ``evaluation/gate_rates.json``, from which every release report states,
in plain words, how often each privacy gate was wrong here (``evaluation.gate_rates``).

Not a test: nothing here asserts.  Privacy: the data are public (CC BY 4.0); the cache holds audit figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta

DATA = Path(__file__).resolve().parents[2] / "synthdata" / "data"
DEMO_SPEC = DATA / "demo.yaml"
DEMO_SCENARIO = "real DP releases of the demo (epsilon 3)"
SCENARIOS = {"fresh": (0.0, None), "exact 5%": (0.05, "exact"), "near 10%, one field": (0.10, "field"),
             "near 10%, noise": (0.10, "noise")}


def clopper_pearson(successes: int, trials: int, *, upper: bool) -> float:
    """One-sided 95% Clopper-Pearson bound of a rate (upper or lower)."""
    if upper:
        return 1.0 if successes >= trials else float(beta.ppf(0.95, successes + 1, trials - successes))
    return 0.0 if successes <= 0 else float(beta.ppf(0.05, successes, trials - successes + 1))


def load_demo(*, rows: int | None = None) -> tuple[pd.DataFrame, pd.Series, object]:
    """The demo table's modelled columns as the audits read them (its first ``rows``), its patient ids and
    its schema (categories to discover taken from the table itself: it is public data; in a release they are
    learned with DP)."""
    from synthdata.modalities.table.schema import CategoricalColumn, NumericColumn, load_schema

    raw = pd.read_csv(DATA / "diabetes_demo.csv", keep_default_na=False, na_values=["?"], dtype=str)
    raw = raw if rows is None else raw.head(rows)
    schema = load_schema(DATA / "diabetes_demo.schema.yaml")
    columns = {}
    for name, column in schema.columns.items():
        if isinstance(column, CategoricalColumn) and column.needs_discovery:
            column = column.model_copy(update={"categories": sorted(raw[name].dropna().unique().tolist())})
        columns[name] = column
    schema = schema.model_copy(update={"columns": columns})
    frame = raw[schema.modelled_columns].copy()
    for name in schema.modelled_columns:
        if isinstance(schema.columns[name], NumericColumn):
            frame[name] = pd.to_numeric(frame[name]).astype(np.float64)
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame, raw[schema.subject], schema


def draw_sets(frame: pd.DataFrame, patients: pd.Series, *, seed: int, n_synthetic: int
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Training, holdout and fresh rows of disjoint patients (4 : 1 : rest, at most 2 rows per patient), and
    the patients of the training and holdout rows (the audits' ``groups``)."""
    rng = np.random.default_rng(seed)
    ids = patients.unique()
    rng.shuffle(ids)
    part = pd.Series(np.arange(len(ids)) % 10, index=ids)
    where = patients.map(part).to_numpy()
    capped = patients.groupby(patients).cumcount().to_numpy() < 2
    pick = lambda mask: frame[mask & capped].reset_index(drop=True)  # noqa: E731
    train, holdout, fresh = pick(where < 4), pick(where == 4), pick(where >= 5)
    groups = {"train": patients[(where < 4) & capped].to_numpy(), "holdout": patients[(where == 4) & capped].to_numpy()}
    return (train, holdout, fresh.sample(n=min(n_synthetic, len(fresh)), random_state=seed).reset_index(drop=True),
            groups)


def synthetic_for(scenario: str, *, train: pd.DataFrame, fresh: pd.DataFrame, schema, seed: int) -> pd.DataFrame:
    """The scenario's synthetic table: fresh rows with a share of (perturbed) training rows."""
    from synthdata.modalities.table.schema import NumericColumn

    share, kind = SCENARIOS[scenario]
    if kind is None:
        return fresh
    rng = np.random.default_rng([seed, 7])
    k = int(round(share * len(fresh)))
    copied = train.iloc[rng.choice(len(train), size=k, replace=False)].reset_index(drop=True)
    numeric = [n for n in train.columns if isinstance(schema.columns[n], NumericColumn)]
    if kind == "field":
        copied["num_lab_procedures"] = copied["num_lab_procedures"] + rng.choice([-1.0, 1.0], size=k)
    elif kind == "noise":
        for name in numeric:
            low, high = schema.columns[name].min, schema.columns[name].max
            copied[name] = copied[name] + rng.normal(0.0, 0.01 * (high - low), size=k)
    return pd.concat([fresh.iloc[: len(fresh) - k], copied], ignore_index=True)


def privacy_audits(view: type = pd.DataFrame) -> list[str]:
    """Every registered privacy gate a release of this view runs (memorization and attacks; not the canary
    audit, which needs a training run)."""
    from evaluation.registry import AUDITS

    return [name for name, cls in AUDITS.items() if cls.category in ("memorization", "attack")
            and cls.default_threshold is not None and cls.reads(view)]


def run_record_draw(scenario: str, seed: int, *, records, max_rows: int) -> dict:
    """One draw of a signal or image scenario (``evaluation.benchmarks.calibration_sets``)."""
    from evaluation.base import AuditContext, AuditSettings
    from evaluation.benchmarks.calibration_sets import copier, three_way
    from evaluation.gate import run_audits

    train, holdout, fresh, groups = three_way(records, seed=seed)
    share, kind = SCENARIOS[scenario]
    synthetic = copier(kind, share=share, train=train, fresh=fresh, seed=seed)
    context = AuditContext(modality=records.name, train=train, holdout=holdout, synthetic=synthetic,
                           schema=records.schema, settings=AuditSettings(max_rows=max_rows, seed=seed), groups=groups)
    started = time.perf_counter()
    results = run_audits(context=context, names=privacy_audits(type(records.view)))
    return {"scenario": scenario, "seed": seed, "seconds": round(time.perf_counter() - started, 1),
            "sizes": {"train": len(train), "holdout": len(holdout), "synthetic": len(synthetic)},
            "audits": {r.name: {"value": r.value, "interval": r.interval, "passed": r.passed,
                                "note": r.note if r.passed is None else None} for r in results}}


def run_draw(scenario: str, seed: int, *, frame, patients, schema, max_rows: int) -> dict:
    from evaluation.base import AuditContext, AuditSettings
    from evaluation.gate import run_audits

    train, holdout, fresh, groups = draw_sets(frame, patients, seed=seed, n_synthetic=max_rows)
    synthetic = synthetic_for(scenario, train=train, fresh=fresh, schema=schema, seed=seed)
    context = AuditContext(modality="table", train=train, holdout=holdout, synthetic=synthetic, schema=schema,
                           target="readmitted", settings=AuditSettings(max_rows=max_rows, seed=seed), groups=groups)
    started = time.perf_counter()
    results = run_audits(context=context, names=privacy_audits())
    return {"scenario": scenario, "seed": seed, "seconds": round(time.perf_counter() - started, 1),
            "sizes": {"train": len(train), "holdout": len(holdout), "synthetic": len(synthetic)},
            "audits": {r.name: {"value": r.value, "interval": r.interval, "passed": r.passed} for r in results}}


def table(records: list[dict], names: list[str]) -> str:
    """The rate table (markdown): per scenario, family-wise block rate with its bound, and per gate (failed,
    not judged "n.j." with the median smallest value those draws could have caught)."""
    lines = ["| scenario | draws | blocked (any gate) | 95% bound | " + " | ".join(names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]
    for scenario in SCENARIOS:
        done = [r for r in records if r["scenario"] == scenario]
        if not done:
            continue
        blocked = sum(any(a["passed"] is False for a in r["audits"].values()) for r in done)
        clean = scenario == "fresh"
        bound = clopper_pearson(blocked, len(done), upper=clean)
        cells = []
        for name in names:
            failed = sum(r["audits"].get(name, {}).get("passed") is False for r in done)
            unjudged = [r["audits"][name] for r in done if r["audits"].get(name, {}).get("passed", True) is None]
            floors = [float(m.group(1)) for a in unjudged if (m := re.search(r"above about (-?[0-9.]+)", a.get("note") or ""))]
            cells.append(f"{failed} fail" + (f", {len(unjudged)} n.j." if unjudged else "")
                         + (f" (catches ≥ {np.median(floors):.2g})" if floors else ""))
        lines.append(f"| {scenario} | {len(done)} | {blocked} ({blocked / len(done):.0%}) | "
                     f"{'≤' if clean else '≥'} {bound:.0%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


EXAMPLES = {  # modality -> (the shipped example in words, what its records are called)
    "table": ("the shipped demo table (diabetes_130us, split by patient)", "rows"),
    "eeg": ("the shipped EEG example (eegmmidb S001, split into blocks of time)", "windows"),
    "ecg": ("the shipped ECG example (MIT-BIH record 100, split into blocks of time)", "windows"),
    "image": ("the shipped BreastMNIST example (split by image)", "images"),
}
COPIERS = {  # scenario -> its description per kind of record (the report quotes it)
    "exact 5%": {"rows": "5% exact copies of training rows", "windows": "5% exact copies of training windows",
                 "images": "5% exact copies of training images"},
    "near 10%, one field": {"rows": "10% copies of training rows with one count changed by 1",
                            "windows": "10% copies of training windows shifted by 2% of a window, with noise of "
                                       "1% of their spread",
                            "images": "10% copies of training images shifted by one pixel"},
    "near 10%, noise": {"rows": "10% copies of training rows with every number moved by noise of 1% of its range",
                        "windows": "10% copies of training windows with noise of 5% of their spread",
                        "images": "10% copies of training images with noise of sd 0.05 (on the [-1, 1] scale)"},
}


def _floor(audit: dict) -> float | None:
    match = re.search(r"above about (-?[0-9.]+)", audit.get("note") or audit.get("unjudged") or "")
    return float(match.group(1)) if match else None


def scenario_rates(done: list[dict], names: list[str], *, clean: bool, description: str) -> dict:
    """One scenario's entry of ``gate_rates.json``: its draws, how many the gates ``names`` together blocked
    and each gate failed or could not judge, with one-sided 95% bounds (upper for clean data, else lower)."""
    blocked = sum(any(r["audits"].get(name, {}).get("passed") is False for name in names) for r in done)
    gates = {}
    for name in names:
        failed = sum(r["audits"].get(name, {}).get("passed") is False for r in done)
        unjudged = [r["audits"][name] for r in done if r["audits"].get(name, {}).get("passed", True) is None]
        floors = [f for a in unjudged if (f := _floor(a)) is not None]
        gates[name] = {"failed": failed, "unjudged": len(unjudged),
                       "bound": round(clopper_pearson(failed, len(done), upper=clean), 4),
                       "floor": round(float(np.median(floors)), 3) if floors else None,
                       "too_few_units": sum("privacy unit" in (a.get("note") or a.get("unjudged") or "")
                                            for a in unjudged)}
    return {"draws": len(done), "blocked": blocked, "bound": round(clopper_pearson(blocked, len(done), upper=clean), 4),
            "description": description, "gates": gates}


def measured_rates(records: list[dict], names: list[str], *, modality: str, demos: list[dict] = ()) -> dict:
    """What ``evaluation/gate_rates.json`` keeps of one modality's draws (``evaluation.gate_rates`` reads
    it): per scenario, the draws, how many any gate blocked and each gate failed or could not judge, with
    their one-sided 95% bounds."""
    example, word = EXAMPLES[modality]
    fresh = [r for r in records if r["scenario"] == "fresh"]
    scenarios = {}
    for scenario in SCENARIOS:
        done = [r for r in records if r["scenario"] == scenario]
        if done:
            clean = scenario == "fresh"
            scenarios[scenario] = scenario_rates(done, names, clean=clean, description=(
                "real records never seen" if clean else COPIERS[scenario][word]))
    rates = {"example": example, "records": word,
             "sizes": {k: int(np.median([r["sizes"][k] for r in fresh])) for k in ("train", "holdout", "synthetic")},
             "scenarios": scenarios}
    if demos:
        rates["demo_releases"] = {
            "description": "synthdata release --config synthdata/data/demo.yaml, epsilon 3, as make demo runs it",
            "runs": len(demos), "released": sum(r["exit"] == 0 for r in demos),
            "blocked_by_privacy": sum(any(a["passed"] is False and a["category"] in ("memorization", "attack")
                                          for a in r["audits"].values()) for r in demos)}
    return rates


def write_rates(rates: dict, *, modality: str) -> Path:
    """Merge one modality's rates into ``evaluation/gate_rates.json`` (the report's source)."""
    from evaluation.gate_rates import RATES_FILE

    stored = json.loads(RATES_FILE.read_text()) if RATES_FILE.is_file() else {}
    stored[modality] = rates
    RATES_FILE.write_text(json.dumps(dict(sorted(stored.items())), indent=1) + "\n")
    return RATES_FILE


def demo_spec(*, target: str | None, cache: Path) -> Path:
    """The demo spec, or a copy of it under ``cache`` whose utility audit predicts ``target`` instead (the
    question of the fidelity issue: does the demo pass every gate with readmission as its target?)."""
    if target is None:
        return DEMO_SPEC
    import yaml

    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec["dataset"]["target"] = target
    for key in ("path", "schema"):
        spec["dataset"][key] = str((DEMO_SPEC.parent / spec["dataset"][key]).resolve())
    path = cache / f"demo-{target}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def demo_release(index: int, *, cache: Path, target: str | None = None) -> dict:
    """One real DP release of the demo (``synthdata release --config synthdata/data/demo.yaml``, as ``make
    demo`` runs it, with another utility ``target`` if given) in a fresh home under ``cache``: its status and
    the gate verdicts of its audit record.  The work area is purged afterwards (it holds private splits); the
    audit figures are kept."""
    import shutil
    import subprocess
    import sys

    home = cache / f"demo-home-{index}"
    shutil.rmtree(home, ignore_errors=True)
    started = time.perf_counter()
    spec = demo_spec(target=target, cache=cache)
    done = subprocess.run([sys.executable, "-m", "synthdata.cli", "release", "--config", str(spec)],
                          env={**os.environ, "SYNTHDATA_HOME": str(home.resolve())}, capture_output=True, text=True)
    records = sorted(home.glob("runs/*/synthetic/audit.json"))
    if not records:
        raise RuntimeError(f"demo release {index} left no audit record (exit {done.returncode}): "
                           f"{done.stderr.strip().splitlines()[-1:] or done.stdout[-300:]}")
    audits = json.loads(records[-1].read_text())["audits"]
    shutil.rmtree(home, ignore_errors=True)
    return {"scenario": DEMO_SCENARIO, "seed": index, "exit": done.returncode,
            "seconds": round(time.perf_counter() - started, 1),
            "audits": {a["name"]: {"value": a["value"], "interval": a["interval"], "passed": a["passed"],
                                   "category": a["category"]} for a in audits}}


def demo_table(records: list[dict]) -> str:
    """Real DP releases of the demo: how many released, which gates failed or could not judge."""
    if not records:
        return ""
    released = sum(r["exit"] == 0 for r in records)
    blocked_privacy = sum(any(a["passed"] is False and a["category"] in ("memorization", "attack")
                              for a in r["audits"].values()) for r in records)
    failed: dict[str, int] = {}
    unjudged: dict[str, int] = {}
    for r in records:
        for name, a in r["audits"].items():
            if a["passed"] is False:
                failed[name] = failed.get(name, 0) + 1
            elif a["passed"] is None and a["value"] is not None and a["category"] in ("memorization", "attack"):
                unjudged[name] = unjudged.get(name, 0) + 1
    spread = lambda name: [r["audits"][name]["value"] for r in records if r["audits"].get(name, {}).get("value") is not None]  # noqa: E731
    lines = [f"{DEMO_SCENARIO}: {released} of {len(records)} released; blocked by a privacy gate in "
             f"{blocked_privacy} (95% upper bound {clopper_pearson(blocked_privacy, len(records), upper=True):.0%})",
             "failed gates: " + (", ".join(f"{n} ({c})" for n, c in failed.items()) or "none"),
             "privacy gates not judged: " + (", ".join(f"{n} ({c})" for n, c in unjudged.items()) or "none")]
    for name in ("fidelity.quality", "fidelity.representation", "utility.tstr", "memorization.near_copies",
                 "memorization.dcr_share", "attack.membership_inference"):
        values = spread(name)
        if values:
            lines.append(f"  {name}: median {np.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=60, help="draws of fresh real records (false blocks)")
    parser.add_argument("--copier-draws", type=int, default=20, help="draws of each copying scenario")
    parser.add_argument("--max-rows", type=int, default=5000, help="settings.max_rows of the audits")
    parser.add_argument("--demo-releases", type=int, default=10,
                        help="real DP releases of the demo (about 4 minutes each on 2 cores; 0 to skip)")
    parser.add_argument("--demo-target", default=None,
                        help="predict this column in the demo releases instead of the demo's target (e.g. readmitted);"
                             " use its own --cache")
    parser.add_argument("--modality", choices=["table", "eeg", "ecg", "image"], default="table",
                        help="the shipped example to draw from (signals and images: calibration_sets)")
    parser.add_argument("--cache", type=Path, default=Path(".bench/gate_calibration"))
    parser.add_argument("--write-rates", action="store_true",
                        help="write the measured rates into evaluation/gate_rates.json (the report quotes them)")
    args = parser.parse_args()
    if args.demo_target and args.write_rates:
        parser.error("--write-rates quotes the demo as make demo runs it: leave out --demo-target")
    if args.modality != "table":
        records_main(args)
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    frame, patients, schema = load_demo()
    plan = [("fresh", d) for d in range(args.draws)]
    plan += [(s, d) for s in SCENARIOS if s != "fresh" for d in range(args.copier_draws)]
    records = []
    for i, (scenario, seed) in enumerate(plan, start=1):
        path = args.cache / f"{_slug(scenario)}-{seed}.json"
        if path.is_file():
            records.append(json.loads(path.read_text()))
            continue
        record = run_draw(scenario, seed, frame=frame, patients=patients, schema=schema, max_rows=args.max_rows)
        path.write_text(json.dumps(record, default=float))
        records.append(record)
        failed = [n for n, a in record["audits"].items() if a["passed"] is False]
        print(f"[{i}/{len(plan)}] {scenario} draw {seed}: {record['seconds']} s; "
              f"{'blocked by ' + ', '.join(failed) if failed else 'released'}", flush=True)
    demos = []
    for index in range(args.demo_releases):
        path = args.cache / f"demo_release-{index}.json"
        if not path.is_file():
            record = demo_release(index, cache=args.cache, target=args.demo_target)
            path.write_text(json.dumps(record, default=float))
            failed = [n for n, a in record["audits"].items() if a["passed"] is False]
            print(f"[demo {index + 1}/{args.demo_releases}] {record['seconds']} s; "
                  f"{'blocked by ' + ', '.join(failed) if failed else 'released'}", flush=True)
        demos.append(json.loads(path.read_text()))
    print()
    print(table(records, privacy_audits()))
    print()
    print(demo_table(demos))
    if args.write_rates:
        print("rates written to", write_rates(measured_rates(records, privacy_audits(), modality="table", demos=demos),
                                             modality="table"))


def records_main(args: argparse.Namespace) -> None:
    """The signal or image arm: the same scenarios on a shipped example (no demo releases)."""
    from evaluation.benchmarks.calibration_sets import NEAR_COPIES, load

    cache = args.cache / args.modality
    cache.mkdir(parents=True, exist_ok=True)
    records = load(args.modality)
    plan = [("fresh", d) for d in range(args.draws)]
    plan += [(s, d) for s in SCENARIOS if s != "fresh" for d in range(args.copier_draws)]
    done = []
    for i, (scenario, seed) in enumerate(plan, start=1):
        path = cache / f"{_slug(scenario)}-{seed}.json"
        if not path.is_file():
            record = run_record_draw(scenario, seed, records=records, max_rows=args.max_rows)
            path.write_text(json.dumps(record, default=float))
            failed = [n for n, a in record["audits"].items() if a["passed"] is False]
            print(f"[{i}/{len(plan)}] {args.modality} {scenario} draw {seed}: {record['seconds']} s; "
                  f"{'blocked by ' + ', '.join(failed) if failed else 'released'}", flush=True)
        done.append(json.loads(path.read_text()))
    sizes = done[0]["sizes"]
    print(f"\n{args.modality}: per draw about {sizes['train']} training, {sizes['holdout']} holdout and "
          f"{sizes['synthetic']} synthetic records; near copies: {NEAR_COPIES[records.view.__class__.__name__]}")
    print(table(done, privacy_audits(type(records.view))))
    if args.write_rates:
        rates = measured_rates(done, privacy_audits(type(records.view)), modality=args.modality)
        print("rates written to", write_rates(rates, modality=args.modality))


def _slug(scenario: str) -> str:
    return scenario.replace(" ", "_").replace(",", "").replace("%", "pct")


if __name__ == "__main__":
    main()
