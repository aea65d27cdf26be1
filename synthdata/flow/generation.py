"""More synthetic records from a run's trained model: sample again, audit, export only if every gate passes.

A trained denoiser (with its codec and its DP-measured column distributions) is the DP output of a release;
drawing from it again is post-processing and spends no epsilon.  ``start`` makes a *generation*: a work area
``runs/<run_id>/generations/<run_id>+gen<k>/`` whose ``prepared`` and ``model`` are the run's own (linked, not
copied), with the run's spec asking for ``records`` new records, a fresh sampling seed and the new output
folder.  The steps ``synthetic -> audits -> export`` of ``synthdata.flow.steps`` then run on it unchanged:
the new sample is audited against the run's real training and holdout splits and exported only if every gate
passes (and after a sign-off when the spec requires one: ``synthdata approve <run_id>+gen<k>``).

Privacy: no ledger charge, and the privacy statement is the training run's.  But the gate's decision is
computed from the private data outside the DP guarantee (one bit per audit), and sampling again after a
blocked sample is a retry on that decision: every generation's report states how many samples of this model
were audited before it and how many of them were blocked.  Purging the run purges its generations.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from synthdata import home
from synthdata.errors import BadInputError
from synthdata.export.atomic import check_output_free
from synthdata.export.manifest import write_json
from synthdata.flow import approvers
from synthdata.release_spec import load_spec
from synthdata.run_area import RunArea, existing_run_area, read_json

RECORD = "generation.json"  # in a generation's work area: where it came from, for the report and manifest
_LINKED = ("prepared", "model")


def start(*, run_id: str, records: int, out: Path | str, seed: int | None = None) -> tuple[RunArea, Any]:
    """A new generation of run ``run_id``'s model: its work area and spec (nothing sampled yet).

    Refuses (BadInputError, nothing written) a run that is itself a generation, was purged, or has no trained
    model; an output folder that exists; fewer than one record."""
    if home.GENERATION_MARK in run_id:
        raise BadInputError(f"{run_id} is a generation: generate from the run it came from "
                            f"({run_id.partition(home.GENERATION_MARK)[0]})")
    if records < 1:
        raise BadInputError(f"--records must be at least 1, got {records}")
    source = existing_run_area(run_id)
    if not (source.root / "model" / "training.json").is_file():
        raise BadInputError(f"run {run_id} has no trained model (it stopped before training finished): "
                            f"`synthdata resume {run_id}` first")
    out = Path(out).expanduser().resolve()
    check_output_free(out)
    spec = load_spec(source.spec)
    approvers.check_configured(spec)  # a sign-off nobody may give: refused before sampling
    seed = secrets.randbits(31) if seed is None else int(seed)
    spec = spec.model_copy(update={"seed": seed, "output": spec.output.model_copy(update={"out": out,
                                                                                          "records": records})})
    earlier = generations(run_id)
    audited = [source, *(RunArea(home.run_path(g)) for g in earlier)]  # the run's own sample, then each generation
    audited = [a for a in audited if (a.root / "synthetic" / "audit.json").is_file()]
    area = _new_area(run_id, number=len(earlier) + 1)
    for name in _LINKED:
        os.symlink(Path("..") / ".." / name, area.root / name, target_is_directory=True)
    area.spec.write_text(spec.to_yaml(), encoding="utf-8")
    write_json(area.root / RECORD, {
        "run_id": run_id, "generation": area.root.name, "records": records, "seed": seed,
        "earlier_samples": len(audited), "earlier_blocked": sum(_blocked(a) for a in audited),
    })
    return area, spec


def generations(run_id: str) -> list[str]:
    """The generations of a run made so far, oldest first."""
    folder = home.run_path(run_id) / "generations"
    if not folder.is_dir():
        return []
    return sorted((p.name for p in folder.iterdir() if p.is_dir()),
                  key=lambda name: int(name.rpartition(home.GENERATION_MARK)[2] or 0))


def note(record: dict[str, Any]) -> str:
    """The report's sentence about a generation (aggregates: counts of samples and of blocked ones)."""
    blocked = record["earlier_blocked"]
    return (f"This release is a new sample of {record['records']} records from the model trained in run "
            f"{record['run_id']}: sampling is post-processing of that DP model, so no privacy budget was spent and "
            f"the privacy statement is that training's. {record['earlier_samples']} earlier sample(s) of this model "
            f"went through the audits ({blocked} blocked); each gate decision is computed from the private data "
            "outside the DP guarantee, so a retry after a block is a choice made on the private data.")


def _new_area(run_id: str, *, number: int) -> RunArea:
    """An empty generation folder, created atomically (two generations at once never share one)."""
    while True:
        path = home.run_path(f"{run_id}{home.GENERATION_MARK}{number}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            number += 1
            continue
        return RunArea(path)


def _blocked(area: RunArea) -> int:
    """1 if a gate failed on this (audited) work area's sample, else 0."""
    record = json.loads((area.root / "synthetic" / "audit.json").read_text(encoding="utf-8"))
    return int(any(r.get("passed") is False for r in record["audits"]))


def record_of(area: RunArea) -> dict[str, Any] | None:
    """The generation record of a work area (None for an ordinary run)."""
    path = area.root / RECORD
    return read_json(path) if path.is_file() else None
