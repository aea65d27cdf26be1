"""Benchmark: the one-run canary audit (Steinke, Nasr & Jagielski 2023) on the shipped demo table.

    python -m evaluation.benchmarks.canary_audit [--epochs N] [--canaries 1000] [--confidence 0.95]

Prepares ``synthdata/data/demo.yaml`` (``diabetes_demo.csv``) through ``synthdata.flow.stages.prepare`` into a
temporary SYNTHDATA_HOME with a temporary ledger, then audits fresh trainings with the demo's own plan (its
model preset, clipping norm, timesteps, prediction and delta; ``--epochs`` overrides the preset's epochs to
shorten the run: with the preset's 20 it takes about 4 minutes on 2 cores): DP-SGD at claimed epsilon 1 and 10, and the BROKEN trainer (no clipping, no noise: a
test instrument with no privacy) claiming epsilon 1.  Prints one table.  The claimed epsilon is the
TRAINING epsilon (the demo's DP preprocessing is not audited).  Nothing here asserts, and everything
(private work area, ledger, audited models) is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

DEMO_SPEC = Path(__file__).resolve().parents[2] / "synthdata" / "data" / "demo.yaml"
RUNS: tuple[tuple[str, float], ...] = (("dp", 1.0), ("dp", 10.0), ("broken", 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per audited run (default: preset's)")
    parser.add_argument("--canaries", type=int, default=1000)
    parser.add_argument("--confidence", type=float, default=0.95)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="synthdata-canary-bench-") as tmp:
        work = Path(tmp)
        os.environ["SYNTHDATA_HOME"] = str(work / "home")
        from synthdata import home
        from synthdata.flow import stages
        from synthdata.release_spec import load_spec
        from synthdata.diffusion.process import GaussianDiffusion
        from synthdata.modalities import get_modality
        from synthdata.privacy.canary import run_canary_audit
        from synthdata.privacy.ledger import Ledger
        from synthdata.privacy.training import TrainingPlan
        from synthdata.run_area import RunArea, read_json

        begin = time.perf_counter()
        spec = load_spec(DEMO_SPEC)
        area = RunArea(home.run_dir("canary-bench"))
        ledger = Ledger(path=work / "ledger.sqlite")
        stages.prepare(spec=spec, area=area, ledger=ledger, run_id="canary-bench")
        prepared = read_json(area.prepared / "prepared.json")
        stored = torch.load(area.prepared / "units.pt", weights_only=True)
        modality = get_modality(prepared["modality"])
        codec = modality.read_codec(path=area.prepared / "codec.json")

        def build_model() -> torch.nn.Module:
            torch.manual_seed(spec.seed)  # initialisation: public randomness, as stages.train does
            return modality.build_denoiser(codec=codec, model=spec.model)

        model_spec = spec.model
        epochs = int(model_spec.resolved("epochs")) if args.epochs is None else args.epochs
        plan = TrainingPlan(
            epochs=epochs,
            batch_size=int(model_spec.resolved("batch_size")),
            lr=float(model_spec.resolved("lr")),
            max_grad_norm=model_spec.max_grad_norm,
            augmentation=int(model_spec.resolved("augmentation")),
        )
        diffusion = GaussianDiffusion(timesteps=model_spec.timesteps, prediction=model_spec.prediction)
        delta = float(prepared["delta"])
        print(f"demo: {prepared['units']} privacy units x {prepared['rows_per_unit']} rows x "
              f"{prepared['encoded_width']} encoded features; preset '{model_spec.preset}' "
              f"(hidden {model_spec.resolved('hidden')}, depth {model_spec.resolved('depth')}), "
              f"timesteps {model_spec.timesteps}, prediction {model_spec.prediction}", flush=True)
        print(f"plan: {plan} (preset epochs {model_spec.resolved('epochs')}, used {epochs}); delta {delta:.3g}; "
              f"{args.canaries} canaries; confidence {args.confidence:g} after a union bound over the guess counts; "
              f"torch threads {torch.get_num_threads()}", flush=True)

        rows = []
        for trainer, claimed in RUNS:
            result = run_canary_audit(
                units=stored["data"], mask=stored["mask"], build_model=build_model, diffusion=diffusion, plan=plan,
                epsilon=claimed, delta=delta, accountant=spec.privacy.accountant, canaries=args.canaries,
                trainer=trainer, confidence=args.confidence,
            )
            rows.append((trainer, result))
            print(f"  {trainer} at claimed epsilon {claimed:g}: lower bound "
                  f"{result.empirical_epsilon_lower_bound:.2f} ({result.seconds:.0f} s)", flush=True)

        header = ("trainer", "claimed eps", "eps spent", "canaries", "included", "guesses", "correct",
                  "lower bound", "max certifiable", "verdict", "seconds")
        table = [header]
        for trainer, r in rows:
            spent = "-" if r.training_epsilon_spent is None else f"{r.training_epsilon_spent:.3f}"
            table.append((
                "dp" if trainer == "dp" else "BROKEN (no DP)", f"{r.claimed_epsilon:g}", spent, str(r.canaries),
                str(r.included), str(r.guesses), str(r.correct), f"{r.empirical_epsilon_lower_bound:.2f}",
                f"{r.max_certifiable_epsilon:.2f}", "pass" if r.passed else "FAIL", f"{r.seconds:.0f}",
            ))
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        print()
        for i, row in enumerate(table):
            print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
            if i == 0:
                print("  ".join("-" * w for w in widths))
        print(f"\ntotal {time.perf_counter() - begin:.0f} s (prepare included); guess counts tried per run: "
              f"{list(rows[0][1].guess_counts_tried)}; 'pass' = lower bound <= claimed epsilon")


if __name__ == "__main__":
    main()
