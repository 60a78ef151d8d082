# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ./segmentdb_data
PORT ?= 50051

.PHONY: run test test-slow test-chroma protos lint-protos breaking-protos install install-dev clean

BUF_VERSION := 1.75.0
BUF := .buf/node_modules/.bin/buf

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -e .

# The dev extras include segmentdb[embeddings] (sentence-transformers -> torch). Torch goes in
# first and pinned, so that pip takes the CPU build (torch-$(TORCH_VERSION)+cpu, which pip
# prefers as the local version of the pin, from the find-links folder this machine's pip is
# configured with) instead of resolving PyPI's multi-GB CUDA build. Elsewhere, set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu to take it from PyTorch's CPU index.
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=

install-dev: $(BIN)/python
	$(BIN)/pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) 'torch==$(TORCH_VERSION)'
	$(BIN)/pip install -e '.[dev]'

run: install
	$(BIN)/segmentdb serve --path $(DATA) --port $(PORT)

test: install-dev
	$(BIN)/python -m pytest -q

test-slow: install-dev
	$(BIN)/python -m pytest -q -m slow

# Chroma's own property tests (the chromadb wheel's) with Chroma's fast preset, plus the stock
# HttpClient tests, against `segmentdb serve --http-port auto` (docs/chroma-compat.md).
# CHROMA_PRESET=normal or slow for Chroma's bigger presets.
CHROMA_PRESET ?= fast

test-chroma: install-dev
	SEGMENTDB_CHROMA_PRESET=$(CHROMA_PRESET) $(BIN)/python -m pytest -q -m "slow or not slow" tests/chroma_suite

# Regenerate the committed stubs under segmentdb/ from protos/.
protos: install-dev
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. \
		$$(find protos -name '*.proto' | sort)

# buf lint (STANDARD, see buf.yaml) with buf from npm, installed locally into .buf/.
$(BUF):
	mkdir -p .buf && cd .buf && npm install --silent --no-audit --no-fund @bufbuild/buf@$(BUF_VERSION)

lint-protos: $(BUF)
	$(BUF) lint

# buf breaking (FILE rules, buf.yaml): the protos stay compatible with BREAKING_BASE's, by
# default the previous commit (on main after a merge: main before it). The old protos are
# taken with `git archive`, which works in a fresh clone, a worktree and CI alike;
# `make breaking-protos BREAKING_BASE=main` checks a branch against main.
BREAKING_BASE ?= HEAD~1

breaking-protos: $(BUF)
	rm -rf .buf/against && mkdir -p .buf/against
	git archive $(BREAKING_BASE) buf.yaml protos | tar -x -C .buf/against
	$(BUF) breaking --against .buf/against

clean:
	rm -rf $(VENV) .buf build *.egg-info

# Benchmarks (issue 4) against chromadb and raw hnswlib; see docs/benchmarks.md.
# chromadb is bench-only: it lives in its own venv, bench/.venv, with segmentdb installed too.
BENCH_VENV := bench/.venv
BENCH_SIZE ?=
BENCH_ARGS := $(if $(BENCH_SIZE),--size $(BENCH_SIZE))

.PHONY: bench bench-full bench-smoke

$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --upgrade pip
	$(BENCH_VENV)/bin/pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) 'torch==$(TORCH_VERSION)'
	$(BENCH_VENV)/bin/pip install -e '.[bench]'
	touch $@

# Quick: 10k records, 1 repetition, ~5 minutes (+ ~1.5 min of embedding throughput, 2,000
# texts); rewrites docs/benchmarks.md. `python -m bench.run --embedding-only` runs only that.
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench.run --mode quick $(BENCH_ARGS)

# Full: 100k records, 4 and 16 clients, median of 3; `make bench-full BENCH_SIZE=1000000` for 1M.
bench-full: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench.run --mode full $(BENCH_ARGS)

# The CI smoke: segmentdb + raw hnswlib at 500 records, no chromadb, docs untouched.
bench-smoke: install-dev
	$(BIN)/python -m bench.run --mode smoke --systems segmentdb,hnswlib --markdown bench/results/smoke.md
