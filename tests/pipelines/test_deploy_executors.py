"""The Kubernetes and Celery code locations (pipelines/deploy/): the real `dagster definitions validate` loads each
with its shipped executor configuration and passes, and fails on a broken one; the Helm values example names a
code location that validates; runs the UI launches keep Dagster's multiprocess executor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "pipelines" / "deploy"
BROKER = "pyamqp://guest@127.0.0.1:5672//"  # never contacted: validation reads the configuration only


def _validate(args: list[str], tmp_path: Path, **changes: str | None) -> tuple[int, str]:
    """`dagster definitions validate ARGS` in a subprocess, in an environment a deployment would give it."""
    instance = tmp_path / "dagster-home"
    instance.mkdir(exist_ok=True)
    (instance / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "SYNTHDATA_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(instance),
           "SYNTHDATA_LEDGER_URL": "postgresql+psycopg://synthdata:secret@db.internal:5432/synthdata",
           "SYNTHDATA_CELERY_BROKER_URL": BROKER}
    env.pop("SYNTHDATA_EXECUTOR_CONFIG", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    done = subprocess.run([str(Path(sys.executable).with_name("dagster")), "definitions", "validate", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_the_helm_values_code_location_and_the_celery_one_validate(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_celery.cli import get_validated_config  # what `dagster-celery worker start -y FILE` reads

    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True  # run and step pods get what follows
    env = {e["name"]: e["value"] for e in deployment["env"]}
    (mount,) = deployment["volumeMounts"]
    assert env["SYNTHDATA_HOME"].startswith(mount["mountPath"] + "/")  # every pod sees the same work areas
    assert {s["name"] for s in deployment["envSecrets"]} == {"synthdata-ledger"}
    args = deployment["dagsterApiGrpcArgs"]
    assert args == ["-m", "pipelines.deploy.k8s"]
    code, output = _validate([*args, "-m", "pipelines.deploy.celery"], tmp_path)  # one process, both locations
    assert code == 0, output[-3000:]
    assert "Validation successful for code location pipelines.deploy.k8s" in output
    assert "Validation successful for code location pipelines.deploy.celery" in output
    monkeypatch.setenv("SYNTHDATA_CELERY_BROKER_URL", BROKER)
    worker = get_validated_config(str(DEPLOY / "celery.yaml"))
    assert worker["broker"] == BROKER and worker["config_source"]["worker_concurrency"] == 1


@pytest.mark.parametrize(("module", "config", "changes", "expected"), [
    # a misspelt key and a wrong type in an operator's own file
    ("pipelines.deploy.k8s", {"job_namspace": "synthdata", "max_concurrent": "two"}, {},
     ['unexpected config entry "job_namspace"', "max_concurrent"]),
    # the broker's variable is not set where the code location loads
    ("pipelines.deploy.celery", None, {"SYNTHDATA_CELERY_BROKER_URL": None},
     ['environment variable "SYNTHDATA_CELERY_BROKER_URL" which is not set']),
])
def test_a_broken_configuration_fails_validation(module: str, config: dict | None, changes: dict,
                                                 expected: list[str], tmp_path: Path) -> None:
    if config is not None:
        path = tmp_path / "executor.yaml"
        path.write_text(yaml.safe_dump({"execution": {"config": config}}))
        changes = {**changes, "SYNTHDATA_EXECUTOR_CONFIG": str(path)}
    code, output = _validate(["-m", module], tmp_path, **changes)
    assert code == 1, output[-3000:]
    assert f"Validation successful for code location {module}" not in output
    for text in expected:
        assert text in output, output[-3000:]


@pytest.mark.parametrize("url", [None, "sqlite:////data/synthdata/ledger.sqlite"])
def test_a_deployment_needs_a_ledger_server(url: str | None, synthdata_home: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Pods on several machines cannot lock one SQLite file reliably: an unlocked ledger can overspend."""
    from dagster_k8s import k8s_job_executor

    from pipelines.deploy.executor import deployed_definitions

    if url is None:
        monkeypatch.delenv("SYNTHDATA_LEDGER_URL", raising=False)
    else:
        monkeypatch.setenv("SYNTHDATA_LEDGER_URL", url)
    with pytest.raises(ValueError, match=r"\$SYNTHDATA_LEDGER_URL must name the privacy ledger's database server"):
        deployed_definitions(k8s_job_executor, DEPLOY / "k8s.yaml")


def test_runs_the_ui_launches_use_the_multiprocess_executor(synthdata_home: Path) -> None:
    """The CLI runs in-process (docs/guide.md, "Deployment"); the UI's definitions keep Dagster's default,
    each step in its own process."""
    from pipelines.registry import build_definitions

    job = build_definitions().resolve_job_def("diabetes_demo_release")
    execution = dg.validate_run_config(job, {})["execution"]
    assert list(execution["multi_or_in_process_executor"]) == ["multiprocess"]
