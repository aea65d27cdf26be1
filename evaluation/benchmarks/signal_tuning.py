"""Tuning the signal models on the signal benchmark's training windows only, never on its holdout.

    python -m evaluation.benchmarks.signal_tuning [--datasets ecg eeg] [--runs 3] [--dp] [--epsilon 10]
        [--epochs N] [--batch-size N] [--lr X] [--augmentation N] [--unet-base N] [--guidance X]
        [--sample-steps N] [--ema S] [--dp-only] [--guidance-sweep 1 2 3 4] [--ema-sweep 0.05 0.1 0.2]
        [--seed 1234] [--threads 1]

MIT-BIH record 100 is the only ECG record in ``../shared/data`` (and eegmmidb S001 the only EEG subject), so the
tuning set is a disjoint split of the same record, as ``image_tuning`` takes BreastMNIST's train split: each
dataset is read with the signal benchmark's spec, split as the benchmark splits it (``holdout_fraction`` 0.4,
seed ``BENCHMARK_SEED``, blocks of time with no sample on both sides), and only the benchmark's TRAINING windows
are kept; a run then splits those again by blocks of time (``TUNING_HOLDOUT``), trains on three quarters and
scores on the rest.  The benchmark's holdout (``evaluation.benchmarks.signal``, at its default seed) is never read
by a run here.  ECG: 1,348 training windows (25 supraventricular) -> about 1,000 trained on, 340 scored on.

Each run is one arm without DP (``train_non_private``: epsilon = infinity, no guarantee, never exported),
sampled and audited as a release is; ``--dp`` adds the DP release through the real stages first, and
``--dp-only`` then leaves out the arm without DP.  Run ``k`` uses seed ``--seed + k`` (initialisation, the
tuning split's blocks, the diffusion draws without DP, sampling), so the runs' spread includes the split's.
Prints per run the ``utility.tstr`` lift with its interval, TRTR / TSTR AUC per family, the in-band spectral
distance and the times, then the median [min, max] of the lift per arm.  ``--guidance-sweep W ...`` samples
each arm's trained model (the DP one too) again at every classifier-free guidance weight ``W`` (sampling only,
no epsilon: one trained model, the same sampling seed; ``evaluation.benchmarks.sweeps``) and scores
``utility.tstr`` on each, so weights are compared on the same model; their medians are printed per arm, as
``ECG ε=10 guidance W`` and ``ECG ε=∞ (no DP) guidance W``.  ``--ema-sweep S ...`` keeps, in every arm's
training (the DP one too), the moving average of the weights (``synthdata.privacy.ema``) at each share ``S`` of
the steps beside the last iterate, which the arm itself is sampled from (``model.ema`` is then ignored: the arm
is the plan without an average); each average is then sampled (same sampling seed) and scored like the guidance
sweep, as arms ``... ema S``: the averages and the last iterate of ONE training run, compared without the spread
between training runs.
Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from evaluation.benchmarks.arms import (
    Arm,
    add_arguments,
    model_settings,
    non_private_arm,
    release_arm,
    temporary_home,
)
from evaluation.benchmarks.rows import audit_cell
from evaluation.benchmarks.signal import DEFAULTS, SPECS, in_band_db
from evaluation.benchmarks.step_costs import prepared_area
from evaluation.benchmarks.sweeps import Lifts, guidance_sweep, lift, resampled_lift
from synthdata.config import ReleaseSpec
from synthdata.modalities.signal.modality import SignalModality, SignalSource
from synthdata.privacy import training
from synthdata.privacy.ema import WeightAverage, ema_decay
from synthdata.run_area import RunArea

BENCHMARK_HOLDOUT = 0.4  # evaluation.benchmarks.signal's holdout_fraction
BENCHMARK_SEED = 1234  # the signal benchmark's default seed: its split is the one kept away from tuning
TUNING_HOLDOUT = 0.25  # of the benchmark's training windows


def benchmark_training_windows_only() -> mock._patch:
    """While active, a signal modality's ``load`` returns only the windows the signal benchmark trains on, the
    benchmark's held-out stretches of time closed up (:func:`closed_gaps`) so that a run's own split by blocks of
    time finds windows in every block."""
    load = SignalModality.load

    def training_only(self: SignalModality, **kwargs):
        train, _ = self.split(source=load(self, **kwargs), holdout_fraction=BENCHMARK_HOLDOUT, seed=BENCHMARK_SEED)
        return closed_gaps(train)

    return mock.patch.object(SignalModality, "load", training_only)


def closed_gaps(source: SignalSource) -> SignalSource:
    """The windows with each record's gaps between window starts longer than a window shortened to a window
    and one sample: windows that did not overlap still do not (the split's overlap rule keeps holding), and the
    time-block split (``windows.time_blocks``, equal blocks of the span of starts) no longer falls in the
    benchmark's held-out stretches, where it would find no window."""
    starts = source.starts.copy()
    gap = int(source.windows.data.shape[-1]) + 1
    for record in np.unique(source.records):
        mine = np.flatnonzero(source.records == record)
        order = mine[np.argsort(source.starts[mine], kind="stable")]
        steps = np.minimum(np.diff(source.starts[order]), gap)
        starts[order] = source.starts[order[0]] + np.concatenate([[0], np.cumsum(steps)])
    return replace(source, starts=starts)


def summary(arm: Arm, *, signal) -> str:
    tstr = arm.results.get("utility.tstr")
    families = (tstr.details.get("families") or {}) if tstr else {}
    aucs = "; ".join(f"{name} {v.get('trtr_auc', float('nan')):.3f} / {v.get('tstr_auc', float('nan')):.3f}"
                     for name, v in families.items())
    return (f"{arm.label}: utility.tstr lift {audit_cell(tstr)}; TRTR / TSTR AUC {aucs}; in-band spectrum dB "
            f"(real-vs-real) {in_band_db(arm, signal)}; {arm.training.get('steps')} steps, training "
            f"{arm.train_seconds:.0f} s (load {arm.load[0]:.1f} -> {arm.load[1]:.1f}), sampling {arm.records} in "
            f"{arm.sample_seconds:.0f} s; {arm.gate}")


class AverageSweep:
    """Stands in for a training run's weight average (``training._weight_average``): keeps one average per
    share and, at the end, leaves the model at its last iterate and the averages in ``kept``."""

    def __init__(self, *, model: torch.nn.Module, total_steps: int, shares: list[float]) -> None:
        self.averages = {share: WeightAverage(model=model, decay=ema_decay(share=share, total_steps=total_steps))
                         for share in shares}
        self.kept: dict[float, dict[str, torch.Tensor]] = {}

    def update(self) -> None:
        for average in self.averages.values():
            average.update()

    def state_dict(self) -> dict:  # what a checkpoint of the release's training stores (never resumed here)
        return next(iter(self.averages.values())).state_dict()

    def copy_to(self, model: torch.nn.Module) -> None:
        self.kept = {share: average.state_dict()["shadow"] for share, average in self.averages.items()}


def ema_sweep(*, spec: ReleaseSpec, arm: Arm, sweep: AverageSweep) -> dict[float, float]:
    """``utility.tstr``'s lift of each of ``sweep``'s averages of ``arm``'s training, sampled as the arm was (its
    model file and synthetic file are overwritten).  Prints the lift and the in-band spectral distance per share."""
    area, lifts = RunArea(arm.root), {}
    path = area.model / "denoiser.pt"
    record = torch.load(path, weights_only=True)
    for share, shadow in sweep.kept.items():
        torch.save({**record, "weights": {**record["weights"], **shadow}}, path)
        lifts[share] = resampled_lift(spec=spec, area=area, label=f"ema {share:g}")
        print(f"      in-band spectrum dB (real-vs-real) {in_band_db(arm, spec.dataset.settings)}", flush=True)
    torch.save(record, path)
    return lifts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(SPECS), default=["ecg"])
    parser.add_argument("--runs", type=int, default=1, help="runs per dataset (seed, seed + 1, ...)")
    parser.add_argument("--dp", action="store_true", help="also run the DP release (first)")
    parser.add_argument("--guidance-sweep", type=float, nargs="+", default=None, metavar="W",
                        help="also sample each arm's model (DP and no DP) at these guidance weights; score each")
    parser.add_argument("--ema-sweep", type=float, nargs="+", default=None, metavar="S",
                        help="also keep each arm's weight average at these shares of the steps; score each")
    add_arguments(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lifts = Lifts()
    for dataset in args.datasets:
        for run in range(args.runs):
            run_args = argparse.Namespace(**{**vars(args), "seed": args.seed + run,
                                             "holdout_fraction": args.holdout_fraction or TUNING_HOLDOUT})
            with ExitStack() as stack:
                work = stack.enter_context(temporary_home("synthdata-signal-tuning-"))
                stack.enter_context(benchmark_training_windows_only())
                spec = SPECS[dataset](work=work, model=model_settings(args, DEFAULTS[dataset]), args=run_args)
                spec = spec.model_copy(update={"name": f"{dataset}_tuning"})
                print(f"{dataset.upper()} run {run + 1}/{args.runs} (seed {run_args.seed}), the benchmark's training "
                      f"windows only, load {os.getloadavg()[0]:.1f}", flush=True)
                arms, sweeps = [], []
                if args.ema_sweep:
                    def averages(model, plan, total_steps, sweeps=sweeps):
                        sweeps.append(AverageSweep(model=model, total_steps=total_steps, shares=args.ema_sweep))
                        return sweeps[-1]

                    stack.enter_context(mock.patch.object(training, "_weight_average", averages))
                if args.dp:
                    dp, area = release_arm(spec=spec, run_id="tuning-dp", progress=args.progress)
                    arms.append(dp)
                else:
                    area = prepared_area(spec=spec, run_id="tuning-dp", ledger_file=Path(work) / "ledger.sqlite")
                if not args.dp_only:
                    arms.append(non_private_arm(spec=spec, source=area, run_id="tuning-nodp", progress=args.progress))
                for index, arm in enumerate(arms):
                    print("  " + summary(arm, signal=spec.dataset.settings), flush=True)
                    name = f"{dataset.upper()} {arm.label}"
                    lifts.add(name, lift(arm))
                    if args.ema_sweep:  # one average sweep per training: the arms' trainings in order
                        lifts.add_sweep(name, ema_sweep(spec=spec, arm=arm, sweep=sweeps[index]), kind="ema")
                    if args.guidance_sweep:  # after the average sweep, which puts the last iterate back
                        lifts.add_sweep(name, guidance_sweep(spec=spec, arm=arm, weights=args.guidance_sweep),
                                        kind="guidance")
    lifts.print_medians()


if __name__ == "__main__":
    main()
