"""The release manifest: what was released, under which guarantee, with which evidence.

``manifest.json`` lists every file with its SHA-256, the privacy figures (epsilon composed over DP
preprocessing and training, delta, privacy unit, accountant), each audit with its verdict, the spec, the
seed and the package versions.  It carries aggregates only, never a record.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("synthdata", "torch", "opacus", "numpy", "pandas", "polars", "pyarrow", "sdmetrics", "scikit-learn", "dagster")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(path: Path) -> str:
    """``sha256_file`` of a file; of a folder (a WFDB, EDF or image folder), the SHA-256 of its files' relative
    paths and SHA-256s in sorted order, so the same files give the same digest wherever the folder lies."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def file_entries(*, folder: Path, names: list[str]) -> list[dict[str, str]]:
    return [{"path": name, "sha256": sha256_file(folder / name)} for name in names]


def write_json(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Write ``data`` as indented JSON (non-JSON values as strings); returns ``data``."""
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return data


def write_manifest(*, folder: Path, manifest: dict[str, Any]) -> Path:
    path = folder / "manifest.json"
    write_json(path, manifest)
    return path
