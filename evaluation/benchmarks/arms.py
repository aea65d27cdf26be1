"""Shared machinery of the signal and image benchmarks: a DP release beside its no-DP twin, per-step costs.

``release_arm`` runs the real release stages (``stages.prepare / train / sample``, ``publish.audit``, then
``publish.export``, which writes only when every gate passes) in the current ``SYNTHDATA_HOME``.
``non_private_arm`` copies that run's prepared units and codec into a second work area, trains the same
denoiser (same initialisation seed, same plan) with ``train_non_private`` (epsilon = infinity: no clipping,
no noise, no guarantee), samples it with ``stages.sample`` and audits it with the same context and gates as
``publish.audit`` builds (through ``evaluation.gate.run_audits``; no report, never exported).

``compare`` runs both arms of one dataset and the per-step costs (``evaluation.benchmarks.step_costs``);
``evaluation.benchmarks.rows`` turns them into the printed table.  The command-line flags both benchmarks take
are here too.

Privacy caveat: everything here reads private data into a temporary work area and prints aggregates only.
The no-DP arm has NO privacy guarantee; it exists to show what DP costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from evaluation.base import AuditContext, AuditResult, AuditSettings
from evaluation.benchmarks.step_costs import StepCost, step_costs
from evaluation.gate import blocking, run_audits, unjudged
from synthdata import home
from synthdata.config import ReleaseSpec
from synthdata.diffusion.trained import trained_record
from synthdata.errors import GateFailedError
from synthdata.export.manifest import write_json
from synthdata.flow import publish, stages
from synthdata.modalities import get_modality
from synthdata.privacy.ledger import Ledger
from synthdata.privacy.training import train_non_private
from synthdata.release_spec import parse_spec
from synthdata.run_area import RunArea, read_json

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHOWN = ("preset", "epochs", "batch_size", "lr", "augmentation", "unet_base")


def shared_file(*parts: str) -> Path:
    """A file under ``../shared/data`` beside the checkout; exits with a clear message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.is_file():
        raise SystemExit(f"{path} not found: this benchmark needs the shared real data beside the checkout "
                         f"({SHARED_DATA}, see its README.md)")
    return path


