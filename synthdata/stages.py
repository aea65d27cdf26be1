"""The release flow, one function per stage, shared by every modality and by every way of running it.

``prepare -> train -> sample -> audit -> export``.  Each stage reads and writes files in the run's private
work area (``RunArea``) and returns a small JSON-able summary of aggregates (what Dagster may record).  The
Dagster assets (pipelines/) and the plain Python API (synthdata.api) call these functions; neither moves
private rows anywhere else.

Privacy: the ledger reserves the release's whole epsilon before any private data is read through a
mechanism, DP randomness comes from OS entropy (``synthdata.privacy.randomness``), the holdout never
reaches training, and ``export`` re-checks the audit results itself before writing anything.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from evaluation.base import AuditContext, AuditResult, AuditSettings
from evaluation.gates import blocking, check_gate_names, run_audits
from evaluation.registry import AUDITS
from evaluation.report.html import render_report
from evaluation.report.plots import column_plots
from synthdata import home
from synthdata.config import ReleaseSpec, default_delta
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.diffusion.samplers import SAMPLERS
from synthdata.errors import BadInputError, GateFailedError
from synthdata.export.atomic import atomic_folder, check_output_free
from synthdata.export.manifest import file_entries, package_versions, sha256_file, write_manifest
from synthdata.modalities import get_modality
from synthdata.modalities.base import Units
from synthdata.privacy.ledger import Ledger
from synthdata.privacy.training import TrainingPlan, train_private
from synthdata.versions import __version__

log = logging.getLogger("synthdata")


@dataclass(frozen=True)
class RunArea:
    """Paths inside one run's private work area."""

    root: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path

    @property
    def prepared(self) -> Path:
        return self._dir("prepared")

    @property
    def model(self) -> Path:
        return self._dir("model")

    @property
    def synthetic(self) -> Path:
        return self._dir("synthetic")

    @property
    def report(self) -> Path:
        return self.synthetic / "report.html"


