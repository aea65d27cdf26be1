"""The release's last stages: audit the synthetic data, record a sign-off, export.

``audit`` runs the suite and writes ``audit.json``, the report inputs and the pre-export reports into the run's
private work area; ``approve`` records who signed off (when the spec requires it); ``export`` checks the audit
record itself (not only the orchestrator's state), renders the public report with the sign-off, and writes the
release folder atomically.

Privacy: audit figures are aggregates computed outside the DP guarantee; the internal report (closest record
pairs, real records) is written only into the private work area, never into the release.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation import gate
from evaluation.base import AuditContext, AuditResult, AuditSettings, split_groups
from evaluation.gate import status_of, unjudged
from evaluation.suite import ReportInputs, audit_and_report, write_reports
from synthdata import home
from synthdata.config import ReleaseSpec
from synthdata.errors import AwaitingApprovalError, BadInputError, GateFailedError
from synthdata.export.atomic import atomic_folder, check_output_free
from synthdata.flow import approvers, databases, generation
from synthdata.export.manifest import (
    file_entries,
    package_versions,
    sha256_tree,
    write_json,
    write_manifest,
)
from synthdata.modalities import get_modality
from synthdata.modalities.base import AnyModality, DatabaseModality
from synthdata.run_area import RunArea, read_json
from synthdata.versions import __version__

log = logging.getLogger("synthdata")


def privacy_statement(*, spec: ReleaseSpec, prepared: dict[str, Any], training: dict[str, Any],
                      canary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The figures and plain facts behind the report's privacy statement and the manifest.

    ``canary`` (the canary audit's record, when the spec asked for one): its throwaway model trained on the
    same data, and its figures are published with the release, so the release as a whole is stated as the
    composition of both trainings (basic composition)."""
    public_facts = [
        "The number of privacy units in the training split is treated as public (as DP-SGD's sampling rate is); the "
        "number of rows of each table is not published." if prepared.get("parts") else
        "The number of privacy units and records in the training split is treated as public "
        "(as DP-SGD's sampling rate is).",
        get_modality(prepared["modality"]).declared_public,
    ]
    if training.get("pretrain"):
        prior = training["pretrain"]
        public_facts.append(
            f"The denoiser was first trained without privacy cost on {prior['records']} records declared public "
            f"({prior['path']}, {prior['epochs']} epochs), then fine-tuned with DP-SGD on the private data; the "
            "declared-public records were checked to share no record with the private data (by content). The "
            "guarantee covers the private data only: whatever the public records reveal, they reveal anyway.")
    if prepared["preprocessing_columns"]:
        public_facts.append(
            "Domains learned with DP from the budget: " + ", ".join(prepared["preprocessing_columns"]) + "."
        )
    # a run that is not DP (reproducible noise, or domains read from the private data) states no epsilon anywhere
    dp = bool(training["dp_valid"]) and bool(prepared.get("inputs_dp_valid", True))
    return {
        "epsilon": training["epsilon"] if dp else None,
        "delta": training["delta_total"] if dp else None,
        "epsilon_training": training["epsilon_training"] if dp else None,
        "epsilon_basic_composition": training.get("epsilon_basic_composition") if dp else None,
        "epsilon_preprocessing": training["epsilon_preprocessing"] if dp else None,
        "delta_preprocessing": training["delta_preprocessing"] if dp else None,
        "epsilon_marginals": training.get("epsilon_marginals") or None if dp else None,
        "delta_marginals": training.get("delta_marginals") or None if dp else None,
        "privacy_unit": prepared["privacy_unit"],
        "accountant": training["accountant"],
        "composition": training["composition"],
        "noise_source": _noise_source(training, dp=dp),
        "dp_valid": dp,
        "public_facts": public_facts,
        "noise_multiplier": training["noise_multiplier"],
        "steps": training["steps"],
        "sample_rate": training["sample_rate"],
        **({"weight_average": _weight_average(training)} if (training.get("plan") or {}).get("ema") else {}),
        "ledger": training.get("ledger"),
        **(_with_canary(training, canary) if canary and dp else {}),
        **({"epsilon_per_table": training["epsilon_per_part"], "epsilon_structure": training.get("epsilon_structure")}
           if dp and training.get("epsilon_per_part") else {}),
        **({key: training[key] for key in ("marginals_share_per_table", "marginals_share_chosen")}
           if dp and training.get("marginals_share_per_table") else {}),
        **({"loading_counts": training["loading_counts"]} if dp and training.get("loading_counts") else {}),
    }


