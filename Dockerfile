# The synthdata CLI and the Dagster UI (port 3000); compose.yaml runs it as a deployment (UI, daemon, PostgreSQL).
# CPU build by default; a GPU build by build argument, e.g. (the CUDA index matching the host's driver):
#   docker build --build-arg TORCH_VARIANT=cu126 -t synthdata:gpu .
#   docker run --gpus all ...  with model.device: cuda (or auto) in the release spec
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    SYNTHDATA_HOME=/data/synthdata

# Not root: the ledger, the sign-off records and the files written carry the account that ran them.  A bind
# mount (-v /secure/volume:/data) must be writable by uid 10001 (chown 10001 /secure/volume), or run with
# --user "$(id -u)" and the files will carry yours.
RUN useradd --create-home --uid 10001 synthdata && mkdir -p /data && chown synthdata /data

WORKDIR /app
# torch first, from PyTorch's own index (the CPU build, or the CUDA one TORCH_VARIANT names), so opacus does
# not pull another build.
RUN pip install torch==2.13.0 --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"
# The dependencies (with PostgreSQL storage and the Kubernetes/Celery executors, the `deploy` extra) from
# pyproject.toml alone, on empty package folders: this layer is rebuilt only when the dependencies change,
# not on every change to the code.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir synthdata pipelines evaluation \
    && pip install -c constraints.txt '.[deploy]' \
    && rm -r synthdata pipelines evaluation
COPY synthdata ./synthdata
COPY pipelines ./pipelines
COPY evaluation ./evaluation
RUN pip install --no-deps --force-reinstall .

USER 10001
# Private data and run state live in the volume; keep it on storage approved for the source data.
VOLUME ["/data"]
# The Dagster UI has no login of its own: anyone who reaches port 3000 can launch a release, or the approve
# job under any listed approver's name. Do not publish the port beyond this machine (docker run -p
# 127.0.0.1:3000:3000); in a deployment put the UI behind an authenticating reverse proxy (oauth2-proxy
# against your identity provider, or nginx with auth_request or client certificates) and keep its access
# log, which says who launched each run (docs/guide.md, "Human sign-off").
# Sign-offs are refused unless the name is on the approvers list: /data/synthdata/approvers.yaml
# (`approvers: [name, ...]`) or the file SYNTHDATA_APPROVERS_FILE names. Each sign-off records the OS
# account of the process that wrote it and SYNTHDATA_DEPLOYMENT_USER, when set (e.g. -e
# SYNTHDATA_DEPLOYMENT_USER=ward7-data-team), beside the name.
EXPOSE 3000
# The Dagster instance is made at start, inside the volume: the entrypoint points DAGSTER_HOME at
# synthdata.home.dagster_home(), which writes its dagster.yaml (SQLite, or PostgreSQL with -e
# SYNTHDATA_DAGSTER_POSTGRES_URL=...); one made at build time would be hidden by the volume.  Any command runs
# under it (dagster-webserver and dagster-daemon in compose.yaml, `synthdata release ...`).  0.0.0.0 is inside
# the container; publish the port to 127.0.0.1 only (above).
ENTRYPOINT ["sh", "-c", "DAGSTER_HOME=\"$(python -m synthdata.home)\" && export DAGSTER_HOME && exec \"$@\"", "--"]
CMD ["dagster", "dev", "-h", "0.0.0.0", "-p", "3000", "-m", "pipelines.definitions"]
