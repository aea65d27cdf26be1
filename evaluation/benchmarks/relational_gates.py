"""Benchmark: how often a database release's gates block data that leaks nothing, and catch copying, at the
size of the shipped relational example.

    python -m evaluation.benchmarks.relational_gates [--patients 1000] [--draws 40] [--trained-draws 10]
        [--copier-draws 10] [--epsilon 3] [--marginals-share S] [--cache DIR] [--audits NAME ...]
        [--refresh NAME ...] [--write-rates]

The real database is the invented hospital of ``synthdata/data/make_ehr_example.py`` at ``--patients``
(1,000 with its seed is the shipped ``synthdata/data/ehr_example/``; it was 200 before), split by patient as a
release splits it (``RelationalModality.split``, the spec's 20% holdout, a fresh split seed per draw).  Every
gate a release runs (every table audit on every table, the audits across tables, the structure and the
cardinality audits; ``evaluation.gate``) judges a "synthetic" database that is:

- ``fresh``: another hospital drawn from the same invented population (``write_ehr`` at another seed), as many
  patients as the training side: it leaks nothing, and its fidelity is what real data reaches;
- ``trained``: what the release's generator (``fit_relational`` at ``--epsilon``, the ``fast`` preset, as the
  example spec) produces when it was fitted on such a fresh hospital: it never saw the training patients, so
  any privacy gate it fails is a false block, and its fidelity is the generator's at this size (each table's
  column distributions share chosen as a release chooses it, or ``--marginals-share`` for every table);
- ``copies 5%``, ``copies 20%``: a fresh hospital with 5% (20%) of its patients replaced by training patients,
  their whole record (power of the privacy gates; 20% is what the table gates are checked against).

It prints, per scenario, how many draws any gate blocked (one-sided 95% Clopper-Pearson bound) and each gate
that failed or could not judge, and the spread of the watched audits' values (the audits across tables,
gated or not, among them: ``ACROSS``).  ``--audits`` runs only the named audits (a calibration of a few).  A
draw is cached as one JSON file under ``--cache``: a killed run resumes; ``--refresh`` recomputes the named
audits in the cached fresh and copier draws (each audit draws its own randomness from the draw's seed, so an
audit run alone measures what it measures among all).  ``--write-rates`` stores the privacy gates' rates over
the fresh and copier draws as the ``relational`` entry of ``evaluation/gate_rates.json`` (the shape of
``gate_calibration --write-rates``), which a database release's report quotes per gate; run it at the shipped
size.
The data are invented (public); the cache holds audit figures only.  Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from evaluation.base import AuditContext, AuditSettings
from evaluation.benchmarks.gate_calibration import clopper_pearson, scenario_rates, write_rates
from evaluation.gate import run_audits
from synthdata.data.make_ehr_example import PATIENTS, write_ehr
from synthdata.modalities.relational import fit_relational, load_database, load_relational_schema, sample_relational
from synthdata.modalities.relational.modality import RelationalModality, database_view, frames_view

DATA = Path(__file__).resolve().parents[2] / "synthdata" / "data"
SCHEMA = DATA / "ehr_example.schema.yaml"
SCENARIOS = ("fresh", "trained", "copies 5%", "copies 20%")
#: The copier scenarios: the share of patients replaced by whole training patients.
COPIES = {"copies 5%": 0.05, "copies 20%": 0.20}
REAL_SEED = 3  # the shipped example's seed (make_ehr_example.SEED)


def _database(folder: Path, *, patients: int, seed: int):
    return load_database(schema=load_relational_schema(SCHEMA), folder=write_ehr(folder, patients=patients, seed=seed))


def _split(database, *, seed: int):
    return RelationalModality().split(source=database, holdout_fraction=0.2, seed=seed)


def _keyed_frames(database, prefix: str) -> dict[str, pl.DataFrame]:
    """Each table's frame with every key and reference prefixed (two hospitals' keys never collide)."""
    frames = {}
    for name, loaded in database.tables.items():
        spec = database.schema.tables[name]
        ids = [c for c in loaded.frame.columns if c in spec.keys or c in spec.references]
        frames[name] = loaded.frame.with_columns([(pl.lit(prefix) + pl.col(c).cast(pl.String)).alias(c) for c in ids])
    return frames


def _copier(fresh, train, *, share: float, seed: int) -> dict[str, pl.DataFrame]:
    """The fresh hospital with ``share`` of its patients replaced by training patients, whole records."""
    rng = np.random.default_rng([seed, 5])
    k = int(round(share * fresh.n_subjects))
    keep_fresh = np.ones(fresh.n_subjects, dtype=bool)
    keep_fresh[rng.choice(fresh.n_subjects, size=k, replace=False)] = False
    copied = np.zeros(train.n_subjects, dtype=bool)
    copied[rng.choice(train.n_subjects, size=k, replace=False)] = True
    parts = [_keyed_frames(fresh.select_subjects(keep=keep_fresh), "f"),
             _keyed_frames(train.select_subjects(keep=copied), "t")]
    return {name: pl.concat([p[name] for p in parts]) for name in parts[0]}


#: The audits across tables: recorded whether gated or not (their spread is what a threshold is chosen from).
ACROSS = ("fidelity.cross_table_trends", "utility.cross_table_tstr", "memorization.patient_dcr_share",
          "memorization.patient_near_copies", "attack.patient_membership_inference")


def run_draw(scenario: str, seed: int, *, patients: int, epsilon: float, audits: list[str] | None = None,
             marginals_share: float | None = None) -> dict:
    """One draw: the real split, the scenario's synthetic database, every gate of a database release."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        real = _database(Path(tmp) / "real", patients=patients, seed=REAL_SEED)
        train, holdout = _split(real, seed=seed)
        fresh = _database(Path(tmp) / "fresh", patients=train.n_subjects, seed=10_000 + seed)
        schemas = {name: loaded.schema for name, loaded in real.tables.items()}
        fit_seconds = None
        if scenario == "fresh":
            frames = _keyed_frames(fresh, "f")
        elif scenario in COPIES:
            frames = _copier(fresh, train, share=COPIES[scenario], seed=seed)
        else:
            fitted = time.perf_counter()
            generator = fit_relational(database=fresh, epsilon=epsilon, delta=1e-5, model="fast", seed=seed,
                                       marginals_share=marginals_share)
            shares = generator.budget.marginals_shares()
            frames = dict(sample_relational(generator=generator, n_subjects=train.n_subjects, seed=seed).tables)
            schemas = {name: table.codec.schema for name, table in generator.tables.items()}
            fit_seconds = round(time.perf_counter() - fitted, 1)
        context = AuditContext(
            modality="relational", train=database_view(database=train, schemas=schemas),
            holdout=database_view(database=holdout, schemas=schemas),
            synthetic=frames_view(schema=real.schema, frames=frames, schemas=schemas), schema=None,
            settings=AuditSettings(seed=seed))
        results = run_audits(context=context, names=audits)
    return {"scenario": scenario, "seed": seed, "patients": patients, "epsilon": epsilon,
            "seconds": round(time.perf_counter() - started, 1), "fit_seconds": fit_seconds,
            "sizes": {"train": train.n_subjects, "holdout": holdout.n_subjects},
            **({"marginals_shares": shares} if scenario == "trained" else {}),
            "audits": {r.name: {"value": r.value, "interval": r.interval, "passed": r.passed,
                                "threshold": r.threshold, "category": r.category,
                                "unjudged": r.unjudged_because,
                                **({"reference": r.details.get("real_vs_real_reference")} if r.name in ACROSS else {})}
                       for r in results if r.threshold is not None or r.name in ACROSS}}


