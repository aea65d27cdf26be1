"""``synthdata audit``: audit synthetic data from any source (synthdata, SDV, SmartNoise, ...) against real data.

Reads real training, real holdout and synthetic files with the modality's reader, runs the same audit suite a
release runs, and writes ``audit.json`` (the audit list of a release manifest), ``report.html`` and
``report.pdf`` into a new folder, all at once: bad input writes nothing.

Privacy caveat: the audits read the private training and holdout files; the outputs hold aggregates only,
unless ``internal=True`` adds ``report_internal.html`` / ``.pdf`` beside the public report, with the closest
synthetic/real pairs (real records: keep that report in-house, never hand it on with the audit).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from evaluation.base import AuditContext, AuditResult, AuditSettings, split_groups
from evaluation.gate import blocking, check_gate_names
from evaluation.suite import audit_and_report
from synthdata.export.atomic import atomic_folder, check_output_free
from synthdata.export.manifest import sha256_tree
from synthdata.flow import databases
from synthdata.config import ModalitySettings
from synthdata.errors import BadInputError
from synthdata.modalities import get_modality, registration
from synthdata.release_spec import read_section
from synthdata.versions import __version__

log = logging.getLogger("synthdata")


@dataclass(frozen=True)
class AuditOutcome:
    out: Path
    results: list[AuditResult]

    @property
    def passed(self) -> bool:
        return not blocking(self.results)


def audit_files(
    *, modality: str, train: Path, holdout: Path, synthetic: Path, out: Path, target: str | None = None,
    schema: Path | None = None, gates: Mapping[str, float] | None = None, max_rows: int = 5000, seed: int = 0,
    internal: bool = False, require_judged: bool = False, on_progress: Callable[[str], None] | None = None,
) -> AuditOutcome:
    """Audit ``synthetic`` against ``train`` and ``holdout``; write the record and reports into ``out``.

    When the schema names a ``subject`` column present in the training and holdout files, the memorization
    and attack audits move whole patients between training and holdout (like with like).  ``require_judged``
    makes a privacy gate that could not be judged at these sizes fail."""
    check_gate_names(gates or {})
    check_output_free(out)
    databases.refuse(modality=modality, what="synthdata audit")
    kind = get_modality(modality)
    entry = registration(modality)
    settings = None
    if entry.settings is not None and schema is not None:  # signals, images: the declared settings section
        settings = _settings(entry.settings, schema)
        schema = None
    inputs = kind.read_audit_inputs(train=train, holdout=holdout, synthetic=synthetic, schema=schema, target=target,
                                    settings=settings)
    groups = split_groups(train=inputs.groups.get("train"), holdout=inputs.groups.get("holdout"))
    notes = list(inputs.notes)
    if inputs.groups and not groups:
        notes.append("some patients (subject column) have rows in both the training and the holdout file, so the "
                     "holdout is not of unseen patients: the memorization and attack audits treat each row as its "
                     "own unit, and a patient's rows on both sides make them less sensitive")
    context = AuditContext(modality=modality, train=inputs.train, holdout=inputs.holdout,
                           synthetic=inputs.synthetic, schema=inputs.schema, target=target,
                           settings=AuditSettings(max_rows=max_rows, seed=seed), groups=groups)
    release = {
        "name": Path(synthetic).name, "title": f"Synthetic data audit report: {Path(synthetic).name}",
        "modality": modality, "records": len(inputs.synthetic),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "synthdata_version": __version__, "seed": seed,
        "source": "synthetic data audited by `synthdata audit` (generator not recorded)",
    }
    privacy = {"privacy_unit": "not known to synthdata (the generator was run elsewhere)"}
    with atomic_folder(out) as staging:
        results, _ = audit_and_report(
            context=context, gates=gates, release=release, privacy=privacy, notes=notes, folder=staging,
            synthetic_sha256=sha256_tree(Path(synthetic)), internal=internal, require_judged=require_judged,
            on_progress=on_progress or (lambda name: log.info("audit: %s", name)))
    return AuditOutcome(out=Path(out), results=results)


def _settings(kind: type[ModalitySettings], path: Path) -> ModalitySettings:
    """The declared settings in ``path`` (a ``signal:``/``image:`` section file), validated; BadInputError
    naming the file and field otherwise."""
    from pydantic import ValidationError

    try:
        return kind.model_validate(read_section(Path(path), section=kind.section))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:6])
        raise BadInputError(f"{path} is not valid {kind.section} settings: {problems}") from None

