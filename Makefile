# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ./segmentdb_data
PORT ?= 50051

.PHONY: run test test-slow protos lint-protos install install-dev clean

BUF_VERSION := 1.75.0
BUF := .buf/node_modules/.bin/buf

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -e '.[dev]'

run: install
	$(BIN)/segmentdb serve --path $(DATA) --port $(PORT)

test: install-dev
	$(BIN)/python -m pytest -q

test-slow: install-dev
	$(BIN)/python -m pytest -q -m slow

# Regenerate the committed stubs under segmentdb/ from protos/.
protos: install-dev
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. \
		$$(find protos -name '*.proto' | sort)

# buf lint (STANDARD, see buf.yaml) with buf from npm, installed locally into .buf/.
$(BUF):
	mkdir -p .buf && cd .buf && npm install --silent --no-audit --no-fund @bufbuild/buf@$(BUF_VERSION)

lint-protos: $(BUF)
	$(BUF) lint

clean:
	rm -rf $(VENV) .buf build *.egg-info
