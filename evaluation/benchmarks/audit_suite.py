"""Benchmark: the whole audit suite on diabetes_130us (101,766 x 50) against a DP release of it.

    python -m evaluation.benchmarks.audit_suite [--epsilon 1] [--epochs 3] [--max-rows 5000]

Reads ``../shared/data/ehr/diabetes_130us/dataset_diabetes.zip`` (beside the checkout) unless ``--data``
names a CSV.  Makes a release's private work area in a temporary home (prepare, DP training with the ``fast``
preset for ``--epochs`` epochs, sampling as many rows as the training split), then times every registered
audit on the real train / holdout split and the synthetic rows, one by one, and the reports.  Prints one
table: seconds, value, 95% interval, threshold and verdict per audit, and the total.  Not a test: nothing
here asserts.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from evaluation.benchmarks.table import SCHEMA, _extract


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=3, help="DP training epochs of the release audited")
    parser.add_argument("--max-rows", type=int, default=5000, help="settings.max_rows of the audits")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="synthdata-audit-bench-") as tmp:
        work = Path(tmp)
        os.environ["SYNTHDATA_HOME"] = str(work / "home")
        from evaluation.base import AuditContext, AuditSettings
        from evaluation.gate import run_audits
        from evaluation.registry import AUDITS
        from evaluation.report.columns import column_plots
        from evaluation.suite import ReportInputs, write_reports
        from synthdata import home
        from synthdata.flow import stages
        from synthdata.release_spec import parse_spec
        from synthdata.modalities import get_modality
        from synthdata.privacy.ledger import Ledger
        from synthdata.run_area import RunArea

        data = args.data or _extract(work)
        spec = parse_spec({
            "name": "diabetes_audit_bench",
            "dataset": {"path": str(data), "schema": str(SCHEMA), "target": "readmitted"},
            "privacy": {"epsilon": args.epsilon, "max_rows_per_subject": 2},
            "model": {"preset": "fast", "epochs": args.epochs},
            "audits": {"max_rows": args.max_rows},
            "output": {"out": str(work / "release")},
            "seed": 1,
        })
        area = RunArea(home.run_dir("bench"))
        ledger = Ledger(path=home.home() / "ledger.sqlite")
        print(f"making a DP release to audit (epsilon {args.epsilon:g}, {args.epochs} epochs) ...", flush=True)
        stages.prepare(spec=spec, area=area, ledger=ledger, run_id="bench")
        stages.train(spec=spec, area=area, ledger=ledger, run_id="bench", progress=False)
        stages.sample(spec=spec, area=area)

        modality = get_modality("table")
        codec = modality.read_codec(path=area.prepared / "codec.json")
        frames = {name: modality.audit_frames(data=modality.read_data(path=path, codec=codec), codec=codec)
                  for name, path in {"train": area.prepared / "train.parquet",
                                     "holdout": area.prepared / "holdout.parquet",
                                     "synthetic": area.synthetic / "synthetic.parquet"}.items()}
        context = AuditContext(modality="table", **frames, schema=codec.schema, target="readmitted",
                               settings=AuditSettings(max_rows=args.max_rows, seed=1))
        print(f"auditing: train {len(frames['train'])}, holdout {len(frames['holdout'])}, synthetic "
              f"{len(frames['synthetic'])} rows x {len(frames['train'].columns)} columns", flush=True)
        rows, results = [], []
        started = time.perf_counter()
        for name in AUDITS:
            begin = time.perf_counter()
            measured = run_audits(context=context, names=[name])
            seconds = time.perf_counter() - begin
            for r in measured:
                results.append(r)
                interval = f"[{r.interval[0]:.3f}, {r.interval[1]:.3f}]" if r.interval else ""
                threshold = "-" if r.threshold is None else ("<= " if r.direction == "at_most" else ">= ") + f"{r.threshold:g}"
                verdict = {True: "pass", False: "FAIL", None: "info"}[r.passed]
                rows.append((name, f"{seconds:6.1f}", f"{r.value:.4f}", interval, threshold, verdict))
            if not measured:
                rows.append((name, f"{seconds:6.1f}", "n/a", "", "", "not applicable"))
        audits_seconds = time.perf_counter() - started
        begin = time.perf_counter()
        inputs = ReportInputs(release={"name": spec.name, "status": "passed"}, privacy={}, results=results,
                              column_plots=column_plots(train=frames["train"], synthetic=frames["synthetic"],
                                                        schema=codec.schema))
        write_reports(folder=work, inputs=inputs)
        report_seconds = time.perf_counter() - begin

        header = ("audit", "seconds", "value", "95% interval", "threshold", "verdict")
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        print()
        for row in [header, *rows]:
            print(" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
        print(f"\nall audits: {audits_seconds:.1f} s; reports (HTML + PDF, column plots): {report_seconds:.1f} s; "
              f"total {audits_seconds + report_seconds:.1f} s; peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
