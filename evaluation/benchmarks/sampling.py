"""Benchmark: how fast a release samples signal windows and images, per thread count.

    python -m evaluation.benchmarks.sampling [--datasets ecg eeg breastmnist breastmnist64] [--thread-counts 1 2]
        [--records 1000] [--repeats 3] [--sample-steps N] [--guidance X]

For each dataset, the benchmark's own release spec (``evaluation.benchmarks.signal`` / ``.image``: the same
presets, window layout and image size) is prepared in a temporary home (``stages.prepare`` on a throwaway
ledger; nothing trained), its denoiser is built as a release builds it and saved untrained, and then
``stages.draw`` (exactly what the sample stage calls: the sampler, its batch size, the precision the spec
resolves, classifier-free guidance with its doubled forward passes, the decoding into windows or images) draws
``--records`` records, ``--repeats`` times per thread count.  An untrained network does the same arithmetic as
a trained one, so the time is the release's sampling time.  Prints records/s per dataset and thread count
(median [min, max] over the repeats) beside the load average, and what the issue asks (signals and images
issue: 200 windows/s, 100 images/s at 28x28).  ECG and EEG need ``../shared/data``; BreastMNIST is shipped.
Not a test: nothing asserts.  Quote figures from a quiet machine: a shared core halves them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from evaluation.benchmarks import image, signal
from evaluation.benchmarks.arms import (
    SHARED_DATA,
    add_arguments,
    model_settings,
    temporary_home,
)
from evaluation.benchmarks.rows import print_table
from evaluation.benchmarks.step_costs import prepared_area
from synthdata.config import ReleaseSpec
from synthdata.diffusion.trained import trained_record
from synthdata.flow import stages
from synthdata.modalities import get_modality
from synthdata.run_area import read_json

#: What the signals-and-images issue asks of sampling on 2 cores, in records/s.
TARGETS = {"ecg": 200.0, "eeg": 200.0, "breastmnist": 100.0}


def _specs(args: argparse.Namespace, work: Path) -> dict[str, Callable[[], ReleaseSpec]]:
    return {
        "ecg": lambda: signal.ecg_spec(work=work, model=model_settings(args, signal.DEFAULTS["ecg"]), args=args),
        "eeg": lambda: signal.eeg_spec(work=work, model=model_settings(args, signal.DEFAULTS["eeg"]), args=args),
        "breastmnist": lambda: image.breastmnist_spec(model=model_settings(args, image.DEFAULTS), args=args),
        "breastmnist64": lambda: image.breastmnist_spec(model=model_settings(args, image.DEFAULTS), args=args,
                                                        size=64),
    }


def _untrained(*, spec: ReleaseSpec, name: str, ledger: Path) -> dict[str, Any]:
    """The prepared area's codec and an untrained denoiser's saved record, built as the release builds them."""
    area = prepared_area(spec=spec, run_id=f"sampling-{name}", ledger_file=ledger)
    prepared = read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    model = modality.build_denoiser(codec=codec, model=spec.model)
    record = trained_record(model=model, diffusion=stages.diffusion_for(spec=spec, modality=modality, codec=codec))
    return {"modality": modality, "codec": codec, "trained": record, "source": f"untrained {name} denoiser",
            "width": prepared["encoded_width"]}


def _rate(*, spec: ReleaseSpec, built: dict[str, Any], records: int, seed: int) -> float:
    began = time.perf_counter()
    stages.draw(spec=spec, modality=built["modality"], codec=built["codec"], trained=built["trained"],
                source=built["source"], marginals=None, width=built["width"], n=records, seed=seed)
    return records / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=["ecg", "eeg", "breastmnist", "breastmnist64"],
                        default=["ecg", "eeg", "breastmnist"])
    parser.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2], metavar="N",
                        help="torch threads to time sampling with, in turn")
    parser.add_argument("--repeats", type=int, default=3, help="timed draws per dataset and thread count")
    add_arguments(parser)
    args = parser.parse_args()
    args.records = args.records or 1000
    needs_shared = {"ecg", "eeg"} & set(args.datasets)
    if needs_shared and not SHARED_DATA.is_dir():
        print(f"skipped {sorted(needs_shared)}: {SHARED_DATA} is not there")
        args.datasets = [d for d in args.datasets if d not in needs_shared]
    rows = []
    with temporary_home("synthdata-sampling-bench-") as work:
        specs = _specs(args, work)
        for name in args.datasets:
            spec = specs[name]()
            built = _untrained(spec=spec, name=name, ledger=work / f"ledger-{name}.sqlite")
            _rate(spec=spec, built=built, records=min(args.records, 64), seed=args.seed)  # warm-up
            for threads in args.thread_counts:
                torch.set_num_threads(threads)
                rates = [_rate(spec=spec, built=built, records=args.records, seed=args.seed + i)
                         for i in range(args.repeats)]
                load = os.getloadavg()[0]
                target = TARGETS.get(name.removesuffix("64"))
                rows.append((f"{name}, {threads} thread{'s' if threads > 1 else ''}", [
                    f"{statistics.median(rates):.1f} [{min(rates):.1f}, {max(rates):.1f}]",
                    f"{spec.model.resolved('sample_steps')} DDIM, guidance {spec.model.resolved('guidance'):g}",
                    f"{target:g}" if target and name != "breastmnist64" else "-", f"{load:.1f}"]))
                print(f"{rows[-1][0]}: {rows[-1][1][0]} records/s", flush=True)
    print_table(title=f"sampling speed, {args.records} records per draw, {args.repeats} draws",
                header=["records/s, median [min, max]", "sampler", "asked", "load (1 min)"], rows=rows)


if __name__ == "__main__":
    main()
