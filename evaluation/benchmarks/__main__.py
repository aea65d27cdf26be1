"""Every benchmark, one after the other: ``make bench`` (``python -m evaluation.benchmarks [--only NAME ...]``).

Most benchmarks measure on real data that the repository does not ship (``../shared/data`` beside the
checkout: the full diabetes_130us table, MIMIC-III demo tables, full MIT-BIH and eegmmidb records).  Without
it, each benchmark runs on the shipped data where that measures the same thing honestly, and is skipped,
with the reason printed, where it would not: ``table_fidelity`` scores on diabetes rows disjoint from the
shipped demo slice because the presets were chosen on that slice, so scoring on it would score on tuning data.
Each benchmark prints its own table; the last lines say which ran, which were skipped and which failed.
Several take tens of minutes on 2 cores; the whole set takes hours.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from evaluation.benchmarks.arms import SHARED_DATA

SHIPPED = Path(__file__).resolve().parents[2] / "synthdata" / "data"
DEMO_CSV = SHIPPED / "diabetes_demo.csv"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark module: its arguments with the shared data, and without it (None: skipped, ``why``)."""

    name: str
    with_shared: tuple[str, ...] = ()
    shipped: tuple[str, ...] | None = ()
    why: str = ""


BENCHMARKS = (
    Benchmark("table", shipped=("--data", str(DEMO_CSV))),
    Benchmark("table_fidelity", shipped=None,
              why="it scores on diabetes_130us rows disjoint from the shipped demo slice, on which the presets were "
                  "chosen: on the slice it would score on tuning data"),
    Benchmark("mimic_table", shipped=None, why="it releases MIMIC-III demo ADMISSIONS, which the repository does not ship"),
    Benchmark("relational_structure", shipped=None,
              why="it reads the MIMIC-III demo tables, which the repository does not ship"),
    Benchmark("audit_suite", shipped=("--data", str(DEMO_CSV))),
    Benchmark("canary_audit"),
    Benchmark("gate_calibration"),
    Benchmark("signal", shipped=None,
              why="it needs the full MIT-BIH record 100 and eegmmidb S001 EDF files; the shipped examples are "
                  "`synthdata release --config synthdata/data/ecg.yaml` (and eeg.yaml)"),
    Benchmark("image"),
    Benchmark("image_prior"),
    Benchmark("sampling", shipped=("--datasets", "breastmnist")),
)


def plan(*, shared: bool) -> list[tuple[Benchmark, list[str] | None]]:
    """Each benchmark with the arguments it runs with here, or None when it is skipped."""
    return [(b, list(b.with_shared) if shared else (None if b.shipped is None else list(b.shipped)))
            for b in BENCHMARKS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHMARKS], help="run only these")
    args = parser.parse_args()
    shared = SHARED_DATA.is_dir()
    print(f"shared real data: {SHARED_DATA if shared else 'absent (' + str(SHARED_DATA) + '): shipped data only'}",
          flush=True)
    outcome: dict[str, list[str]] = {"ran": [], "skipped": [], "failed": []}
    for benchmark, arguments in plan(shared=shared):
        if args.only and benchmark.name not in args.only:
            continue
        if arguments is None:
            print(f"\n== {benchmark.name}: skipped without ../shared/data: {benchmark.why}", flush=True)
            outcome["skipped"].append(benchmark.name)
            continue
        print(f"\n== {benchmark.name} {' '.join(arguments)}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", f"evaluation.benchmarks.{benchmark.name}", *arguments])
        took = f"{benchmark.name} ({time.perf_counter() - started:.0f} s)"
        outcome["ran" if done.returncode == 0 else "failed"].append(took)
    print()
    for kind, names in outcome.items():
        print(f"{kind}: {', '.join(names) or 'none'}")
    sys.exit(1 if outcome["failed"] else 0)


if __name__ == "__main__":
    main()
