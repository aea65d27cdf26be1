"""The release definitions with one configured executor, for a deployment whose steps run in other processes,
pods or machines (``pipelines.deploy.k8s``, ``pipelines.deploy.celery``).

The executor's configuration is Dagster run config's ``execution`` block in a YAML file (the one beside the
module, or the file ``$SYNTHDATA_EXECUTOR_CONFIG`` names), checked against the executor's schema when the
module loads: ``dagster definitions validate`` alone checks an executor's configuration only when a run starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import yaml

from pipelines.registry import build_definitions
from synthdata.privacy.ledger import LEDGER_URL_ENV

CONFIG_ENV = "SYNTHDATA_EXECUTOR_CONFIG"


def executor_config(executor: dg.ExecutorDefinition, default: Path) -> dict:
    """The ``execution: config:`` block of the file ``$SYNTHDATA_EXECUTOR_CONFIG`` names (else ``default``),
    checked against ``executor``'s schema (``{env: VAR}`` values must be set); raised as ValueError naming the
    file otherwise.  Returned as written: ``{env: VAR}`` values are read again where each run starts."""
    path = Path(os.environ.get(CONFIG_ENV) or default)
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config = (loaded.get("execution") or {}).get("config") if isinstance(loaded, dict) else None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected Dagster run config's `execution: config:` block for the "
                         f"{executor.name} executor")
    probe = dg.GraphDefinition(name=f"check_{executor.name}_executor_config", node_defs=[]).to_job(
        executor_def=executor)
    try:
        dg.validate_run_config(probe, {"execution": {"config": config}})
    except dg.DagsterInvalidConfigError as error:
        raise ValueError(f"{path}: not a valid configuration of Dagster's {executor.name} executor: {error}") from None
    return config


def deployed_definitions(executor: dg.ExecutorDefinition, default_config: Path) -> dg.Definitions:
    """Every registered release graph, run by ``executor`` configured from ``default_config`` (or
    ``$SYNTHDATA_EXECUTOR_CONFIG``).

    Steps hand each other the path of the run's work area under ``$SYNTHDATA_HOME`` (the IO manager keeps the
    path per run in ``$SYNTHDATA_HOME/dagster-steps``, ``pipelines.resources.WorkAreaPaths``): every pod or
    worker must mount the same ``$SYNTHDATA_HOME``.  The ledger must be a database server all of them reach (``$SYNTHDATA_LEDGER_URL``):
    a SQLite file on a shared volume cannot be relied on to lock across machines, and an unlocked ledger can
    overspend a budget.
    """
    ledger_url = os.environ.get(LEDGER_URL_ENV, "")
    if not ledger_url or ledger_url.startswith("sqlite"):
        raise ValueError(f"${LEDGER_URL_ENV} must name the privacy ledger's database server (e.g. "
                         "postgresql+psycopg://user:password@host:5432/database) where steps run on other pods "
                         "or machines: a SQLite ledger cannot be relied on to lock across them")
    configured = executor.configured(executor_config(executor, default_config))
    return dg.Definitions.merge(build_definitions(), dg.Definitions(executor=configured))
