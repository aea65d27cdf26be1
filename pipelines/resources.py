"""Dagster resources: the private work area, the privacy ledger (both under ``$SYNTHDATA_HOME``) and the IO
manager that hands a step's work-area path to the next step of the same run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from synthdata import home
from synthdata.errors import BadInputError
from synthdata.privacy.ledger import Ledger, default_ledger
from synthdata.run_area import RunArea, existing_run_area


class WorkAreaResource(dg.ConfigurableResource):
    """Private work areas of runs (``$SYNTHDATA_HOME/runs/<run_id>``); assets pass only their paths.

    ``progress`` also shows training and sampling progress as a bar on the terminal (the CLI turns it on); the
    run's event log gets it either way (``pipelines.factory``).
    """

    progress: bool = False

    def for_run(self, run_id: str) -> RunArea:
        return RunArea(home.run_path(run_id))

    def at(self, path: str) -> RunArea:
        return RunArea(Path(path))

    def existing(self, run_id: str) -> RunArea:
        """The work area of an earlier run; BadInputError if it was never made or was purged."""
        return existing_run_area(run_id)


class LedgerResource(dg.ConfigurableResource):
    """The privacy budget ledger: ``url`` (a SQLAlchemy URL, e.g. PostgreSQL), else ``path`` (a SQLite file),
    else ``$SYNTHDATA_LEDGER_URL``, else SQLite at ``$SYNTHDATA_HOME/ledger.sqlite``."""

    path: str | None = None
    url: str | None = None

    def ledger(self) -> Ledger:
        if self.url:
            return Ledger(url=self.url)
        if self.path:
            return Ledger(path=Path(self.path))
        return default_ledger(home_folder=home.home())


class WorkAreaPaths(dg.ConfigurableIOManager):
    """Hands each step the work-area path its upstream step produced IN THE RUN THAT PRODUCED IT.

    Dagster's default IO manager stores an asset's value under the asset key alone: two runs of one release
    at once, or a re-execution after another run, would hand a step the other run's work area.  Here the
    value (a path, never private rows) is kept per run under ``$SYNTHDATA_HOME/dagster-steps/<run_id>/``; a
    re-execution from failure reads its parent run's, and a step materialised on its own (the UI's
    "Materialize" on one asset) reads the latest materialisation of its upstream asset.
    """

    def _file(self, run_id: str, key: dg.AssetKey) -> Path:
        home.run_path(run_id)  # refuses a run id that could escape the folder
        return home.home() / "dagster-steps" / run_id / f"{'__'.join(key.path)}.txt"

    def handle_output(self, context: dg.OutputContext, obj: str | None) -> None:
        if obj is None:  # export waiting for a sign-off yields no output
            return
        path = self._file(context.run_id, context.asset_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(obj), encoding="utf-8")

    def load_input(self, context: dg.InputContext) -> str:
        upstream = context.upstream_output
        key = upstream.asset_key
        path = self._file(upstream.run_id, key) if context.instance.has_run(upstream.run_id) else None
        if path is None or not path.is_file():
            latest = context.instance.get_latest_materialization_event(key)
            path = self._file(latest.run_id, key) if latest is not None else None
        if path is None or not path.is_file():
            raise BadInputError(f"{key.to_user_string()} has not been materialised: run the release's earlier "
                                "steps first")
        return path.read_text(encoding="utf-8")

