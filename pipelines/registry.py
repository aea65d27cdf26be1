"""Collect release specs and build the Definitions object from them."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg

import synthdata
from pipelines.factory import ReleaseGraph, build_release_graph
from pipelines.resources import LedgerResource, WorkAreaPaths, WorkAreaResource
from pipelines.sensors import releases_awaiting_sign_off
from synthdata import home
from synthdata.config import ReleaseSpec
from synthdata.errors import BadInputError
from synthdata.modalities import MODALITIES
from synthdata.release_spec import load_spec

DEMO_SPEC = Path(synthdata.__file__).resolve().parent / "data" / "demo.yaml"
log = logging.getLogger(__name__)


def registered_specs() -> list[ReleaseSpec]:
    """The demo and example specs plus every valid spec in ``$SYNTHDATA_HOME/specs`` (invalid ones are
    logged, skipped)."""
    specs: dict[str, ReleaseSpec] = {}
    examples = [r.example for r in MODALITIES.values() if r.example is not None]  # one per modality, shipped data
    for path in dict.fromkeys([DEMO_SPEC, *examples, *sorted(home.specs_dir().glob("*.yaml"))]):
        try:
            spec = load_spec(path)
        except BadInputError as exc:
            log.warning("skipping spec %s: %s", path, exc.message)
            continue
        specs[spec.name] = spec
    return list(specs.values())


def build_definitions(specs: list[ReleaseSpec] | None = None, *, progress: bool = False) -> dg.Definitions:
    graphs: list[ReleaseGraph] = [build_release_graph(s) for s in (specs if specs is not None else registered_specs())]
    return dg.Definitions(
        assets=[a for g in graphs for a in g.assets],
        asset_checks=[c for g in graphs for c in g.checks],
        jobs=[j for g in graphs for j in (g.job, g.approve_job)],
        sensors=[releases_awaiting_sign_off],
        resources={"work_area": WorkAreaResource(progress=progress), "ledger": LedgerResource(),
                   "io_manager": WorkAreaPaths()},
    )