def peak_mib() -> float:
    """Peak resident memory of this process so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def temporary_home(prefix: str) -> Iterator[Path]:
    """A temporary folder set as ``SYNTHDATA_HOME`` (its ``home/``) for the duration; deleted afterwards."""
    import tempfile

    before = os.environ.get("SYNTHDATA_HOME")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        os.environ["SYNTHDATA_HOME"] = str(Path(tmp) / "home")
        try:
            yield Path(tmp)
        finally:
            if before is None:
                os.environ.pop("SYNTHDATA_HOME", None)
            else:
                os.environ["SYNTHDATA_HOME"] = before


@dataclass(frozen=True)
class Arm:
    """One trained generator and what its synthetic data scored.

    ``training`` holds the trainer's outcome (``seconds`` is the training loop only, ``records_per_second``
    privacy units per second); ``train_seconds`` is the whole stage (noise calibration, ledger, saving).
    ``peak_mib`` is the process's peak RSS when the arm finished (a running maximum over the process).
    ``root`` is the arm's work area (its data files stay there until the temporary home is deleted);
    ``prepared`` is the run's ``prepared.json`` (counts of units and records, delta, DP preprocessing).
    ``load`` is the 1-minute load average before and after training: other work on the machine slows
    training, and the figures mean little when it is well above 0.
    """

    label: str
    root: Path
    prepared: dict[str, Any]
    training: dict[str, Any]
    train_seconds: float
    sample_seconds: float
    audit_seconds: float
    records: int
    results: dict[str, AuditResult]
    gate: str
    peak_mib: float
    load: tuple[float, float]


def _timed(fn: Callable[..., Any], **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(**kwargs)
    return value, time.perf_counter() - start


def release_arm(*, spec: ReleaseSpec, run_id: str, progress: bool = False) -> tuple[Arm, RunArea]:
    """The DP release through the real stages in the current home; exported only if every gate passes."""
    area = RunArea(home.run_dir(run_id))
    ledger = Ledger(path=home.home() / "ledger.sqlite")
    stages.prepare(spec=spec, area=area, ledger=ledger, run_id=run_id)
    load = os.getloadavg()[0]
    training, train_seconds = _timed(stages.train, spec=spec, area=area, ledger=ledger, run_id=run_id,
                                     progress=progress)
    load = (load, os.getloadavg()[0])
    synthetic, sample_seconds = _timed(stages.sample, spec=spec, area=area)
    results, audit_seconds = _timed(publish.audit, spec=spec, area=area)
    try:
        publish.export(spec=spec, area=area, run_id=run_id)
        gate = "released" + _unjudged(results)
    except GateFailedError:
        gate = "blocked: " + ", ".join(r.name for r in blocking(results))
    arm = Arm(label=f"ε={spec.privacy.epsilon:g}", root=area.root, prepared=read_json(area.prepared / "prepared.json"),
              training=training, train_seconds=train_seconds, sample_seconds=sample_seconds,
              audit_seconds=audit_seconds, records=synthetic["records"], results={r.name: r for r in results},
              gate=gate, peak_mib=peak_mib(), load=load)
    return arm, area


def non_private_arm(*, spec: ReleaseSpec, source: RunArea, run_id: str, progress: bool = False) -> Arm:
    """The epsilon = infinity twin of a release: same prepared units, model, plan, sampler and audits."""
    area = RunArea(home.run_dir(run_id))
    shutil.copytree(source.prepared, area.prepared, dirs_exist_ok=True)
    prepared = read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    stored = torch.load(area.prepared / "units.pt", weights_only=True)
    torch.manual_seed(spec.seed)  # the same initial weights as the DP arm (stages.train seeds the same way)
    model = modality.build_denoiser(codec=codec, model=spec.model)
    load, start = os.getloadavg()[0], time.perf_counter()
    diffusion = stages.diffusion_for(spec=spec, modality=modality, codec=codec)
    outcome = train_non_private(model=model, diffusion=diffusion, units=stored["data"], mask=stored["mask"],
                                plan=stages.training_plan(spec), seed=spec.seed, progress=progress)
    torch.save(trained_record(model=model, diffusion=diffusion), area.model / "denoiser.pt")
    train_seconds, load = time.perf_counter() - start, (load, os.getloadavg()[0])
    training = write_json(area.model / "training_non_private.json", asdict(outcome))
    synthetic, sample_seconds = _timed(stages.sample, spec=spec, area=area)
    results, audit_seconds = _timed(audit_area, spec=spec, area=area)
    failed = blocking(results)
    gate = ("would be blocked: " + ", ".join(r.name for r in failed)) if failed else "gates would pass" + \
        _unjudged(results)
    return Arm(label="ε=∞ (no DP)", root=area.root, prepared=prepared, training=training,
               train_seconds=train_seconds, sample_seconds=sample_seconds, audit_seconds=audit_seconds,
               records=synthetic["records"], results={r.name: r for r in results},
               gate=gate + " (never exported: not DP)", peak_mib=peak_mib(), load=load)


def _unjudged(results: list[AuditResult]) -> str:
    """`` (not judged: ...)`` naming the gated audits too uncertain to judge, else `` (every gate passed)``."""
    names = [r.name for r in unjudged(results)]
    return f" (not judged: {', '.join(names)})" if names else " (every gate passed)"


def audit_area(*, spec: ReleaseSpec, area: RunArea, names: Sequence[str] | None = None) -> list[AuditResult]:
    """Every registered audit (or those in ``names``) on a work area's train / holdout / synthetic data, with
    the context and gates ``publish.audit`` uses (no report, no audit record)."""
    modality = get_modality(read_json(area.prepared / "prepared.json")["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    paths = {"train": area.prepared / modality.data_file("train"),
             "holdout": area.prepared / modality.data_file("holdout"),
             "synthetic": area.synthetic / modality.data_file("synthetic")}
    frames = {name: modality.audit_frames(data=modality.read_data(path=path, codec=codec), codec=codec)
              for name, path in paths.items()}
    context = AuditContext(modality=modality.name, **frames, schema=modality.audit_schema(codec=codec),
                           target=spec.dataset.target,
                           settings=AuditSettings(max_rows=spec.audits.max_rows, seed=spec.seed))
    return run_audits(context=context, gates=spec.audits.gates, names=names)


# --- command line -------------------------------------------------------------------------------------------

MODEL_FLAGS: tuple[tuple[str, type], ...] = (
    ("preset", str), ("epochs", int), ("batch_size", int), ("lr", float), ("augmentation", int),
    ("unet_base", int), ("guidance", float), ("sample_steps", int), ("data_scale", float), ("ema", float),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags both benchmarks take: budget, model fields (default: the benchmark's tuned settings), sizes."""
    parser.add_argument("--epsilon", type=float, default=10.0, help="privacy budget of the DP arm")
    for name, kind in MODEL_FLAGS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                            choices=["fast", "standard"] if name == "preset" else None,
                            help=f"model.{name} (default: the benchmark's setting for each dataset)")
    parser.add_argument("--records", type=int, default=None, help="synthetic records (default: training size)")
    parser.add_argument("--holdout-fraction", type=float, default=None,
                        help="audits.holdout_fraction (default: the benchmark's, as in the example spec)")
    parser.add_argument("--seed", type=int, default=1234, help="public seed: initialisation, split, sampling")
    parser.add_argument("--step-count", type=int, default=5, help="timed steps per mode (0: skip step costs)")
    parser.add_argument("--dp-only", action="store_true", help="skip the no-DP arm (for tuning)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's, one per core; 1 when sharing the machine)")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")


