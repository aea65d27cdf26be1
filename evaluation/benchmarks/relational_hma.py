"""Benchmark: synthdata's DP relational generator beside SDV's HMA (hierarchical, NOT private) on the MIMIC-III
demo subset (issue 17, item 6).

    make .venv-peers/.installed          # SDV 2 in the peers' own venv (``make bench-peers`` creates it too)
    python -m evaluation.benchmarks.relational_hma [--epsilons 1 10] [--runs 3] [--labevents] [--cap 1800]

Both get the same input: the subset loaded with the shipped schema (``synthdata/data/mimic3_demo.schema.yaml``:
orphans dropped, caps applied, derived relative times), all 66 patients (no holdout: fidelity figures, not an
audit).  SDV's free HMA refuses more than 5 tables or a depth over 2 ("use SDV Enterprise"), and PATIENTS ->
ADMISSIONS -> ICUSTAYS is 3 deep: HMA gets the tables below the patient (``_below_patients``: ADMISSIONS the
root, as many admissions as the real ones), so PATIENTS and admissions per patient are not modelled by it.
Each table gets its key, its parent's foreign key (one relationship per table, the parent chain synthdata
models) and the modelled columns with SDV's sdtypes; a prescription's optional ICU-stay link is left empty (as
synthdata leaves it).  HMA runs in ``.venv-peers`` (``peer_hma_runner.py``) under a wall-clock cap.  LABEVENTS is left out by
default (its loose rows have an empty admission key, which HMA's foreign keys do not take; ``--labevents``
tries it); synthdata fits the same tables (``relational_structure.GENERATOR_MODEL``); every arm runs
``--runs`` times (fresh DP noise each time; HMA as SDV seeds it) and the table gives median [min, max].

Scored on each synthetic database, by the release's own code: the structure (``relational.structure.
check_structure``: keys filled and unique, every foreign key joins, rows tied to one patient; the number of
problems), per relationship the KS distance of children per parent row and whether every count lies in the
real range (``evaluation.fidelity.cardinality``), per table SDMetrics' quality (``fidelity.quality`` without
its interval, against the real rows with the loaded schema: a category synthdata folded into "(other)" counts
as lost), and fit time.

Where the comparison favours HMA: it is not private, reads every category list and range from the data, and
sees each table's real row count.  Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from evaluation.base import AuditContext
from evaluation.benchmarks.relational_structure import GENERATOR_MODEL, MIMIC, _schema_with_lab_bounds
from evaluation.fidelity.cardinality import cardinality_fidelity
from evaluation.fidelity.quality import QualityAudit
from synthdata.modalities.relational import RelationalDatabase, fit_relational, load_database, sample_relational
from synthdata.modalities.relational.cardinality import children_per_parent
from synthdata.modalities.relational.schema import RelationalSchema
from synthdata.modalities.relational.structure import check_structure
from synthdata.modalities.table.schema import BooleanColumn, CategoricalColumn, DatetimeColumn, NumericColumn

RUNNER = Path(__file__).with_name("peer_hma_runner.py")
PEERS_PYTHON = Path(__file__).resolve().parents[2] / ".venv-peers" / "bin" / "python"
_SECOND, _DAY = "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"


def _database(labevents: bool) -> RelationalDatabase:
    schema = _schema_with_lab_bounds()
    if not labevents:
        schema = schema.model_copy(update={"tables": {n: t for n, t in schema.tables.items() if n != "LABEVENTS"}})
    return load_database(schema=schema, folder=MIMIC)


def _sdtype(column) -> dict:
    if isinstance(column, NumericColumn):
        return {"sdtype": "numerical"}
    if isinstance(column, DatetimeColumn):
        return {"sdtype": "datetime", "datetime_format": _DAY if column.resolution == "day" else _SECOND}
    if isinstance(column, (CategoricalColumn, BooleanColumn)):
        return {"sdtype": "categorical"}
    raise SystemExit(f"column type {type(column).__name__}: not benchmarked")


def _below_patients(schema: RelationalSchema) -> RelationalSchema:
    """The schema below the patient table (its child the root, references to the patient dropped): SDV's free
    HMA refuses more than 5 tables or a depth over 2, and PATIENTS -> ADMISSIONS -> ICUSTAYS is 3."""
    tables = {name: spec.model_copy(update={"references": {c: r for c, r in spec.references.items()
                                                           if r.table != schema.subject}, "max_rows_per_subject": None})
              for name, spec in schema.tables.items() if name != schema.subject}
    root = next(name for name, spec in schema.tables.items() if name != schema.subject and not tables[name].references)
    return schema.model_copy(update={"tables": tables, "subject": root})


def _hma_input(database: RelationalDatabase, schema: RelationalSchema, folder: Path) -> dict:
    """Each table of ``schema`` as CSV (key, parent key, modelled columns; datetimes as text) and SDV's metadata."""
    tables, relationships = {}, []
    for name in schema.tables:
        loaded = database.tables[name]
        linked = loaded.parent in schema.tables
        ids = [*loaded.keys, *([loaded.parent_column] if linked else [])]
        columns = {c: {"sdtype": "id"} for c in ids}
        columns |= {c: _sdtype(loaded.schema.columns[c]) for c in loaded.schema.modelled_columns}
        frame = loaded.frame.select(list(columns)).with_columns(
            [pl.col(c).cast(pl.String) for c in ids]
            + [pl.col(c).dt.strftime(s["datetime_format"]) for c, s in columns.items() if s["sdtype"] == "datetime"])
        frame.write_csv(folder / f"{name}.csv")
        tables[name] = {"columns": columns, **({"primary_key": loaded.keys[0]} if loaded.keys else {})}
        if linked:
            relationships.append({"parent_table_name": loaded.parent,
                                  "parent_primary_key": database.tables[loaded.parent].keys[0],
                                  "child_table_name": name, "child_foreign_key": loaded.parent_column})
    metadata = {"METADATA_SPEC_VERSION": "V1", "tables": tables, "relationships": relationships}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return metadata