def _write_json(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return data


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BadInputError(f"{path} is missing: run the earlier stages of this release first")
    return json.loads(path.read_text(encoding="utf-8"))


def validate(*, spec: ReleaseSpec) -> None:
    """Checks that need no private-data mechanism: spec gates, output folder, input readable and valid."""
    check_gate_names(spec.audits.gates)
    if "{" not in str(spec.output.out):
        check_output_free(spec.output.out)
    modality = get_modality(spec.dataset.modality)
    source = modality.load(dataset=spec.dataset, privacy=spec.privacy)
    modality.split(source=source, holdout_fraction=spec.audits.holdout_fraction, seed=spec.seed)


def prepare(*, spec: ReleaseSpec, area: RunArea, ledger: Ledger, run_id: str) -> dict[str, Any]:
    """Load and validate, reserve the budget, split, learn the public encoding (DP if needed), encode."""
    check_gate_names(spec.audits.gates)
    modality = get_modality(spec.dataset.modality)
    log.info("prepare: reading and validating %s", spec.dataset.path.name)
    source = modality.load(dataset=spec.dataset, privacy=spec.privacy)
    fingerprint = modality.fingerprint(source=source)
    train, holdout = modality.split(source=source, holdout_fraction=spec.audits.holdout_fraction, seed=spec.seed)
    n_units = modality.count_units(source=train)
    delta = spec.privacy.delta if spec.privacy.delta is not None else default_delta(n_units)
    ledger.reserve(
        fingerprint=fingerprint,
        name=spec.dataset.path.name,
        run_id=run_id,
        release=spec.name,
        epsilon=spec.privacy.epsilon,
        delta=delta,
        total_epsilon=spec.privacy.total_epsilon,
    )
    log.info("prepare: reserved epsilon %g on the ledger; %d privacy units in training", spec.privacy.epsilon, n_units)
    share = spec.privacy.preprocessing_share if modality.needs_preprocessing(source=train) else 0.0
    dp_rng = (
        np.random.default_rng([spec.seed, 3]) if spec.privacy.reproducible else np.random.default_rng(secrets.randbits(128))
    )
    codec, pre = modality.resolve(
        train=train, epsilon=spec.privacy.epsilon * share, delta=delta * share, privacy=spec.privacy, rng=dp_rng
    )
    train_rows = modality.records(source=train, codec=codec, privacy=spec.privacy, seed=spec.seed)
    holdout_rows = modality.records(source=holdout, codec=codec, privacy=spec.privacy, seed=spec.seed + 1)
    units = modality.to_units(data=train_rows, codec=codec)
    folder = area.prepared
    modality.save_data(data=train_rows, path=folder / "train.parquet")
    modality.save_data(data=holdout_rows, path=folder / "holdout.parquet")
    modality.save_codec(codec=codec, path=folder / "codec.json")
    torch.save({"data": units.data, "mask": units.mask}, folder / "units.pt")
    return _write_json(
        folder / "prepared.json",
        {
            "modality": modality.name,
            "fingerprint": fingerprint,
            "reservation_run_id": run_id,
            "units": units.count,
            "train_records": modality.count_records(data=train_rows),
            "holdout_records": modality.count_records(data=holdout_rows),
            "encoded_width": int(units.data.shape[-1]),
            "rows_per_unit": int(units.data.shape[1]),
            "delta": delta,
            "epsilon_preprocessing": pre.epsilon,
            "delta_preprocessing": pre.delta,
            "preprocessing_columns": pre.columns,
            "notes": pre.notes,
            "privacy_unit": modality.privacy_unit(source=source, privacy=spec.privacy),
        },
    )


def train(
    *, spec: ReleaseSpec, area: RunArea, ledger: Ledger, run_id: str, progress: bool = True
) -> dict[str, Any]:
    """DP-SGD training of the denoiser for the training share of epsilon; settles the ledger."""
    prepared = _read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    stored = torch.load(area.prepared / "units.pt", weights_only=True)
    units = Units(data=stored["data"], mask=stored["mask"])
    epsilon_pre, delta_pre = prepared["epsilon_preprocessing"], prepared["delta_preprocessing"]
    epsilon_train = spec.privacy.epsilon - epsilon_pre
    delta_train = prepared["delta"] - delta_pre
    fingerprint = prepared["fingerprint"]
    reservation = prepared["reservation_run_id"]
    state = ledger.history(fingerprint=fingerprint)
    # What this run still has to charge: the preprocessing was charged already when retraining from
    # earlier prepared data (e.g. re-materialising the model in the UI), but the release's guarantee
    # still composes it with this training.
    charged_pre, charged_delta_pre = epsilon_pre, delta_pre
    if not any(c["run_id"] == reservation and c["status"] == "reserved" for c in state):
        reservation = run_id
        charged_pre = charged_delta_pre = 0.0
        ledger.reserve(
            fingerprint=fingerprint, name=spec.dataset.path.name, run_id=run_id, release=spec.name,
            epsilon=epsilon_train, delta=delta_train,
        )
    torch.manual_seed(spec.seed)  # model initialisation only: public randomness
    model = modality.build_denoiser(codec=codec, model=spec.model)
    diffusion = GaussianDiffusion(timesteps=spec.model.timesteps, prediction=spec.model.prediction)
    plan = TrainingPlan(
        epochs=int(spec.model.resolved("epochs")),
        batch_size=int(spec.model.resolved("batch_size")),
        lr=float(spec.model.resolved("lr")),
        max_grad_norm=spec.model.max_grad_norm,
        augmentation=int(spec.model.resolved("augmentation")),
    )
    log.info("train: DP-SGD for epsilon %.4g, delta %.2g (%d units, %d epochs)", epsilon_train, delta_train,
             units.count, plan.epochs)
    try:
        outcome = train_private(
            model=model, diffusion=diffusion, units=units.data, mask=units.mask, plan=plan,
            epsilon=epsilon_train, delta=delta_train, accountant=spec.privacy.accountant,
            reproducible_seed=spec.seed if spec.privacy.reproducible else None, progress=progress,
        )
    except BadInputError:
        if charged_pre > 0:
            ledger.settle(fingerprint=fingerprint, run_id=reservation, epsilon=charged_pre, delta=charged_delta_pre,
                          mechanisms=[{"stage": "preprocessing", "epsilon": charged_pre, "delta": charged_delta_pre}])
        else:
            ledger.cancel(fingerprint=fingerprint, run_id=reservation)
        raise
    torch.save(model.state_dict(), area.model / "denoiser.pt")
    epsilon_total = epsilon_pre + float(outcome.epsilon or 0.0)
    delta_total = delta_pre + float(outcome.delta or 0.0)
    mechanisms = [
        {"stage": "training", "mechanism": "DP-SGD (Opacus, Poisson sampling, Gaussian noise)",
         "noise_multiplier": outcome.noise_multiplier, "sample_rate": outcome.sample_rate,
         "steps": outcome.steps, "accountant": outcome.accountant, "epsilon": outcome.epsilon,
         "delta": outcome.delta},
    ]
    if charged_pre > 0:
        mechanisms.insert(0, {"stage": "preprocessing", "mechanism": "noisy histograms (Laplace)",
                              "columns": prepared["preprocessing_columns"], "epsilon": charged_pre,
                              "delta": charged_delta_pre})
    ledger.settle(fingerprint=fingerprint, run_id=reservation, epsilon=charged_pre + float(outcome.epsilon or 0.0),
                  delta=charged_delta_pre + float(outcome.delta or 0.0), mechanisms=mechanisms)
    return _write_json(
        area.model / "training.json",
        {
            **asdict(outcome),
            "epsilon_training": outcome.epsilon,
            "delta_training": outcome.delta,
            "epsilon_preprocessing": epsilon_pre,
            "delta_preprocessing": delta_pre,
            "epsilon": epsilon_total,
            "delta_total": delta_total,
            "composition": "basic (sequential) composition of DP preprocessing and DP-SGD training",
            "plan": asdict(plan),
            "mechanisms": mechanisms,
        },
    )


def sample(*, spec: ReleaseSpec, area: RunArea) -> dict[str, Any]:
    """Draw synthetic records from the trained denoiser (post-processing: no privacy cost)."""
    prepared = _read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    model = modality.build_denoiser(codec=codec, model=spec.model)
    weights = area.model / "denoiser.pt"
    if not weights.is_file():
        raise BadInputError(f"{weights} is missing: train the model first")
    model.load_state_dict(torch.load(weights, weights_only=True))
    diffusion = GaussianDiffusion(timesteps=spec.model.timesteps, prediction=spec.model.prediction)
    n = spec.output.records or prepared["train_records"]
    log.info("sample: %d synthetic records with %s", n, spec.model.sampler.upper())
    generator = torch.Generator().manual_seed(spec.seed)
    kwargs = {"steps": spec.model.sample_steps} if spec.model.sampler == "ddim" else {}
    array = SAMPLERS[spec.model.sampler](
        model=model, diffusion=diffusion, shape=(n, prepared["encoded_width"]), generator=generator, **kwargs
    )
    data = modality.decode(codec=codec, array=array.numpy())
    path = modality.save_data(data=data, path=area.synthetic / "synthetic.parquet")
    return _write_json(
        area.synthetic / "synthetic.json",
        {"records": modality.count_records(data=data), "sha256": sha256_file(path), "sampler": spec.model.sampler},
    )


def privacy_statement(*, spec: ReleaseSpec, prepared: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """The figures and plain facts behind the report's privacy statement and the manifest."""
    public_facts = [
        "The number of privacy units and records in the training split is treated as public "
        "(as DP-SGD's sampling rate is).",
        "Column domains declared in the schema (bounds, category lists) are treated as public knowledge.",
    ]
    if prepared["preprocessing_columns"]:
        public_facts.append(
            "Domains learned with DP from the budget: " + ", ".join(prepared["preprocessing_columns"]) + "."
        )
    return {
        "epsilon": training["epsilon"],
        "delta": training["delta_total"],
        "epsilon_training": training["epsilon_training"],
        "epsilon_preprocessing": training["epsilon_preprocessing"],
        "delta_preprocessing": training["delta_preprocessing"],
        "privacy_unit": prepared["privacy_unit"],
        "accountant": training["accountant"],
        "composition": training["composition"],
        "noise_source": training["noise_source"],
        "dp_valid": bool(training["dp_valid"]),
        "public_facts": public_facts,
        "noise_multiplier": training["noise_multiplier"],
        "steps": training["steps"],
        "sample_rate": training["sample_rate"],
    }


def audit(
    *, spec: ReleaseSpec, area: RunArea, on_progress: Callable[[str], None] | None = None
) -> list[AuditResult]:
    """Run every audit on real train / holdout vs synthetic; write audit.json and the report."""
    prepared = _read_json(area.prepared / "prepared.json")
    training = _read_json(area.model / "training.json")
    synthetic_info = _read_json(area.synthetic / "synthetic.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    frames = {
        name: modality.audit_frames(data=modality.read_data(path=path, codec=codec), codec=codec)
        for name, path in {
            "train": area.prepared / "train.parquet",
            "holdout": area.prepared / "holdout.parquet",
            "synthetic": area.synthetic / "synthetic.parquet",
        }.items()
    }
    context = AuditContext(
        modality=prepared["modality"], **frames, schema=codec.schema, target=spec.dataset.target,
        settings=AuditSettings(max_rows=spec.audits.max_rows, seed=spec.seed),
    )
    results = run_audits(context=context, gates=spec.audits.gates, on_progress=on_progress or (lambda n: log.info("audit: %s", n)))
    failed = blocking(results)
    _write_json(
        area.synthetic / "audit.json",
        {"synthetic_sha256": synthetic_info["sha256"], "passed": not failed,
         "audits": [r.to_dict() for r in results]},
    )
    release = {
        "name": spec.name,
        "status": "blocked" if failed else "released",
        "reasons": [f"{r.title}: {r.value:.3g} fails its threshold {r.threshold:g}" for r in failed],
        "records": synthetic_info["records"],
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "synthdata_version": __version__,
        "seed": spec.seed,
        "modality": prepared["modality"],
        "licence": spec.dataset.licence,
        "attribution": spec.dataset.attribution,
    }
    html = render_report(
        release=release,
        privacy=privacy_statement(spec=spec, prepared=prepared, training=training),
        results=results,
        column_plots=column_plots(train=frames["train"], synthetic=frames["synthetic"], schema=codec.schema),
        notes=prepared["notes"],
    )
    area.report.write_text(html, encoding="utf-8")
    return results


def verified_results(*, area: RunArea, spec: ReleaseSpec) -> list[AuditResult]:
    """The audit results of this run's synthetic data, checked by the export step itself.

    Raises GateFailedError unless audit.json exists, refers to the synthetic file as it is now, holds every
    registered gated audit, and none of them failed.
    """
    record = _read_json(area.synthetic / "audit.json")
    synthetic = area.synthetic / "synthetic.parquet"
    if sha256_file(synthetic) != record["synthetic_sha256"]:
        raise GateFailedError("the synthetic data changed after it was audited; audit it again before export")
    results = [AuditResult.from_dict(r) for r in record["audits"]]
    names = {r.name for r in results}
    modality = _read_json(area.prepared / "prepared.json")["modality"]
    required = [
        name for name, cls in AUDITS.items()
        if cls.default_threshold is not None and modality in cls.modalities
        and (spec.dataset.target is not None or not getattr(cls, "requires_target", False))
    ]
    missing = [name for name in required if name not in names]
    if missing:
        raise GateFailedError(f"audits missing from the audit record: {', '.join(missing)}")
    failed = blocking(results)
    if failed:
        raise GateFailedError(
            "export refused, gates failed: " + "; ".join(f"{r.name} = {r.value:.3g} (threshold {r.threshold:g})" for r in failed)
        )
    return results


def export(*, spec: ReleaseSpec, area: RunArea, run_id: str) -> dict[str, Any]:
    """Write the release folder atomically, only if every gate passed (checked here, not only upstream)."""
    results = verified_results(area=area, spec=spec)
    out = spec.output_folder(run_id=run_id, home=home.home())
    prepared = _read_json(area.prepared / "prepared.json")
    training = _read_json(area.model / "training.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    data = modality.read_data(path=area.synthetic / "synthetic.parquet", codec=codec)
    privacy = privacy_statement(spec=spec, prepared=prepared, training=training)
    provenance = {
        "synthetic": "true",
        "generator": f"synthdata {__version__} (DP diffusion)",
        "epsilon": f"{privacy['epsilon']:.6g}",
        "delta": f"{privacy['delta']:.3g}",
        "privacy_unit": privacy["privacy_unit"],
        "dp_valid": str(privacy["dp_valid"]).lower(),
    }
    log.info("export: every gate passed; writing %s", out)
    with atomic_folder(out) as staging:
        names = modality.write_release(data=data, folder=staging, provenance=provenance)
        shutil.copyfile(area.report, staging / "report.html")
        shutil.copyfile(area.synthetic / "audit.json", staging / "audit.json")
        (staging / "spec.yaml").write_text(spec.to_yaml(), encoding="utf-8")
        names += ["report.html", "audit.json", "spec.yaml"]
        manifest = {
            "name": spec.name,
            "synthetic": True,
            "modality": prepared["modality"],
            "records": modality.count_records(data=data),
            "epsilon": privacy["epsilon"],
            "epsilon_training": privacy["epsilon_training"],
            "epsilon_preprocessing": privacy["epsilon_preprocessing"],
            "delta": privacy["delta"],
            "privacy_unit": privacy["privacy_unit"],
            "accountant": privacy["accountant"],
            "composition": privacy["composition"],
            "noise_source": privacy["noise_source"],
            "dp_valid": privacy["dp_valid"],
            "dataset_fingerprint": prepared["fingerprint"],
            "audits": [
                {k: r.to_dict()[k] for k in ("name", "category", "value", "interval", "threshold", "passed")}
                for r in results
            ],
            "files": file_entries(folder=staging, names=names),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "synthdata_version": __version__,
            "package_versions": package_versions(),
            "seed": spec.seed,
            "licence": spec.dataset.licence,
            "attribution": spec.dataset.attribution,
            "spec": spec.model_dump(mode="json", by_alias=True),
        }
        write_manifest(folder=staging, manifest=manifest)
    return {"out": str(out), "records": manifest["records"], "files": len(names) + 1}