def table(records: list[dict]) -> str:
    """Per scenario: draws, blocked by any gate (with its bound), each gate that failed, gates not judged."""
    lines = ["| scenario | draws | blocked (any gate) | 95% bound | gates failed (draws) | privacy gates not judged in every draw |",
             "|---|---|---|---|---|---|"]
    for scenario in SCENARIOS:
        done = [r for r in records if r["scenario"] == scenario]
        if not done:
            continue
        blocked = sum(any(a["passed"] is False for a in r["audits"].values()) for r in done)
        clean = scenario not in COPIES
        failed: dict[str, int] = {}
        for r in done:
            for name, a in r["audits"].items():
                if a["passed"] is False:
                    failed[name] = failed.get(name, 0) + 1
        names = done[0]["audits"]
        never = [n for n in names if names[n]["category"] in ("memorization", "attack")
                 and all(r["audits"].get(n, {}).get("passed") is None for r in done)]
        lines.append(f"| {scenario} | {len(done)} | {blocked} | {'≤' if clean else '≥'} "
                     f"{clopper_pearson(blocked, len(done), upper=clean):.0%} | "
                     + (", ".join(f"{n} {c}" for n, c in sorted(failed.items())) or "none")
                     + f" | {len(never)} of {sum(names[n]['category'] in ('memorization', 'attack') for n in names)} |")
    return "\n".join(lines)


