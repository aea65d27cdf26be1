"""Code location for Celery: each step of a release runs on a Celery worker (dagster-celery's
``celery_executor``), configured by ``celery.yaml``, the file the workers start with too."""

from __future__ import annotations

from pathlib import Path

from dagster_celery import celery_executor

from pipelines.deploy.executor import deployed_definitions

defs = deployed_definitions(celery_executor, Path(__file__).with_name("celery.yaml"))
