"""Benchmark: what a declared-public prior (``model.pretrain``) buys a DP image release.  A SIMULATION.

    python -m evaluation.benchmarks.image_prior [--epsilon 10] [--runs 3] [--pretrain-epochs N]

The shipped BreastMNIST plays both sides: its train split (546 images, less the one that recurs in val or
test) is *declared public* and its val and test splits (234 images) are the *private* data, which is what a
hospital with a public dataset of the same kind would have.  Nothing here is really public or private; the
split only makes the question answerable with the data at hand.  Arms, each a release through the real stages
(audited and gated, exported only if every gate passes), ``--runs`` times with DP noise from OS entropy:

* DP-SGD on the private images alone;
* the same, starting from the denoiser pretrained on the public images without privacy cost.

Utility is the utility gate's lift, (AUC_TSTR - 0.5) / (AUC_TRTR - 0.5), on the private holdout; medians
[min, max] over the runs.  Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from evaluation.benchmarks.arms import release_arm, temporary_home
from evaluation.benchmarks.image import data_file
from evaluation.benchmarks.table_fidelity import median_range
from synthdata.release_spec import parse_spec


def public_split(folder: Path) -> tuple[Path, int]:
    """The train split, less any image that recurs in val or test, under the keys the private spec reads."""
    stored = np.load(data_file())
    private = {image.tobytes() for split in ("val", "test") for image in stored[f"{split}_images"]}
    keep = [i for i, image in enumerate(stored["train_images"]) if image.tobytes() not in private]
    images, labels = stored["train_images"][keep], stored["train_labels"][keep]
    half = len(keep) // 2
    path = folder / "public.npz"
    np.savez(path, val_images=images[:half], val_labels=labels[:half], test_images=images[half:],
             test_labels=labels[half:])
    return path, len(keep)


def spec(*, epsilon: float, prior: Path | None, pretrain_epochs: int | None, run: int):
    model = {"preset": "fast"}
    if prior is not None:
        model.update(pretrain=str(prior), **({"pretrain_epochs": pretrain_epochs} if pretrain_epochs else {}))
    return parse_spec({
        "name": f"breastmnist_{'prior' if prior else 'private'}_{run}",
        "dataset": {"path": str(data_file()), "modality": "image",
                    "image": {"size": [28, 28], "channels": 1, "window": [0, 255], "npz_splits": ["val", "test"],
                              "classes": ["0", "1"], "output_format": "npz"}},
        "privacy": {"epsilon": epsilon, "total_epsilon": 1000.0},
        "model": model,
        "audits": {"holdout_fraction": 0.3},
        "output": {"out": "{home}/releases/{name}-{run_id}"},
    }, source="image prior benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilon", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="default: the DP plan's epochs")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    args = parser.parse_args()
    records: list[dict] = []
    with temporary_home("synthdata-image-prior-"), tempfile.TemporaryDirectory() as tmp:
        public, count = public_split(Path(tmp))
        print(f"declared public: {count} train-split images; private: the val and test splits", flush=True)
        for run in range(args.runs):
            for prior in (None, public):
                arm, _ = release_arm(spec=spec(epsilon=args.epsilon, prior=prior, pretrain_epochs=args.pretrain_epochs,
                                               run=run), run_id=f"{'prior' if prior else 'private'}-{run}")
                tstr = arm.results["utility.tstr"]
                record = {"arm": "public prior + DP" if prior else "DP only", "run": run, "lift": tstr.value,
                          "lift_low": tstr.interval[0] if tstr.interval else None,
                          "frechet": arm.results["fidelity.frechet"].value, "gate": arm.gate,
                          "train_seconds": arm.train_seconds}
                records.append(record)
                print(json.dumps(record, default=float), flush=True)
    print(f"\nBreastMNIST simulation, epsilon {args.epsilon:g}, {args.runs} runs: median [min, max]")
    print("| arm | TSTR lift | Fréchet | released | training s |\n|---|---|---|---|---|")
    for name in ("DP only", "public prior + DP"):
        rows = [r for r in records if r["arm"] == name]
        print(f"| {name} | {median_range([r['lift'] for r in rows])} | {median_range([r['frechet'] for r in rows])} | "
              f"{sum(r['gate'].startswith('released') for r in rows)} of {len(rows)} | "
              f"{median_range([r['train_seconds'] for r in rows], '{:.0f}')} |")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, default=float))


if __name__ == "__main__":
    main()
