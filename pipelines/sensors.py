"""The sensor that shows, in the Dagster UI, which releases wait for a named sign-off.

When a release run succeeds with every gate passed but its spec requires a sign-off nobody has given, the run
gets the tags ``synthdata/sign_off: awaiting`` (filter the Runs page by it) and
``synthdata/sign_off_detail`` (the command that approves it), and the release's ``export`` asset gets an
observation saying the same, with who may sign off.  When the release's approve job succeeds, the release
run's tags turn to ``approved`` and who signed.  The standing is read from the run's work area
(``synthdata.flow.run_status``), as ``synthdata runs --awaiting`` reads it.

It monitors every code location: the CLI's runs execute in-process and carry no code location, and a sensor
watching only its own would never see them.  Like every run status sensor it starts at the newest event the
first time it runs: runs that finished before that are listed by ``synthdata runs --awaiting`` only.

Privacy: tags and metadata hold the release's name, the run id, paths, names of approvers and the command;
nothing read from the private records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from synthdata.flow import run_status

SIGN_OFF_TAG = "synthdata/sign_off"
DETAIL_TAG = "synthdata/sign_off_detail"


def _signed_off(run: dg.DagsterRun) -> str | None:
    """The release run an approve run signed off (its export step's ``approve_run_id``), else None."""
    ops: Mapping[str, Any] = (run.run_config or {}).get("ops") or {}
    for op in ops.values():
        config = (op or {}).get("config") or {}
        if config.get("approve_run_id"):
            return str(config["approve_run_id"])
    return None


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS, name="releases_awaiting_sign_off", monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
    description="Tags each release run whose gates passed but whose sign-off is still due (synthdata/sign_off: "
                "awaiting, with the command that approves it) and notes it on the release's export asset; turns "
                "the tag to approved when the approve job succeeds.")
def releases_awaiting_sign_off(context: dg.RunStatusSensorContext) -> None:
    run = context.dagster_run
    approved = _signed_off(run)
    state = run_status.status_of(approved or run.run_id)
    if state is None:  # not a synthdata run (or its work area was purged)
        return
    instance = context.instance
    if approved is None and state.status == run_status.AWAITING:
        who = state.approvers
        instance.add_run_tags(run.run_id, {SIGN_OFF_TAG: "awaiting", DETAIL_TAG: state.approve_command})
        instance.report_runless_asset_event(dg.AssetObservation(
            asset_key=dg.AssetKey([state.release, "export"]),
            description=f"Run {run.run_id} awaits sign-off: every gate passed, nothing is exported until a listed "
                        "approver signs it off.",
            metadata={
                "status": dg.MetadataValue.text(run_status.AWAITING),
                "run_id": dg.MetadataValue.text(run.run_id),
                "approve (CLI)": dg.MetadataValue.text(state.approve_command),
                "approve (UI)": dg.MetadataValue.text(state.ui_approval),
                "who may sign off": dg.MetadataValue.text(", ".join(who.names) if who else ""),
                "approvers configured in": dg.MetadataValue.text(who.where if who else ""),
                **({"report (private work area)": dg.MetadataValue.path(str(state.report))} if state.report else {}),
            }))
        context.log.info(f"release {state.release}: run {run.run_id} awaits sign-off: {state.approve_command}")
    elif approved is not None and state.status in ("released", "approved, not exported") \
            and instance.get_run_by_id(approved) is not None:
        instance.add_run_tags(approved, {SIGN_OFF_TAG: "approved", DETAIL_TAG: state.detail})
        context.log.info(f"release {state.release}: run {approved} {state.detail}")
