# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ./segmentdb_data
PORT ?= 50051

.PHONY: run test test-slow protos install install-dev clean

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

clean:
	rm -rf $(VENV) build *.egg-info
