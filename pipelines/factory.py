"""One Dagster asset graph per release spec, built from the release steps: raw -> prepared -> model ->
synthetic -> audits -> export (a database release adds one asset per table below ``synthetic``).

Assets hand each other the *path* of the run's private work area, never private rows (Dagster's IO manager
pickles outputs into the instance storage).  Every audit is a blocking asset check on the synthetic data:
a failing gate (ERROR severity) stops ``export``, and ``export`` checks the audit record again itself.
Metadata carries aggregates only: counts, epsilon, audit figures.
"""


import json
import logging
import re
from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from evaluation import gate
from evaluation.base import AuditResult
from evaluation.registry import AUDITS
from pipelines.resources import LedgerResource, WorkAreaResource
from synthdata import home
from synthdata.config import ReleaseSpec
from synthdata.errors import AwaitingApprovalError, BadInputError, SynthdataError, redacted
from synthdata.flow import databases
from synthdata.flow.steps import RELEASE, Run, Step, summary_metadata
from synthdata.modalities import get_modality
from synthdata.modalities.base import DatabaseModality
from synthdata.progress import LogLines, Progress, TerminalBar, combined


def check_name(audit_name: str) -> str:
    """A Dagster check name for an audit (``fidelity.quality`` -> ``fidelity__quality``; a table's audit of a
    database, ``ADMISSIONS:fidelity.quality`` -> ``ADMISSIONS___fidelity__quality``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", audit_name.replace(".", "__").replace(gate.PART, "___"))


@dataclass(frozen=True)
class ReleaseGraph:
    spec: ReleaseSpec
    assets: list
    checks: list
    job: object  # an unresolved asset job (dg.define_asset_job)
    approve_job: object  # exports an earlier run after a named sign-off


def _audit_metadata(result: AuditResult) -> dict:
    metadata = {
        "value": dg.MetadataValue.text("not run") if result.value is None else dg.MetadataValue.float(float(result.value)),
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


class StepConfig(dg.Config):
    """Sign-off from the UI: launch ``<name>_approve`` with the run id whose gates passed and your name (the
    export step reads it; the other steps ignore it)."""

    approve_run_id: str = Field(default="", description="an earlier run of this release whose gates all passed")
    approved_by: str = Field(default="", description="the name of the person signing the release off: it must be "
                                                     "on the release's approvers list (audits.approvers, "
                                                     "$SYNTHDATA_HOME/approvers.yaml)")


def _both(context, message: str) -> None:
    """Progress to the Dagster event log (the UI) and to synthdata's logger (the CLI's terminal)."""
    context.log.info(message)
    logging.getLogger("synthdata").info(message)


def _progress(context, *, terminal: bool) -> Progress:
    """Where training and sampling report their progress: a line in the run's event log (the UI) every tenth of
    the steps or every minute (``synthdata.progress.LogLines``: step, epsilon spent so far, time; never the loss,
    a function of the private batches), and from the CLI a bar on its terminal too."""
    return combined(LogLines(say=context.log.info), TerminalBar() if terminal else None)


def _run_step(step: Step, run: Run):
    """``step.run(run)``; a synthdata error reaches Dagster redacted (``synthdata.errors.redacted``: no input
    file name, no hint), its full text is kept for the CLI at ``home.failure_path``."""
    try:
        with run.area.working():  # a second process on the same work area is refused
            return step.run(run)
    except AwaitingApprovalError:
        raise
    except SynthdataError as error:
        failure = error
    path = home.failure_path(run.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"class": type(failure).__name__, "message": failure.message, "hint": failure.hint}),
                    encoding="utf-8")
    raise redacted(failure, dataset=run.spec.dataset.path)  # outside the except: no chained original


def _step_asset(spec: ReleaseSpec, step: Step, upstream: str | None):
    """The asset of one release step: runs the step on the run's work area, records its summary's aggregates.
    ``upstream`` is the previous step's asset (its value is the work area's path); the first step depends on
    the private source, which Dagster never loads (the step reads it once itself)."""
    prefix = spec.name
    ins = {"upstream": dg.AssetIn(key=[prefix, upstream])} if upstream else {}
    deps = [] if upstream else [dg.AssetKey([prefix, "raw"])]

    def body(context: dg.AssetExecutionContext, config: StepConfig, work_area: WorkAreaResource,
             ledger: LedgerResource, upstream: str | None):
        resumed = False
        if config.approve_run_id:  # a sign-off run exports an earlier run's work area
            area, run_id = work_area.existing(config.approve_run_id), config.approve_run_id
        elif upstream and context.run.parent_run_id:
            # A re-execution (``synthdata resume``, the UI's "Re-execute from failure") continues the work area
            # its parent run left, under that area's run id: training resumes from its checkpoint and charges
            # the reservation the stopped run holds; a model already trained is not trained again.
            area, resumed = work_area.at(upstream), True
            run_id = area.root.name
        else:
            run_id = context.run.run_id
            area = work_area.at(upstream) if upstream else work_area.for_run(run_id)
        run = Run(spec=spec, area=area, open_ledger=ledger.ledger, run_id=run_id,
                  progress=_progress(context, terminal=work_area.progress),
                  say=lambda message: _both(context, message), approved_by=config.approved_by or None,
                  approved_via=f"Dagster run {context.run.run_id} ({context.run.job_name})", resume=resumed)
        try:
            summary = _run_step(step, run)
        except AwaitingApprovalError as waiting:
            _both(context, waiting.message)
            return  # nothing exported: the asset stays unmaterialised until the sign-off
        metadata = summary_metadata(step, summary)
        if "out" in metadata:
            metadata["out"] = dg.MetadataValue.path(metadata["out"])
        yield dg.Output(str(area.root), metadata=metadata)

    decorate = dg.asset(name=step.name, key_prefix=[prefix], group_name=prefix, ins=ins, deps=deps,
                        description=step.description, output_required=step.name != "export")
    if upstream:
        def after(context: dg.AssetExecutionContext, config: StepConfig, work_area: WorkAreaResource,
                  ledger: LedgerResource, upstream: str):
            yield from body(context, config, work_area, ledger, upstream)

        return decorate(after)

    def first(context: dg.AssetExecutionContext, config: StepConfig, work_area: WorkAreaResource,
              ledger: LedgerResource):
        yield from body(context, config, work_area, ledger, None)

    return decorate(first)


def _parts(spec: ReleaseSpec) -> list[str]:
    """The parts (tables) of a database release, from its declared schema; none when the schema cannot be read
    (the graph still loads: the release itself refuses the schema, exit 2, in its first step)."""
    modality = get_modality(spec.dataset.modality)
    if not isinstance(modality, DatabaseModality):
        return []
    try:
        return modality.parts(dataset=spec.dataset)
    except BadInputError:
        return []


def _table_asset(spec: ReleaseSpec, table: str, upstream: str):
    """One table of a database release as its own asset, downstream of the synthetic database (the tables are
    fitted together under one noise plan, so they are sampled together; each then shows on its own): its
    synthetic rows, its own epsilon and the DP estimates of what loading removed from it
    (``synthdata.flow.databases.table_summary``).  Below the blocking audit checks on ``upstream``: a table
    materialises only when its database passed the gates.  Its value is the work area's path, as every step's."""
    prefix = spec.name

    @dg.asset(name=re.sub(r"[^A-Za-z0-9_]", "_", table), key_prefix=[prefix, "tables"], group_name=prefix,
              ins={"upstream": dg.AssetIn(key=[prefix, upstream])},
              description=f"Table {table} of the synthetic database (sampled with the others; DP figures only).")
    def table_asset(context: dg.AssetExecutionContext, work_area: WorkAreaResource, upstream: str):
        summary = databases.table_summary(area=work_area.at(upstream), table=table)
        yield dg.Output(upstream, metadata={key: value for key, value in summary.items() if value is not None})

    return table_asset


def _audit_checks(spec: ReleaseSpec, step: Step, upstream: str):
    """The audits step as one multi-asset check on ``upstream``: one blocking check per gated audit."""
    prefix = spec.name
    asset = dg.AssetKey([prefix, upstream])
    modality = get_modality(spec.dataset.modality)
    names = gate.audits_for(view=modality.view, target=spec.dataset.target, optional=bool(spec.audits.canaries),
                            parts=_parts(spec))
    specs = [dg.AssetCheckSpec(check_name(name), asset=asset, blocking=gate.is_gated(name, spec.audits.gates),
                               description=AUDITS[gate.base_name(name)].title) for name in names]

    @dg.multi_asset_check(specs=specs, name=f"{prefix}_audits", can_subset=False, description=step.description,
                          ins={"upstream": dg.AssetIn(key=[prefix, upstream])})
    def audits(context: dg.AssetCheckExecutionContext, upstream: str, work_area: WorkAreaResource,
               ledger: LedgerResource):
        area = work_area.at(upstream)
        run = Run(spec=spec, area=area, open_ledger=ledger.ledger, say=lambda message: _both(context, message),
                  run_id=area.root.name if context.run.parent_run_id else context.run.run_id)
        results = {r.name: r for r in _run_step(step, run)["results"]}
        for name in names:
            result = results.get(name)
            if result is None:
                yield dg.AssetCheckResult(check_name=check_name(name), asset_key=asset, passed=True,
                                          metadata={"verdict": "not applicable"})
                continue
            severity = dg.AssetCheckSeverity.ERROR if gate.is_gated(name, spec.audits.gates) else dg.AssetCheckSeverity.WARN
            yield dg.AssetCheckResult(check_name=check_name(name), asset_key=asset, passed=result.passed is not False,
                                      severity=severity, metadata=_audit_metadata(result))

    return audits


def build_release_graph(spec: ReleaseSpec) -> ReleaseGraph:
    """Assets, checks and jobs for one spec, keyed and grouped by the spec's name, built from the release
    steps (``synthdata.flow.steps.RELEASE``) in their order."""
    prefix = spec.name
    raw = dg.AssetSpec(key=[prefix, "raw"], group_name=prefix,
                       description=f"The private source data {spec.dataset.path.name}: read once, by the "
                                   "prepared step; never loaded or copied by Dagster.")
    assets: list = [raw]
    checks: list = []
    upstream: str | None = None
    for step in RELEASE:
        if step.check:
            checks.append(_audit_checks(spec, step, upstream))
            continue
        assets.append(_step_asset(spec, step, upstream))
        upstream = step.name
        if step.name == "synthetic":  # a database: one asset per table below the synthetic database
            assets += [_table_asset(spec, table, upstream) for table in _parts(spec)]
    job = dg.define_asset_job(f"{prefix}_release", selection=dg.AssetSelection.groups(prefix),
                              description=f"Release {prefix}: train, audit and (if every gate passes) export.")
    approve_job = dg.define_asset_job(
        f"{prefix}_approve", selection=dg.AssetSelection.assets(dg.AssetKey([prefix, "export"])),
        description=f"Sign off a run of {prefix} whose gates passed, and export it (config: approve_run_id, approved_by).")
    return ReleaseGraph(spec=spec, assets=assets, checks=checks, job=job, approve_job=approve_job)
