"""Benchmark: release the full UCI diabetes_130us table (101,766 x 50) at epsilon = 1.

    python -m evaluation.benchmarks.table [--epsilon 1] [--preset standard] [--data PATH]

Reads ``../shared/data/ehr/diabetes_130us/dataset_diabetes.zip`` (beside the checkout) unless ``--data``
names a CSV.  Runs every release stage in a temporary home and prints one table: wall time per stage, DP
training records/s against the same model trained without DP, peak memory, the encoded width (against
one-hot of everything) and the audit figures.  Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import zipfile
from pathlib import Path

import torch

from synthdata.modalities.table.encoding import TableCodec

ZIP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ehr" / "diabetes_130us" / "dataset_diabetes.zip"
SCHEMA = Path(__file__).resolve().parents[2] / "synthdata" / "data" / "diabetes_demo.schema.yaml"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _extract(work: Path) -> Path:
    if not ZIP.is_file():
        raise SystemExit(f"{ZIP} not found: pass --data PATH to diabetic_data.csv")
    with zipfile.ZipFile(ZIP) as archive:
        archive.extract("dataset_diabetes/diabetic_data.csv", work)
    return work / "dataset_diabetes" / "diabetic_data.csv"


def _onehot_width(codec: TableCodec) -> int:
    return TableCodec(schema=codec.schema, onehot_max=10**9).width


def non_private_throughput(*, area, spec) -> float:
    """Records/s of the same denoiser and objective trained one epoch without DP."""
    from synthdata.diffusion.process import GaussianDiffusion
    from synthdata.modalities import get_modality
    from synthdata.privacy.training import TrainingPlan, train_non_private

    modality = get_modality("table")
    codec = modality.read_codec(path=area.prepared / "codec.json")
    stored = torch.load(area.prepared / "units.pt", weights_only=True)
    model = modality.build_denoiser(codec=codec, model=spec.model)
    plan = TrainingPlan(epochs=1, batch_size=int(spec.model.resolved("batch_size")), lr=float(spec.model.resolved("lr")),
                        max_grad_norm=spec.model.max_grad_norm, augmentation=int(spec.model.resolved("augmentation")))
    outcome = train_non_private(model=model, diffusion=GaussianDiffusion(timesteps=spec.model.timesteps, prediction=spec.model.prediction),
                                units=stored["data"], mask=stored["mask"], plan=plan, seed=0, progress=False)
    return outcome.records_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--preset", default="standard", choices=["fast", "standard"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="synthdata-bench-") as tmp:
        work = Path(tmp)
        os.environ["SYNTHDATA_HOME"] = str(work / "home")
        from synthdata import home
        from synthdata.flow import publish, stages
        from synthdata.release_spec import parse_spec
        from synthdata.privacy.ledger import Ledger
        from synthdata.run_area import RunArea

        data = args.data or _extract(work)
        spec = parse_spec({
            "name": "diabetes_bench",
            "dataset": {"path": str(data), "schema": str(SCHEMA), "target": "readmitted"},
            "privacy": {"epsilon": args.epsilon, "max_rows_per_subject": 2},
            "model": {"preset": args.preset, "epochs": args.epochs},
            "output": {"out": str(work / "release")},
            "seed": 1,
        })
        area = RunArea(home.run_dir("bench"))
        ledger = Ledger(path=home.home() / "ledger.sqlite")
        times: dict[str, float] = {}

        def timed(name, fn, **kwargs):
            start = time.perf_counter()
            value = fn(**kwargs)
            times[name] = time.perf_counter() - start
            return value

        prepared = timed("prepare", stages.prepare, spec=spec, area=area, ledger=ledger, run_id="bench")
        training = timed("train (DP)", stages.train, spec=spec, area=area, ledger=ledger, run_id="bench", progress=True)
        synthetic = timed("sample", stages.sample, spec=spec, area=area)
        results = timed("audit + report", publish.audit, spec=spec, area=area)
        try:
            timed("export", publish.export, spec=spec, area=area, run_id="bench")
            status = "released"
        except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
            status = f"blocked ({exc})"
        nondp = non_private_throughput(area=area, spec=spec)
        codec = TableCodec.from_dict(json.loads((area.prepared / "codec.json").read_text()))

        rows = [
            ("records (train / holdout / synthetic)", f"{prepared['train_records']} / {prepared['holdout_records']} / {synthetic['records']}"),
            ("privacy units (patients) in training", f"{prepared['units']}"),
            ("encoded width (one-hot of everything)", f"{codec.width} ({_onehot_width(codec)})"),
            ("epsilon spent (preprocessing + column distributions + training)",
             f"{training['epsilon']:.4f} ({training['epsilon_preprocessing']:.3f} + "
             f"{training.get('epsilon_marginals', 0.0):.3f} + {training['epsilon_training']:.4f}), "
             f"delta {training['delta_total']:.2g}"),
            ("DP-SGD plan", f"{training['epochs']} epochs, {training['steps']} steps, noise multiplier {training['noise_multiplier']:.3f}"),
            ("DP training records/s", f"{training['records_per_second']:.0f}"),
            ("non-DP training records/s (same model)", f"{nondp:.0f}"),
            ("DP / non-DP throughput", f"{training['records_per_second'] / nondp:.2f}x"),
            *[(f"time: {name}", f"{seconds:.1f} s") for name, seconds in times.items()],
            ("time: whole release", f"{sum(times.values()):.1f} s"),
            ("peak memory (RSS)", f"{_peak_mib():.0f} MiB"),
            *[(f"audit {r.name}", (f"{r.value:.4f} {[round(v, 4) for v in r.interval] if r.interval else ''} "
               f"threshold {r.threshold} -> {({True: 'pass', False: 'FAIL', None: 'informative'})[r.passed]}"))
              for r in results],
            ("release", status),
        ]
        width = max(len(k) for k, _ in rows)
        print()
        print(f"{'diabetes_130us release benchmark':<{width}} | epsilon {args.epsilon:g}, preset {args.preset}")
        print("-" * (width + 40))
        for key, value in rows:
            print(f"{key:<{width}} | {value}")


if __name__ == "__main__":
    main()
