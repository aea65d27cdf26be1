"""Dagster resources: the private work area and the privacy ledger, both under ``$SYNTHDATA_HOME``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from synthdata import home
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
