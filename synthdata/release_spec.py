"""Reading a release spec (a YAML file, or a mapping built from CLI flags) against the registered modalities.

The modality named in ``dataset.modality`` says which section of ``dataset`` holds its declared settings
(``signal:``, ``image:``, ...) and fills every model field the spec leaves unset from its preset.  Relative
paths in a spec file resolve against the file's folder.  Every problem becomes one BadInputError naming the
field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from synthdata.config import ReleaseSpec, read_yaml, validation_problems
from synthdata.errors import BadInputError
from synthdata.modalities import MODALITIES, registration


def _sections() -> dict[str, str]:
    """Section key -> a modality that declares its settings there."""
    return {r.settings.section: name for name, r in MODALITIES.items() if r.settings is not None}


def parse_spec(raw: dict, *, source: str = "spec") -> ReleaseSpec:
    """Validate a spec mapping; problems become one BadInputError naming each field."""
    raw = copy.deepcopy(raw)
    dataset = raw.get("dataset")
    problems: list[str] = []
    settings = None
    modality_name = dataset.get("modality", "table") if isinstance(dataset, dict) else "table"
    try:
        entry = registration(modality_name)
    except BadInputError as error:
        raise BadInputError(f"{source} is not a valid release spec: dataset.modality: {error.message}") from None
    if isinstance(dataset, dict):
        wanted = entry.settings.section if entry.settings is not None else None
        for section in sorted(set(_sections()) - {wanted}):
            if section in dataset:
                problems.append(f"dataset.{section}: a '{section}:' section is not for modality {modality_name}")
                dataset.pop(section)
        if entry.settings is not None:
            given = dataset.pop(wanted, None)
            if given is None:
                problems.append(f"dataset: modality {modality_name} needs a '{wanted}:' section with its declared "
                                "settings")
            else:
                try:
                    settings = entry.settings.model_validate(given)
                except ValidationError as exc:
                    problems += validation_problems(exc, prefix=("dataset", wanted))
        if settings is not None:
            dataset["settings"] = settings
    try:
        spec = ReleaseSpec.model_validate(raw)
    except ValidationError as exc:
        problems += validation_problems(exc)
    if problems:
        raise BadInputError(f"{source} is not a valid release spec: {'; '.join(problems[:8])}")
    return spec.model_copy(update={"model": spec.model.filled(presets=dict(entry.presets))})


def _resolve_paths(raw: dict, base: Path) -> dict:
    """Make the spec's relative file paths absolute against ``base`` (the spec file's folder)."""
    dataset = raw.get("dataset")
    if isinstance(dataset, dict):
        places: list[tuple[Any, str]] = [(dataset, "path"), (dataset, "schema")]
        for section, name in _sections().items():
            holder = dataset.get(section)
            places += [(holder, key) for key in MODALITIES[name].settings.paths]
        for holder, key in places:
            if isinstance(holder, dict) and isinstance(holder.get(key), str) and not Path(holder[key]).is_absolute():
                holder[key] = str((base / holder[key]).resolve())
    model = raw.get("model")
    if isinstance(model, dict) and isinstance(model.get("pretrain"), str) and not Path(model["pretrain"]).is_absolute():
        model["pretrain"] = str((base / model["pretrain"]).resolve())
    output = raw.get("output")
    out = output.get("out") if isinstance(output, dict) else None
    if isinstance(out, str) and not Path(out).is_absolute() and not out.startswith("{home}"):
        output["out"] = str((base / output["out"]).resolve())
    return raw


def read_section(path: Path, *, section: str) -> dict:
    """A YAML file holding one dataset section (``signal:`` or ``image:``, with or without that top key);
    relative paths in it resolve against the file's folder."""
    path = Path(path)
    raw = read_yaml(path, what=f"{section} settings file")
    if isinstance(raw, dict) and isinstance(raw.get(section), dict):
        raw = raw[section]
    if not isinstance(raw, dict):
        raise BadInputError(f"{path} must be a mapping of {section} settings")
    return _resolve_paths({"dataset": {section: raw}}, path.resolve().parent)["dataset"][section]


def load_spec(path: Path, *, overrides: Mapping[str, Any] | None = None) -> ReleaseSpec:
    """Read a release spec YAML file; relative paths resolve against its folder.  ``overrides`` maps dotted
    places (``privacy.epsilon``, ``output.out``, ...) to values that replace the file's (command-line flags):
    the spec that runs, and is recorded in the run and the manifest, holds them."""
    path = Path(path)
    raw = read_yaml(path, what="spec file")
    if not isinstance(raw, dict):
        raise BadInputError(f"spec file {path} must be a mapping (name, dataset, privacy, output, ...)")
    raw = _resolve_paths(raw, path.resolve().parent)
    for place, value in (overrides or {}).items():
        *parents, key = place.split(".")
        holder = raw
        for parent in parents:
            holder = holder.setdefault(parent, {})
            if not isinstance(holder, dict):
                raise BadInputError(f"spec file {path}: '{parent}' must be a mapping to take {place} from the command line")
        holder[key] = value
    return parse_spec(raw, source=str(path))
