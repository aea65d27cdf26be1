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
EXPOSE 3000
CMD ["dagster", "dev", "-h", "0.0.0.0", "-p", "3000", "-m", "pipelines.definitions"]