def spread(records: list[dict], names: list[str]) -> str:
    """Median [min, max] of some gates' values per scenario."""
    lines = []
    for scenario in SCENARIOS:
        done = [r for r in records if r["scenario"] == scenario]
        for name in names:
            values = [r["audits"][name]["value"] for r in done if r["audits"].get(name, {}).get("value") is not None]
            if values:
                lines.append(f"  {scenario:10} {name:40} median {np.median(values):.3f} "
                             f"[{min(values):.3f}, {max(values):.3f}] over {len(values)}")
            references = [r["audits"][name]["reference"] for r in done
                          if r["audits"].get(name, {}).get("reference") is not None]
            if references:
                lines.append(f"  {scenario:10} {name + ' (holdout vs train)':40} median {np.median(references):.3f} "
                             f"[{min(references):.3f}, {max(references):.3f}] over {len(references)}")
    return "\n".join(lines)


#: What the report quotes of each copier scenario (``evaluation.gate_rates``).
COPIER_WORDS = {"copies 5%": "5% of the patients replaced by training patients, their whole record (every table)",
                "copies 20%": "20% of the patients replaced by training patients, their whole record (every table)"}


def privacy_gates(records: list[dict]) -> list[str]:
    """The privacy gates (memorization and attack audits with a threshold) measured in every record."""
    names = [n for n, a in records[0]["audits"].items()
             if a["category"] in ("memorization", "attack") and a["threshold"] is not None]
    return sorted(n for n in names if all(n in r["audits"] for r in records))


def measured_rates(records: list[dict]) -> dict:
    """The ``relational`` entry of ``evaluation/gate_rates.json`` from the fresh and copier draws (trained
    draws are not a copier: they are left out): per scenario the draws, how many the privacy gates together
    blocked, and each gate's failures and draws not judged, with one-sided 95% bounds."""
    kept = [r for r in records if r["scenario"] == "fresh" or r["scenario"] in COPIES]
    fresh = [r for r in kept if r["scenario"] == "fresh"]
    names = privacy_gates(kept)
    scenarios = {}
    for scenario in ("fresh", *COPIES):
        done = [r for r in kept if r["scenario"] == scenario]
        if done:
            scenarios[scenario] = scenario_rates(
                done, names, clean=scenario == "fresh",
                description="real patients never seen" if scenario == "fresh" else COPIER_WORDS[scenario])
    train, holdout = (int(np.median([r["sizes"][k] for r in fresh])) for k in ("train", "holdout"))
    return {"example": (f"the shipped relational example (an invented hospital of {fresh[0]['patients']:,} patients "
                        "with their admissions and diagnoses, split by patient)"),
            "benchmark": "python -m evaluation.benchmarks.relational_gates",
            "records": "patients", "sizes": {"train": train, "holdout": holdout, "synthetic": train},
            "scenarios": scenarios}


