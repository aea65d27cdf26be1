"""Dagster definitions: one release graph per spec (`dagster dev -m pipelines.definitions`).

Specs come from the shipped demo spec and from every ``*.yaml`` in ``$SYNTHDATA_HOME/specs`` (the CLI
registers each spec it runs there, so CLI runs and UI runs share one graph, one instance and one ledger).
"""

from __future__ import annotations

from pipelines.registry import build_definitions

defs = build_definitions()