def _hma_frames(database: RelationalDatabase, schema: RelationalSchema, metadata: dict,
                folder: Path) -> dict[str, pl.DataFrame]:
    """HMA's tables typed as the real ones; a reference off the parent chain (a prescription's ICU stay) empty."""
    frames: dict[str, pl.DataFrame] = {}
    for name in schema.tables:
        loaded = database.tables[name]
        columns = metadata["tables"][name]["columns"]
        frame = pl.read_csv(folder / f"{name}.csv", infer_schema=False)
        typed = []
        for c, s in columns.items():
            if s["sdtype"] == "datetime":
                typed.append(pl.col(c).str.strptime(loaded.frame.schema[c], s["datetime_format"], strict=False))
            elif s["sdtype"] != "id":
                typed.append(pl.col(c).cast(loaded.frame.schema[c], strict=False))
        frame = frame.with_columns(typed)
        missing = [c for c in schema.tables[name].references if c not in frame.columns]
        frames[name] = frame.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in missing])
    return frames


def _run_hma(database: RelationalDatabase, schema: RelationalSchema, *, python: Path,
             cap: float) -> tuple[dict | None, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        metadata = _hma_input(database, schema, work)
        command = [str(python), "-P", str(RUNNER), "--tables", str(work), "--metadata", str(work / "metadata.json"),
                   "--out", str(work / "out")]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=cap, check=False)
        except subprocess.TimeoutExpired:
            return None, {"status": f"did not finish in {cap:.0f} s"}
        if done.returncode != 0:
            return None, {"status": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:300]}
        info = json.loads(done.stdout.strip().splitlines()[-1])
        return _hma_frames(database, schema, metadata, work / "out"), {"status": "ok", **info}


def _quality(database: RelationalDatabase, name: str, synthetic: pl.DataFrame) -> float:
    loaded = database.tables[name]
    columns = loaded.schema.modelled_columns
    real = loaded.frame.select(columns).to_pandas()
    context = AuditContext(modality="table", train=real, holdout=real, synthetic=synthetic.select(columns).to_pandas(),
                           schema=loaded.schema)
    return QualityAudit(replicates=0).measure(context).value