WATCHED = ("PATIENTS:fidelity.quality", "ADMISSIONS:fidelity.quality", "DIAGNOSES:fidelity.quality",
           "DIAGNOSES:fidelity.representation", "PATIENTS:memorization.dcr_share", "ADMISSIONS:memorization.dcr_share",
           "PATIENTS:attack.membership_inference", "fidelity.cardinality", *ACROSS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=PATIENTS,
                        help=f"patients of the invented hospital ({PATIENTS}: the shipped example)")
    parser.add_argument("--draws", type=int, default=40, help="draws of a fresh hospital (leaks nothing)")
    parser.add_argument("--trained-draws", type=int, default=10,
                        help="draws of the DP generator fitted on a fresh hospital (about 20-60 s each)")
    parser.add_argument("--copier-draws", type=int, default=10,
                        help="draws of each copier scenario (5%% and 20%% whole training patients)")
    parser.add_argument("--epsilon", type=float, default=3.0)
    parser.add_argument("--marginals-share", type=float, default=None,
                        help="every table's column distributions share (default: chosen per table, as a release)")
    parser.add_argument("--cache", type=Path, default=None, help="default .bench/relational_gates-<patients>")
    parser.add_argument("--audits", nargs="+", default=None, help="run only these audits (default: every one)")
    parser.add_argument("--refresh", nargs="+", default=None, metavar="AUDIT",
                        help="(re)compute these audits in the cached fresh and copier draws and merge them in (after "
                             "an audit was added or changed); trained draws are kept as cached (their DP fit cannot "
                             "be repeated)")
    parser.add_argument("--write-rates", action="store_true",
                        help="store the privacy gates' rates (fresh and copier draws) as the 'relational' entry of "
                             "evaluation/gate_rates.json, which database releases' reports quote")
    args = parser.parse_args(argv)
    cache = args.cache or Path(f".bench/relational_gates-{args.patients}" + ("-some" if args.audits else "")
                               + (f"-share{args.marginals_share:g}" if args.marginals_share is not None else ""))
    cache.mkdir(parents=True, exist_ok=True)
    plan = ([("fresh", d) for d in range(args.draws)] + [("trained", d) for d in range(args.trained_draws)]
            + [(scenario, d) for scenario in COPIES for d in range(args.copier_draws)])
    records = []
    for i, (scenario, seed) in enumerate(plan, start=1):
        path = cache / f"{scenario.replace(' ', '_').replace('%', 'pct')}-{seed}.json"
        if not path.is_file():
            record = run_draw(scenario, seed, patients=args.patients, epsilon=args.epsilon, audits=args.audits,
                              marginals_share=args.marginals_share)
            path.write_text(json.dumps(record, default=float))
            failed = [n for n, a in record["audits"].items() if a["passed"] is False]
            print(f"[{i}/{len(plan)}] {scenario} draw {seed}: {record['seconds']} s; "
                  f"{'blocked by ' + ', '.join(failed) if failed else 'released'}", flush=True)
        elif args.refresh and scenario != "trained":
            record = json.loads(path.read_text())
            again = run_draw(scenario, seed, patients=args.patients, epsilon=args.epsilon, audits=args.refresh)
            record["audits"].update(again["audits"])
            record.setdefault("refreshed", []).append(sorted(again["audits"]))
            path.write_text(json.dumps(record, default=float))
            print(f"[{i}/{len(plan)}] {scenario} draw {seed}: {len(again['audits'])} audits refreshed in "
                  f"{again['seconds']} s", flush=True)
        records.append(json.loads(path.read_text()))
    sizes = records[0]["sizes"]
    print(f"\n{args.patients} patients ({sizes['train']} training, {sizes['holdout']} holdout in draw 0), "
          f"epsilon {args.epsilon} for 'trained'")
    print(table(records))
    print(spread(records, list(WATCHED)))
    if args.write_rates:
        print("rates written to", write_rates(measured_rates(records), modality="relational"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
