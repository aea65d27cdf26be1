"""One Dagster asset graph per release spec: raw -> prepared -> model -> synthetic -> audits -> export.

Assets hand each other the *path* of the run's private work area, never private rows (Dagster's IO manager
pickles outputs into the instance storage).  Every audit is a blocking asset check on the synthetic data:
a failing gate (ERROR severity) stops ``export``, and ``export`` checks the audit record again itself.
Metadata carries aggregates only: counts, epsilon, audit figures.
"""


import logging
from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from evaluation import gate
from evaluation.base import AuditResult
from evaluation.registry import AUDITS
from pipelines.resources import LedgerResource, WorkAreaResource
from synthdata import publish, stages
from synthdata.config import ReleaseSpec
from synthdata.errors import AwaitingApprovalError
from synthdata.modalities import get_modality
from synthdata.run_area import read_json


def check_name(audit_name: str) -> str:
    return audit_name.replace(".", "__")


@dataclass(frozen=True)
class ReleaseGraph:
    spec: ReleaseSpec
    assets: list
    checks: list
    job: object  # an unresolved asset job (dg.define_asset_job)
    approve_job: object  # exports an earlier run after a named sign-off


def _audit_metadata(result: AuditResult) -> dict:
    metadata = {
        "value": dg.MetadataValue.float(float(result.value)),
        "threshold": dg.MetadataValue.text("none (informative)" if result.threshold is None else f"{result.threshold:g}"),
        "verdict": dg.MetadataValue.text(gate.verdict(result)[0]),
        "explanation": dg.MetadataValue.text(result.explanation),
    }
    if result.interval:
        metadata["interval_95"] = dg.MetadataValue.text(f"[{result.interval[0]:.4g}, {result.interval[1]:.4g}]")
    if result.note:
        metadata["note"] = dg.MetadataValue.text(result.note)
    for title, png in list(result.figures.items())[:2]:  # aggregates only, like the report's figures
        metadata[f"plot: {title}"] = dg.MetadataValue.md(f"![{title}](data:image/png;base64,{png})")
    return metadata


class ExportConfig(dg.Config):
    """Sign-off from the UI: launch ``<name>_approve`` with the run id whose gates passed and your name."""

    approve_run_id: str = Field(default="", description="an earlier run of this release whose gates all passed")
    approved_by: str = Field(default="", description="the name of the person signing the release off")


def _both(context, message: str) -> None:
    """Progress to the Dagster event log (the UI) and to synthdata's logger (the CLI's terminal)."""
    context.log.info(message)
    logging.getLogger("synthdata").info(message)


