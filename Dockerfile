# ragqa: CPU-only image with the model and the seed index baked in.
# The install steps are the Makefile's own (`make install`, `make index`), so the two cannot drift.
# Any Debian-based image with Python 3.11 and venv; CI builds on a local debootstrap Debian.
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    RAGQA_HOST=0.0.0.0 \
    RAGQA_PORT=8000 \
    RAGQA_INDEX_DIR=/app/index

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml requirements.lock requirements.in Makefile README.md ./
COPY indexer ./indexer
COPY service ./service
COPY seeds ./seeds

# PyPI has no CPU-only torch build; PyTorch's CPU wheel index does.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN make install VENV=/opt/venv TORCH_INDEX=${TORCH_INDEX} \
    && make index VENV=/opt/venv

RUN useradd --system --uid 10001 --home-dir /app ragqa
USER ragqa

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"]
CMD ["/opt/venv/bin/ragqa", "serve"]
