"""The README and docs/ point at things that exist: files they link, make targets and commands they name."""

from __future__ import annotations

import re
from pathlib import Path

from synthdata.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_relative_links_resolve() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (page.parent / target).exists(), f"{page.name} links {target}, which does not exist"


def test_named_make_targets_and_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in set(re.findall(r"`make ([a-z0-9-]+)", readme)):
        assert target in targets, f"the README names `make {target}`, which the Makefile lacks"
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001
    for command in set(re.findall(r"^synthdata ([a-z-]+)", readme, flags=re.M)) | set(
            re.findall(r"`synthdata ([a-z-]+)", readme)):
        assert command in commands, f"the README names `synthdata {command}`, which the CLI lacks"