def build_release_graph(spec: ReleaseSpec) -> ReleaseGraph:
    """Assets, checks and a job for one spec, keyed and grouped by the spec's name."""
    prefix = spec.name

    @dg.asset(key=[prefix, "raw"], group_name=prefix, description=f"The private source data {spec.dataset.path}, validated.")
    def raw(context: dg.AssetExecutionContext) -> dg.Output[str]:
        modality = get_modality(spec.dataset.modality)
        source = modality.load(dataset=spec.dataset, privacy=spec.privacy)
        return dg.Output(
            str(spec.dataset.path),
            metadata={"privacy_units": modality.count_units(source=source),
                      "fingerprint": modality.fingerprint(source=source)[:16]},
        )

    @dg.asset(key=[prefix, "prepared"], group_name=prefix, ins={"raw": dg.AssetIn(key=[prefix, "raw"])},
              description="Train/holdout split by privacy unit, public encoding (DP where learned), encoded units.")
    def prepared(context: dg.AssetExecutionContext, raw: str, work_area: WorkAreaResource,
                 ledger: LedgerResource) -> dg.Output[str]:
        area = work_area.for_run(context.run.run_id)
        info = stages.prepare(spec=spec, area=area, ledger=ledger.ledger(), run_id=context.run.run_id)
        return dg.Output(str(area.root), metadata={
            k: info[k] for k in ("units", "train_records", "holdout_records", "encoded_width",
                                 "epsilon_preprocessing", "privacy_unit")})

    @dg.asset(key=[prefix, "model"], group_name=prefix, ins={"prepared": dg.AssetIn(key=[prefix, "prepared"])},
              description="The denoiser trained with DP-SGD (Opacus); epsilon spent is charged to the ledger.")
    def model(context: dg.AssetExecutionContext, prepared: str, work_area: WorkAreaResource,
              ledger: LedgerResource) -> dg.Output[str]:
        area = work_area.at(prepared)
        info = stages.train(spec=spec, area=area, ledger=ledger.ledger(), run_id=context.run.run_id,
                            progress=work_area.progress)
        canary = {}
        if spec.audits.canaries:
            _both(context, f"canary audit: training a throwaway model with {spec.audits.canaries} canaries")
            found = stages.canary_audit(spec=spec, area=area, ledger=ledger.ledger(), run_id=context.run.run_id,
                                        progress=work_area.progress)
            canary = {"canary_epsilon_lower_bound": found["empirical_epsilon_lower_bound"],
                      "canary_claimed_epsilon": found["claimed_epsilon"]}
        book = ledger.ledger()
        fingerprint = read_json(area.prepared / "prepared.json")["fingerprint"]
        state, composed = book.state(fingerprint=fingerprint), book.composition(fingerprint=fingerprint)
        return dg.Output(prepared, metadata={
            "epsilon": info["epsilon"], "epsilon_training": info["epsilon_training"],
            "delta": info["delta_total"], "noise_multiplier": info["noise_multiplier"], "steps": info["steps"],
            "records_per_second": info["records_per_second"], "dp_valid": info["dp_valid"],
            "budget_total": state.total if state else None,
            "budget_remaining": state.remaining if state else None,
            "dataset_epsilon_naive_sum": composed.naive, "dataset_epsilon_composed": composed.composed, **canary})

    @dg.asset(key=[prefix, "synthetic"], group_name=prefix, ins={"model": dg.AssetIn(key=[prefix, "model"])},
              description="Synthetic records sampled from the trained denoiser (private until the gates pass).")
    def synthetic(context: dg.AssetExecutionContext, model: str, work_area: WorkAreaResource) -> dg.Output[str]:
        info = stages.sample(spec=spec, area=work_area.at(model), progress=work_area.progress)
        return dg.Output(model, metadata={"records": info["records"], "sampler": info["sampler"]})

    audit_names = gate.audits_for(view=get_modality(spec.dataset.modality).view, target=spec.dataset.target,
                                  optional=bool(spec.audits.canaries))
    specs = [
        dg.AssetCheckSpec(check_name(name), asset=dg.AssetKey([prefix, "synthetic"]),
                          blocking=gate.is_gated(name, spec.audits.gates), description=AUDITS[name].title)
        for name in audit_names
    ]

    @dg.multi_asset_check(specs=specs, name=f"{prefix}_audits", can_subset=False,
                          ins={"synthetic": dg.AssetIn(key=[prefix, "synthetic"])})
    def audits(context: dg.AssetCheckExecutionContext, synthetic: str, work_area: WorkAreaResource):
        area = work_area.at(synthetic)
        results = {r.name: r for r in publish.audit(spec=spec, area=area, on_progress=lambda name: _both(context, f"audit: {name}"))}
        context.log.info(f"audit report: {area.report}")
        for name in audit_names:
            result = results.get(name)
            if result is None:
                yield dg.AssetCheckResult(check_name=check_name(name), asset_key=dg.AssetKey([prefix, "synthetic"]),
                                          passed=True, metadata={"verdict": "not applicable"})
                continue
            severity = dg.AssetCheckSeverity.ERROR if gate.is_gated(name, spec.audits.gates) else dg.AssetCheckSeverity.WARN
            yield dg.AssetCheckResult(check_name=check_name(name), asset_key=dg.AssetKey([prefix, "synthetic"]),
                                      passed=result.passed is not False, severity=severity,
                                      metadata=_audit_metadata(result))

    @dg.asset(key=[prefix, "export"], group_name=prefix, ins={"synthetic": dg.AssetIn(key=[prefix, "synthetic"])},
              output_required=False,
              description="The released folder: synthetic data, manifest.json, reports (only if every gate passed, "
                          "and after a named sign-off when the spec requires one).")
    def export(context: dg.AssetExecutionContext, config: ExportConfig, synthetic: str,
               work_area: WorkAreaResource):
        run_id = config.approve_run_id or context.run.run_id
        area = work_area.existing(run_id) if config.approve_run_id else work_area.at(synthetic)
        if config.approved_by:
            publish.approve(spec=spec, area=area, by=config.approved_by)
        try:
            info = publish.export(spec=spec, area=area, run_id=run_id)
        except AwaitingApprovalError as waiting:
            _both(context, waiting.message)
            return  # nothing exported: the asset stays unmaterialised until the sign-off
        yield dg.Output(None, metadata={"out": dg.MetadataValue.path(info["out"]), "records": info["records"],
                                        "files": info["files"], "approved_by": info["approved_by"] or "not required"})

    job = dg.define_asset_job(f"{prefix}_release", selection=dg.AssetSelection.groups(prefix),
                              description=f"Release {prefix}: train, audit and (if every gate passes) export.")
    approve_job = dg.define_asset_job(
        f"{prefix}_approve", selection=dg.AssetSelection.assets(dg.AssetKey([prefix, "export"])),
        description=f"Sign off a run of {prefix} whose gates passed, and export it (config: approve_run_id, approved_by).")
    return ReleaseGraph(spec=spec, assets=[raw, prepared, model, synthetic, export], checks=[audits], job=job,
                        approve_job=approve_job)