def _weight_average(training: dict[str, Any]) -> str:
    """What the released denoiser is when the plan kept a moving average of its weights."""
    return (f"the released denoiser's weights are an exponential moving average of the DP-SGD iterates (time "
            f"constant {training['plan']['ema']:.0%} of the {training['steps']} steps); the accountant counts every "
            "iterate as released, so the average is post-processing, covered by the same guarantee at no extra ε")


HISTOGRAM_NOISE = ("the noisy histograms measured before training (column domains, column distributions): "
                   "numpy's PCG64 seeded from 128 bits of OS entropy, never recorded; not hardened against "
                   "floating-point attacks either")


def _noise_source(training: dict[str, Any], *, dp: bool) -> str:
    """Where every DP noise draw of the release came from: training's generator, and numpy's for the noisy
    histograms of ``prepare`` when any were measured."""
    measured = (training.get("epsilon_preprocessing") or 0) > 0 or (training.get("epsilon_marginals") or 0) > 0
    return f"training: {training['noise_source']}; {HISTOGRAM_NOISE}" if dp and measured else training["noise_source"]


def _with_canary(training: dict[str, Any], canary: dict[str, Any]) -> dict[str, Any]:
    """The guarantee of everything published (synthetic data and the canary audit's figures)."""
    epsilon_canary = float(canary.get("training_epsilon_spent") or canary["claimed_epsilon"])
    delta_canary = float(canary["delta"])
    return {"epsilon_canary_audit": epsilon_canary, "delta_canary_audit": delta_canary,
            "epsilon_with_canary_audit": training["epsilon"] + epsilon_canary,
            "delta_with_canary_audit": training["delta_total"] + delta_canary}


def _canary(area: RunArea) -> dict[str, Any] | None:
    path = area.model / "canary_audit.json"
    return read_json(path) if path.is_file() else None


def audit(
    *, spec: ReleaseSpec, area: RunArea, on_progress: Callable[[str], None] | None = None
) -> list[AuditResult]:
    """Run every audit on real train / holdout vs synthetic; write audit.json, report inputs and reports."""
    prepared = read_json(area.prepared / "prepared.json")
    training = read_json(area.model / "training.json")
    synthetic_info = read_json(area.synthetic / "synthetic.json")
    modality = get_modality(prepared["modality"])
    if isinstance(modality, DatabaseModality):  # each table's view is a part (AuditContext.parts)
        frames = {"train": modality.audit_view(data=area.prepared / "train", model_folder=area.model, synthetic=False),
                  "holdout": modality.audit_view(data=area.prepared / "holdout", model_folder=area.model,
                                                 synthetic=False),
                  "synthetic": modality.audit_view(data=synthetic_path(area, modality), model_folder=area.model,
                                                   synthetic=True)}
        groups, schema = {}, None
    else:
        codec = modality.read_codec(path=area.prepared / "codec.json")
        data = {name: modality.read_data(path=path, codec=codec) for name, path in {
            "train": area.prepared / modality.data_file("train"),
            "holdout": area.prepared / modality.data_file("holdout"),
            "synthetic": synthetic_path(area, modality),
        }.items()}
        frames = {name: modality.audit_frames(data=side, codec=codec) for name, side in data.items()}
        groups = split_groups(**{name: modality.audit_groups(data=data[name], codec=codec)
                                 for name in ("train", "holdout")})
        schema = modality.audit_schema(codec=codec)
    canary = area.model / "canary_audit.json"
    context = AuditContext(
        modality=prepared["modality"], **frames, schema=schema, target=spec.dataset.target,
        settings=AuditSettings(max_rows=spec.audits.max_rows, seed=spec.seed),
        extras={"canary_audit": read_json(canary)} if canary.is_file() else {},
        groups=groups,
    )
    release = {
        "name": spec.name,
        "run_id": area.root.name,
        "records": synthetic_info["records"],
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "synthdata_version": __version__,
        "seed": spec.seed,
        "modality": prepared["modality"],
        "licence": spec.dataset.licence,
        "attribution": spec.dataset.attribution,
    }
    generated = generation.record_of(area)
    notes = list(prepared["notes"])
    if generated:
        release["generated_from"] = generated["run_id"]
        notes.insert(0, generation.note(generated))
    results, inputs = audit_and_report(
        context=context, gates=spec.audits.gates, release=release,
        privacy=privacy_statement(spec=spec, prepared=prepared, training=training, canary=_canary(area)),
        notes=notes,
        folder=area.synthetic, synthetic_sha256=synthetic_info["sha256"], require_approval=spec.audits.require_approval,
        internal=spec.audits.internal_report, require_judged=spec.audits.require_judged,
        on_progress=on_progress or (lambda n: log.info("audit: %s", n)))
    area.report_inputs.write_text(inputs.to_json(), encoding="utf-8")
    if spec.audits.internal_report:
        log.info("audit: INTERNAL report (shows real records) written to %s", area.synthetic / "report_internal.html")
    return results