def _score(database: RelationalDatabase, frames: dict[str, pl.DataFrame], schema: RelationalSchema) -> dict:
    found = check_structure(schema=schema, frames=frames)
    real = children_per_parent(database)
    cards = cardinality_fidelity(real={n: real[n] for n in found.children}, synthetic=found.children)
    return {"problems": found.count, "problem_list": dict(found.problems),
            "rows": {n: f.height for n, f in frames.items()},
            "ks": {n: (s.ks, s.within_real_range) for n, s in cards.items()},
            "quality": {n: _quality(database, n, frames[n]) for n in schema.tables}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--runs", type=int, default=3, help="runs per arm (fresh DP noise and HMA seed each)")
    parser.add_argument("--labevents", action="store_true", help="include LABEVENTS (HMA may refuse its empty keys)")
    parser.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    parser.add_argument("--cap", type=float, default=1800, help="wall-clock cap on HMA, seconds")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not MIMIC.is_dir():
        print(f"skipped: {MIMIC} is not there (the MIMIC-III demo subset is not shipped)")
        return 0
    if not args.peers_python.is_file():
        print(f"skipped: {args.peers_python} is missing (make .venv-peers/.installed)")
        return 0
    database = _database(args.labevents)
    below = _below_patients(database.schema)
    arms: dict[str, list[dict]] = {}
    for run in range(args.runs):
        for epsilon in args.epsilons:
            began = time.perf_counter()
            fitted = fit_relational(database=database, epsilon=epsilon, delta=args.delta, model=GENERATOR_MODEL)
            seconds = time.perf_counter() - began
            synthetic = sample_relational(generator=fitted, n_subjects=database.n_subjects, seed=secrets.randbits(31))
            arms.setdefault(f"synthdata ε = {epsilon:g}", []).append(
                {"fit_seconds": seconds, **_score(database, dict(synthetic.tables), database.schema)})
            print(f"run {run + 1}: synthdata ε = {epsilon:g}: fit {seconds:.0f} s", flush=True)
        frames, info = _run_hma(database, below, python=args.peers_python, cap=args.cap)
        print(f"run {run + 1}: HMA: {info}", flush=True)
        if frames is not None:
            arms.setdefault(f"HMA (SDV 2, not private; from {below.subject} down)", []).append(
                {"fit_seconds": info["fit_seconds"], **_score(database, frames, below)})
    _print(database, arms, runs=args.runs)
    return 0


def _spread(values: list[float], digits: int) -> str:
    """Median [min, max] of the runs' values (the value alone for one run)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def _print(database: RelationalDatabase, arms: dict[str, list[dict]], *, runs: int) -> None:
    names = list(arms)
    print(f"\nMIMIC-III demo subset, {database.n_subjects} patients, tables {', '.join(database.tables)}; "
          f"median [min, max] over {runs} run(s) per arm")
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| fit time, s | " + " | ".join(_spread([r["fit_seconds"] for r in arms[a]], 0) for a in names) + " |")
    print("| structure problems (keys, joins, orphans), most in a run | "
          + " | ".join(str(max(r["problems"] for r in arms[a])) for a in names) + " |")
    for relationship in children_per_parent(database):
        print(f"| KS children per parent, {relationship} | " + " | ".join(_ks(arms[a], relationship) for a in names) + " |")
    for table, loaded in database.tables.items():
        print(f"| quality {table} ({loaded.height} rows) | " + " | ".join(_table(arms[a], table) for a in names) + " |")
    for a in names:
        for r in arms[a]:
            if r["problem_list"]:
                print(f"{a}: {r['problem_list']}")


def _table(runs: list[dict], table: str) -> str:
    if table not in runs[0]["quality"]:
        return "not modelled"
    rows = statistics.median(r["rows"][table] for r in runs)
    return f"{_spread([r['quality'][table] for r in runs], 3)} ({rows:.0f} rows)"


def _ks(runs: list[dict], relationship: str) -> str:
    if relationship not in runs[0]["ks"]:
        return "not modelled"
    outside = sum(not r["ks"][relationship][1] for r in runs)
    return (f"{_spread([r['ks'][relationship][0] for r in runs], 3)}"
            f"{f' (out of the real range in {outside} of {len(runs)})' if outside else ''}")


if __name__ == "__main__":
    sys.exit(main())
