"""Tuning the image model on BreastMNIST's train split only, never on the benchmark's holdout.

    python -m evaluation.benchmarks.image_tuning [--size 28|64] [--patch N] [--runs 3] [--dp] [--dp-only]
        [--epsilon 10] [--epochs N] [--batch-size N] [--lr X] [--augmentation N] [--unet-base N] [--guidance X]
        [--sample-steps N] [--guidance-sweep 1 3 5 8] [--seed 1234] [--threads 1]

The image presets (``synthdata/modalities/image/settings.py``) and the U-Net's stem
(``synthdata.modalities.image.modality.stem_patch``) are chosen here: the 546 images of BreastMNIST's train
split only, 409 to train on and 137 held out (``holdout_fraction`` 0.25 of the same split the release
uses), so the benchmark's own holdout (``evaluation.benchmarks.image``: all three splits, 20%) never steers a
setting.  By default one arm without DP (``train_non_private``: epsilon = infinity, no guarantee, never
exported), sampled and audited as a release is; ``--dp`` adds the DP release through the real stages first, and
``--dp-only`` then leaves out the arm without DP.  ``--size 64`` resizes the images bilinearly to 64 x 64;
``--patch`` overrides the stem the image size picks (1: no stem), to compare against the model without it.
Run ``k`` of ``--runs`` uses seed ``--seed + k`` (initialisation, the tuning split, sampling), so the runs'
spread includes the split's.  Prints per run and arm the ``utility.tstr`` lift with its interval, TRTR / TSTR
AUC, the Fréchet distance and the training and sampling times with the load, then the median [min, max] of the
lift per arm.  ``--guidance-sweep W ...`` samples each arm's trained model (the DP one too) again at every
classifier-free guidance weight ``W`` (sampling only, no epsilon: one trained model, the same sampling seed;
``evaluation.benchmarks.sweeps``) and scores ``utility.tstr`` on each; their medians are printed per arm, as
``BreastMNIST ε=10 guidance W``.  Not a test.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from unittest import mock

import torch

from evaluation.benchmarks.arms import (
    Arm,
    add_arguments,
    bench_spec,
    model_settings,
    non_private_arm,
    release_arm,
    temporary_home,
)
from evaluation.benchmarks.image import DEFAULTS, data_file
from evaluation.benchmarks.rows import audit_cell, detail
from evaluation.benchmarks.step_costs import prepared_area
from evaluation.benchmarks.sweeps import Lifts, guidance_sweep, lift
from synthdata.config import ReleaseSpec
from synthdata.modalities.image import modality as image_modality

TUNING_HOLDOUT = 0.25  # of the train split's 546 images: 137 held out, 409 trained on


def tuning_spec(*, model: dict, args: argparse.Namespace) -> ReleaseSpec:
    """BreastMNIST's train split only, at ``args.size`` pixels a side (resized when not 28)."""
    image = {"size": [args.size, args.size], "channels": 1, "window": [0, 255], "resize": args.size != 28,
             "npz_splits": ["train"], "classes": ["0", "1"], "output_format": "npz"}
    return bench_spec(name=f"breastmnist_tuning_{args.size}",
                      dataset={"path": str(data_file()), "modality": "image", "image": image},
                      model=model, args=args, holdout_fraction=TUNING_HOLDOUT)


def summary(arm: Arm) -> str:
    tstr = arm.results.get("utility.tstr")
    family = next(iter((tstr.details.get("families") or {}).values()), {}) if tstr else {}
    auc = " / ".join(f"{family[k]:.3f}" if family.get(k) is not None else "-" for k in ("trtr_auc", "tstr_auc"))
    frechet = arm.results.get("fidelity.frechet")
    return (f"{arm.label}: utility.tstr lift {audit_cell(tstr)}; TRTR / TSTR AUC {auc}; Fréchet "
            f"{'-' if frechet is None or frechet.value is None else f'{frechet.value:.1f}'} (real-vs-real "
            f"{detail(frechet, 'real_vs_real', 'frechet', digits=2)}); {arm.training.get('steps')} steps, training "
            f"{arm.train_seconds:.0f} s (load {arm.load[0]:.1f} -> {arm.load[1]:.1f}), sampling "
            f"{arm.records} images in {arm.sample_seconds:.0f} s ({arm.records / arm.sample_seconds:.1f}/s); {arm.gate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument("--size", type=int, default=28, help="image side in pixels (28: as shipped)")
    parser.add_argument("--patch", type=int, default=None, help="the U-Net's stem patch (default: from the size)")
    parser.add_argument("--runs", type=int, default=1, help="runs (seed, seed + 1, ...)")
    parser.add_argument("--dp", action="store_true", help="also run the DP release (first)")
    parser.add_argument("--guidance-sweep", type=float, nargs="+", default=None, metavar="W",
                        help="also sample each arm's model (DP and no DP) at these guidance weights; score each")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lifts = Lifts()
    for run in range(args.runs):
        run_args = argparse.Namespace(**{**vars(args), "seed": args.seed + run})
        with ExitStack() as stack:
            work = stack.enter_context(temporary_home("synthdata-image-tuning-"))
            if args.patch is not None:
                stack.enter_context(mock.patch.object(image_modality, "stem_patch", lambda size: args.patch))
            spec = tuning_spec(model=model_settings(args, DEFAULTS), args=run_args)
            patch = image_modality.stem_patch((args.size, args.size))
            print(f"BreastMNIST train split at {args.size}x{args.size}, stem patch {patch}, run {run + 1}/"
                  f"{args.runs} (seed {run_args.seed}), load {os.getloadavg()[0]:.1f}", flush=True)
            arms = []
            if args.dp:
                dp, area = release_arm(spec=spec, run_id="tuning-dp", progress=args.progress)
                arms.append(dp)
            else:
                area = prepared_area(spec=spec, run_id="tuning-dp", ledger_file=work / "ledger.sqlite")
            if not args.dp_only:
                arms.append(non_private_arm(spec=spec, source=area, run_id="tuning-nodp", progress=args.progress))
            for arm in arms:
                print(summary(arm), flush=True)
                name = f"BreastMNIST {arm.label}"
                lifts.add(name, lift(arm))
                if args.guidance_sweep:
                    lifts.add_sweep(name, guidance_sweep(spec=spec, arm=arm, weights=args.guidance_sweep),
                                    kind="guidance")
    lifts.print_medians()


if __name__ == "__main__":
    main()
