"""Code locations for deployments in which a release's steps run outside the run's own process.

``pipelines.definitions`` (the UI of ``make ui``, ``dagster dev``) keeps Dagster's default executor: each step
in a subprocess of the run (multiprocess).  ``pipelines.deploy.k8s`` runs each step in a Kubernetes Job
(dagster-k8s), ``pipelines.deploy.celery`` on Celery workers (dagster-celery); ``pip install
'synthdata[deploy]'``.  ``helm-values.yaml`` is an example for Dagster's Helm chart.  See docs/guide.md,
"Deployment".
"""
