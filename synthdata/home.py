"""Where synthdata keeps its state: ``$SYNTHDATA_HOME`` (default ``~/.synthdata``).

Layout::

    $SYNTHDATA_HOME/
      dagster/        DAGSTER_HOME: the Dagster instance (run history, event log)
      ledger.sqlite   the privacy budget ledger
      specs/          release specs registered for the Dagster UI
      runs/<run_id>/  private work area of one run: prepared data, model, synthetic data, audits, report
        generations/<run_id>+gen<k>/  a later sample of that run's model (``synthdata generate``), audited

Privacy caveat: ``runs/`` holds private data (the training and holdout splits) and models trained on it.
Keep ``$SYNTHDATA_HOME`` on storage approved for the source data; ``synthdata purge`` deletes a run's
private work area (retention: until purged; the export folder never contains private data).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from synthdata.errors import BadInputError

DEFAULT_HOME = Path("~/.synthdata")


def home() -> Path:
    """The synthdata home folder (created on first use)."""
    path = Path(os.environ.get("SYNTHDATA_HOME") or DEFAULT_HOME).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def dagster_home() -> Path:
    path = home() / "dagster"
    path.mkdir(parents=True, exist_ok=True)
    yaml_file = path / "dagster.yaml"
    if not yaml_file.exists():
        # Local SQLite storage; telemetry off (the machine may have no network); the progress of training
        # (aggregates only: steps, epsilon spent, time left) goes into each run's event log.
        yaml_file.write_text("telemetry:\n  enabled: false\npython_logs:\n  managed_python_loggers:\n"
                             "    - synthdata.progress\n  python_log_level: INFO\n", encoding="utf-8")
    return path


def specs_dir() -> Path:
    path = home() / "specs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


GENERATION_MARK = "+gen"  # ``<run_id>+gen<k>``: the k-th later sample of a run's model


def run_path(run_id: str) -> Path:
    """Where a run's private work area is (or would be); refuses ids that could escape ``runs/``.  A generation
    (``<run_id>+gen<k>``) lives inside its run's work area, so purging the run purges it too."""
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith(".") or ".." in run_id:
        raise BadInputError(f"'{run_id}' is not a valid run id")
    base, mark, _ = run_id.partition(GENERATION_MARK)
    if mark:
        return runs_dir() / base / "generations" / run_id
    return runs_dir() / run_id


def run_dir(run_id: str) -> Path:
    """The private work area of one run."""
    path = run_path(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def failure_path(run_id: str) -> Path:
    """Where a run's failed step leaves its full error (message and hint) for the local CLI: private storage
    beside the ledger, never Dagster's event log.  ``purge_run`` deletes it with the work area."""
    return home() / "errors" / f"{run_path(run_id).name}.json"


def purge_run(run_id: str) -> bool:
    """Delete a run's private work area (and its kept error, if any); returns whether there was a work area."""
    path = run_path(run_id)
    failure_path(run_id).unlink(missing_ok=True)
    if not path.exists():
        return False
    shutil.rmtree(path)
    return True


def list_runs() -> list[str]:
    return sorted(p.name for p in runs_dir().iterdir() if p.is_dir())
