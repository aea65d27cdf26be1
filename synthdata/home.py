"""Where synthdata keeps its state: ``$SYNTHDATA_HOME`` (default ``~/.synthdata``).

Layout::

    $SYNTHDATA_HOME/
      dagster/        DAGSTER_HOME: the Dagster instance (run history, event log; in PostgreSQL when
                      $SYNTHDATA_DAGSTER_POSTGRES_URL is set)
      ledger.sqlite   the privacy budget ledger
      specs/          release specs registered for the Dagster UI
      runs/<run_id>/  private work area of one run: prepared data, model, synthetic data, audits, report
        generations/<run_id>+gen<k>/  a later sample of that run's model (``synthdata generate``), audited

Privacy caveat: ``runs/`` holds private data (the training and holdout splits) and models trained on it.
Keep ``$SYNTHDATA_HOME`` on storage approved for the source data; ``synthdata purge`` deletes a run's
private work area (retention: until purged; the export folder never contains private data).
"""

from __future__ import annotations

import importlib.util
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


DAGSTER_POSTGRES_ENV = "SYNTHDATA_DAGSTER_POSTGRES_URL"
_WRITTEN_BY = ("# Written by synthdata each time it starts Dagster (storage: $SYNTHDATA_DAGSTER_POSTGRES_URL when set,\n"
               "# else SQLite here). Delete this line to keep your own edits: synthdata then leaves the file alone.\n")
# Telemetry off (the machine may have no network).  Training and sampling progress reaches each run's event log
# through the asset's context.log (pipelines.factory), on any instance: no logger to capture here.
_BASE_YAML = "telemetry:\n  enabled: false\n"
# What synthdata wrote before the _WRITTEN_BY line existed (it captured the synthdata.progress logger then).
_EARLIER_YAML = ("telemetry:\n  enabled: false\npython_logs:\n  managed_python_loggers:\n"
                 "    - synthdata.progress\n  python_log_level: INFO\n")


def dagster_yaml() -> str:
    """The ``dagster.yaml`` synthdata's own instance gets: SQLite under ``dagster/`` by default; Dagster's run,
    event log and schedule storage in PostgreSQL when ``$SYNTHDATA_DAGSTER_POSTGRES_URL`` is set (the file names
    the variable, Dagster reads it when the instance starts: no password is written to disk)."""
    url = os.environ.get(DAGSTER_POSTGRES_ENV)
    if not url:
        return _WRITTEN_BY + _BASE_YAML
    if not url.startswith("postgresql+psycopg2://"):  # the URL is never quoted: it may hold a password
        # dagster-postgres runs on psycopg2; SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, on which
        # Dagster's event log fails at the first event (NOTIFY with a bound parameter).
        raise BadInputError(f"${DAGSTER_POSTGRES_ENV} must be a URL of the form "
                            "postgresql+psycopg2://user:password@host:5432/database (Dagster's PostgreSQL storage "
                            "runs on the psycopg2 driver)")
    if importlib.util.find_spec("dagster_postgres") is None:
        raise BadInputError(f"${DAGSTER_POSTGRES_ENV} is set but dagster-postgres is not installed: "
                            "pip install 'synthdata[postgres]'")
    return (_WRITTEN_BY + _BASE_YAML
            + f"storage:\n  postgres:\n    postgres_url:\n      env: {DAGSTER_POSTGRES_ENV}\n")


def dagster_home() -> Path:
    """synthdata's own Dagster instance folder (``$SYNTHDATA_HOME/dagster``), its ``dagster.yaml`` brought up to
    date with ``dagster_yaml()``.  A ``dagster.yaml`` someone edited (the first line removed) is left as it is;
    a ``$DAGSTER_HOME`` the user set is never passed here (``pipelines.runner``)."""
    path = home() / "dagster"
    path.mkdir(parents=True, exist_ok=True)
    yaml_file = path / "dagster.yaml"
    current = yaml_file.read_text(encoding="utf-8") if yaml_file.exists() else None
    if current is None or current in (_BASE_YAML, _EARLIER_YAML) or current.startswith(_WRITTEN_BY):  # written before
        wanted = dagster_yaml()
        if current != wanted:  # replaced whole (a process starting beside it never reads half a file)
            partial = path / f".dagster.yaml.{os.getpid()}"
            partial.write_text(wanted, encoding="utf-8")
            os.replace(partial, yaml_file)
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
    shutil.rmtree(home() / "dagster-steps" / path.name, ignore_errors=True)  # its steps' hand-over (paths only)
    if not path.exists():
        return False
    shutil.rmtree(path)
    return True


def list_runs() -> list[str]:
    return sorted(p.name for p in runs_dir().iterdir() if p.is_dir())


if __name__ == "__main__":  # the Docker image's entrypoint: prints the instance folder it points DAGSTER_HOME at
    import sys

    try:
        print(dagster_home())
    except BadInputError as error:
        print(f"synthdata: {error}", file=sys.stderr)
        sys.exit(2)