def bench_spec(*, name: str, dataset: dict[str, Any], model: dict[str, Any], args: argparse.Namespace,
               holdout_fraction: float, records: int | None = None) -> ReleaseSpec:
    """A release spec for a benchmark run: ``privacy.total_epsilon`` is the run's epsilon (a fresh ledger per
    dataset), the output goes under the temporary home; ``--holdout-fraction`` and ``--records`` override the
    benchmark's ``holdout_fraction`` and ``records`` (None: as many as the training split)."""
    return parse_spec({
        "name": name,
        "dataset": dataset,
        "privacy": {"epsilon": args.epsilon, "total_epsilon": args.epsilon},
        "model": model,
        "audits": {"holdout_fraction": args.holdout_fraction or holdout_fraction},
        "output": {"out": "{home}/releases/{name}-{run_id}", "records": args.records or records},
        "seed": args.seed,
    }, source=f"{name} benchmark spec")


def model_settings(args: argparse.Namespace, defaults: dict[str, Any]) -> dict[str, Any]:
    """The spec's ``model`` section: the benchmark's defaults, overridden by the flags given."""
    given = {name: getattr(args, name) for name, _ in MODEL_FLAGS if getattr(args, name) is not None}
    return {**defaults, **given}


@dataclass(frozen=True)
class Comparison:
    """One dataset's arms (DP first) and step costs."""

    name: str
    settings: dict[str, Any]
    arms: list[Arm]
    costs: list[StepCost]


def compare(*, name: str, spec: ReleaseSpec, args: argparse.Namespace) -> Comparison:
    """The DP release, its no-DP twin (unless ``--dp-only``) and the step costs (unless ``--step-count 0``)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    dp, area = release_arm(spec=spec, run_id=f"{spec.name}-dp", progress=args.progress)
    print(f"{name}: DP arm done ({dp.train_seconds:.0f} s training), {dp.gate}", flush=True)
    arms = [dp]
    if not args.dp_only:
        arms.append(non_private_arm(spec=spec, source=area, run_id=f"{spec.name}-nodp", progress=args.progress))
        print(f"{name}: no-DP arm done ({arms[1].train_seconds:.0f} s training)", flush=True)
    costs = step_costs(spec=spec, area=area, steps=args.step_count, threads=args.threads) if args.step_count > 0 else []
    settings = {key: spec.model.resolved(key) for key in SHOWN}
    return Comparison(name=name, settings={**settings, "guidance": spec.model.guidance,
                                           "sample_steps": spec.model.sample_steps,
                                           "data_scale": spec.model.data_scale, "ema": spec.model.ema},
                      arms=arms, costs=costs)