def synthetic_path(area: RunArea, modality: AnyModality) -> Path:
    """Where the run's synthetic data lies in its work area: a file, or a database's folder of tables."""
    if isinstance(modality, DatabaseModality):
        return area.synthetic / databases.SYNTHETIC
    return area.synthetic / modality.data_file("synthetic")


def verified_results(*, area: RunArea, spec: ReleaseSpec) -> list[AuditResult]:
    """The audit results of this run's synthetic data, checked by the export step itself.

    Raises GateFailedError unless audit.json exists, refers to the synthetic file as it is now, holds every
    registered gated audit, and none of them failed.
    """
    record = read_json(area.synthetic / "audit.json")
    prepared = read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    if sha256_tree(synthetic_path(area, modality)) != record["synthetic_sha256"]:
        raise GateFailedError("the synthetic data changed after it was audited; audit it again before export")
    results = [AuditResult.from_dict(r) for r in record["audits"]]
    gate.enforce(results, required_names=gate.required(view=modality.view, target=spec.dataset.target,
                                                       gates=spec.audits.gates, optional=bool(spec.audits.canaries),
                                                       parts=prepared.get("parts", ())))
    return results


def approve(*, spec: ReleaseSpec, area: RunArea, by: str, via: str = "in-process") -> dict[str, Any]:
    """Record a named person's sign-off on a run whose gates all passed (checked here, from audit.json).

    ``by`` must be on the release's approvers list (``synthdata.flow.approvers``; checked first, before the
    run's state: BadInputError, nothing written); the record keeps the list's spelling, the OS account (and
    the deployment's user, when set) of the process recording it, and ``via`` (the Dagster run, or in-process)."""
    by = approvers.check(spec, by)
    verified_results(area=area, spec=spec)
    if area.approval.is_file():
        earlier = read_json(area.approval)
        raise BadInputError(f"run {area.root.name} was already approved by {earlier['by']} at {earlier['at']}")
    check_output_free(spec.output_folder(run_id=area.root.name, home=home.home()))  # else signed, never exported
    record = {"required": spec.audits.require_approval, "by": by, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "run_id": area.root.name, **approvers.operator(), "via": via,
              "approvers_from": list(approvers.allowed(spec).places)}
    log.info("approve: run %s signed off by %s (OS account %s)", area.root.name, by, record["account"])
    return write_json(area.approval, record)


