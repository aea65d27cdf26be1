"""The release flow: the ordered steps of a release (``steps``), written once, and what each does
(``stages``: prepare, train, sample, the canary audit; ``publish``: audit, approve, export;
``audit_files``: the audit suite on files from any generator).  Dagster (``pipelines``) and the Python API
(``synthdata.api``) are both built from ``steps.RELEASE``."""
