"""Code location for Kubernetes (Dagster's Helm chart, ``helm-values.yaml``): each step of a release runs in
its own Kubernetes Job (dagster-k8s' ``k8s_job_executor``), configured by ``k8s.yaml``."""

from __future__ import annotations

from pathlib import Path

from dagster_k8s import k8s_job_executor

from pipelines.deploy.executor import deployed_definitions

defs = deployed_definitions(k8s_job_executor, Path(__file__).with_name("k8s.yaml"))