def export(*, spec: ReleaseSpec, area: RunArea, run_id: str) -> dict[str, Any]:
    """Write the release folder atomically, only if every gate passed (checked here, not only upstream)."""
    results = verified_results(area=area, spec=spec)
    approval = read_json(area.approval) if area.approval.is_file() else None
    if spec.audits.require_approval and approval is None:
        raise AwaitingApprovalError(
            f"no gate failed; release {spec.name} waits for sign-off: synthdata approve {area.root.name} --by NAME"
        )
    out = spec.output_folder(run_id=run_id, home=home.home())
    prepared = read_json(area.prepared / "prepared.json")
    training = read_json(area.model / "training.json")
    modality = get_modality(prepared["modality"])
    synthetic_info = read_json(area.synthetic / "synthetic.json")
    privacy = privacy_statement(spec=spec, prepared=prepared, training=training, canary=_canary(area))
    if not privacy["dp_valid"] and not spec.privacy.not_private:
        raise GateFailedError("export refused: this run is not differentially private (dp_valid false) and the spec "
                              "does not say privacy.not_private: true")
    provenance = {"synthetic": "true", "generator": f"synthdata {__version__} (DP diffusion)",
                  "privacy_unit": privacy["privacy_unit"], "dp_valid": str(privacy["dp_valid"]).lower()}
    if privacy["dp_valid"]:
        provenance.update(epsilon=f"{privacy['epsilon']:.6g}", delta=f"{privacy['delta']:.3g}")
    else:
        provenance.update(privacy="NOT DIFFERENTIALLY PRIVATE", generator=f"synthdata {__version__} (diffusion, "
                          "reproducible noise: NOT differentially private)")
    open_gates = [r.name for r in unjudged(results)]
    log.info("export: %s; writing %s", "no gate failed; could not be judged: " + ", ".join(open_gates)
             if open_gates else "every gate passed", out)
    with atomic_folder(out) as staging:
        if isinstance(modality, DatabaseModality):
            names = modality.write_release(synthetic=synthetic_path(area, modality), model_folder=area.model,
                                           folder=staging, provenance=provenance)
        else:
            codec = modality.read_codec(path=area.prepared / "codec.json")
            names = modality.write_release(data=modality.read_data(path=synthetic_path(area, modality), codec=codec),
                                           codec=codec, folder=staging, provenance=provenance)
        inputs = ReportInputs.from_json(area.report_inputs.read_text(encoding="utf-8"))
        inputs.release.update(status_of(results, require_approval=spec.audits.require_approval,
                                        approved=approval is not None, exported=True))
        names += write_reports(folder=staging, inputs=inputs, approval=approval)
        shutil.copyfile(area.synthetic / "audit.json", staging / "audit.json")
        (staging / "spec.yaml").write_text(spec.to_yaml(), encoding="utf-8")
        names += ["audit.json", "spec.yaml"]
        manifest = {
            "name": spec.name,
            "synthetic": True,
            "modality": prepared["modality"],
            "records": synthetic_info["records"],
            **({"rows_per_table": synthetic_info["rows_per_table"]} if "rows_per_table" in synthetic_info else {}),
            "epsilon": privacy["epsilon"],
            **({key: privacy[key] for key in ("epsilon_per_table", "epsilon_structure", "marginals_share_per_table",
                                              "marginals_share_chosen", "loading_counts")
                if key in privacy}),
            "epsilon_training": privacy["epsilon_training"],
            "epsilon_preprocessing": privacy["epsilon_preprocessing"],
            "epsilon_marginals": privacy["epsilon_marginals"],
            "epsilon_basic_composition": privacy["epsilon_basic_composition"],
            "delta": privacy["delta"],
            **{key: privacy[key] for key in ("epsilon_with_canary_audit", "delta_with_canary_audit") if key in privacy},
            "privacy_unit": privacy["privacy_unit"],
            "accountant": privacy["accountant"],
            "composition": privacy["composition"],
            "noise_source": privacy["noise_source"],
            "dp_valid": privacy["dp_valid"],
            **({} if privacy["dp_valid"] else {"privacy": "NOT DIFFERENTIALLY PRIVATE"}),
            "dataset_id": (training.get("ledger") or {}).get("dataset_id"),  # random: never a hash of the data
            "release_id": uuid.uuid4().hex,
            "audits": [
                {k: r.to_dict()[k] for k in ("name", "category", "value", "interval", "threshold", "passed")}
                for r in results
            ],
            "approval": approval,
            **({"generated_from": {k: generated[k] for k in ("run_id", "generation", "seed")}}
               if (generated := generation.record_of(area)) else {}),
            "files": file_entries(folder=staging, names=names),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "synthdata_version": __version__,
            "package_versions": package_versions(),
            "seed": spec.seed,
            "licence": spec.dataset.licence,
            "attribution": spec.dataset.attribution,
            "spec": spec.model_dump(mode="json", by_alias=True),
        }
        write_manifest(folder=staging, manifest=manifest)
    return {"out": str(out), "records": manifest["records"], "files": len(names) + 1,
            "approved_by": approval["by"] if approval else None}
