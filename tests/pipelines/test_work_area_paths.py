"""The IO manager that hands steps their work area: a re-execution gets the path its parent run made, not
the latest run's (Dagster's default keeps one value per asset key, so a second run of the same release would
hand a re-executed step the other run's private work area)."""


import os
from pathlib import Path

import dagster as dg
import pytest

from pipelines.resources import WorkAreaPaths

FAIL = "SYNTHDATA_TEST_FAIL_SECOND_STEP"


@dg.asset
def first(context: dg.AssetExecutionContext) -> str:
    return f"/work/{context.run.run_id}"


@dg.asset
def second(first: str) -> dg.Output:
    if os.environ.get(FAIL):
        raise RuntimeError("stopped")
    return dg.Output(f"{first}|second", metadata={"given": first})


def both() -> dg.JobDefinition:
    defs = dg.Definitions(assets=[first, second], jobs=[dg.define_asset_job("both", selection="*")],
                          resources={"io_manager": WorkAreaPaths()})
    return defs.resolve_job_def("both")


def _given(instance: dg.DagsterInstance, run_id: str) -> str:
    """The work area the second step was handed in run ``run_id``."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    (event,) = [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event.asset_key.path == ["second"]]
    return event.materialization.metadata["given"].value


def test_reexecution_gets_its_parents_work_area_and_a_lone_step_the_latest(
        synthdata_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with dg.instance_for_test() as instance:
        monkeypatch.setenv(FAIL, "1")
        stopped = both().execute_in_process(instance=instance, raise_on_error=False)
        assert not stopped.success
        monkeypatch.delenv(FAIL)
        later = both().execute_in_process(instance=instance)  # another run of the same assets, in between

        job = dg.build_reconstructable_job(__name__, "both")
        with dg.execute_job(job, instance=instance, run_config={"execution": {"config": {"in_process": {}}}},
                            reexecution_options=dg.ReexecutionOptions.from_failure(stopped.run_id, instance)) as resumed:
            assert resumed.success
            assert _given(instance, resumed.run_id) == f"/work/{stopped.run_id}"
        assert _given(instance, later.run_id) == f"/work/{later.run_id}"

        # "Materialize" on the second asset alone: its input is the latest materialisation of the first
        alone = both().execute_in_process(instance=instance, asset_selection=[dg.AssetKey("second")])
        assert _given(instance, alone.run_id) == f"/work/{later.run_id}"
