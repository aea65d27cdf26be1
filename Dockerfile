# CPU image: the synthdata CLI and the Dagster UI (port 3000).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    SYNTHDATA_HOME=/data/synthdata \
    DAGSTER_HOME=/data/synthdata/dagster

WORKDIR /app
# CPU-only torch first, from PyTorch's CPU index, so opacus does not pull a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml constraints.txt README.md ./
COPY synthdata ./synthdata
COPY pipelines ./pipelines
COPY evaluation ./evaluation
RUN pip install -c constraints.txt . \
    && mkdir -p "$DAGSTER_HOME" \
    && printf 'telemetry:\n  enabled: false\n' > "$DAGSTER_HOME/dagster.yaml"

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
CMD ["dagster", "dev", "-h", "0.0.0.0", "-p", "3000", "-m", "pipelines.definitions"]
