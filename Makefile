# loadgate — every target documented with `## text`; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

##@ Variables (override on the command line: make run PROFILE=profiles/spike.yaml)
PYTHON ?= python3
VENV ?= .venv
# Where pip finds the CPU-only torch wheel. Empty = the default index (this repo's machines
# carry the CPU build locally). Elsewhere: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=
TORCH_VERSION ?= 2.13.0
PROFILE ?= profiles/smoke.yaml
HOST ?= 127.0.0.1
PORT ?= 8000
TARGET ?= http://$(HOST):$(PORT)
WORKERS ?= 1
PYTEST_ARGS ?=
BENCH_SECONDS ?= 30

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_INDEX_ARG := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)

##@ Quick start

.PHONY: run
run: install ## Start the local model server, run PROFILE against it, print the verdict and the breaking point
	$(BIN)/loadgate run $(PROFILE) --serve --target $(TARGET) --workers $(WORKERS)

.PHONY: test
test: install ## Run the whole test suite (lint, unit, real server and Locust runs, charts, operator)
	$(BIN)/ruff check src operator tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

##@ Development

.PHONY: install
install: $(STAMP) ## Create .venv and install loadgate with its test tools (idempotent)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned, so nothing below can pull the multi-GB CUDA build
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX_ARG) torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e '.[dev,onnx]'
	touch $@

.PHONY: serve
serve: install ## Run the model server in the foreground on HOST:PORT
	$(BIN)/loadgate serve --host $(HOST) --port $(PORT)

.PHONY: lint
lint: install ## Ruff on all Python sources
	$(BIN)/ruff check src operator tests bench

.PHONY: clean
clean: ## Remove results/ and caches (keeps .venv)
	rm -rf results .pytest_cache .ruff_cache

##@ Benchmarks

.PHONY: bench
bench: bench-server bench-loadgen ## All benchmarks

.PHONY: bench-server
bench-server: install ## Naive (no batching) vs default server under the same Locust traffic; prints the ratio
	$(BIN)/python -m bench.bench_server --seconds $(BENCH_SECONDS)

.PHONY: bench-loadgen
bench-loadgen: install ## Requests/s and CPU per request of one Locust worker against a trivial endpoint
	$(BIN)/python -m bench.bench_loadgen --seconds $(BENCH_SECONDS)

##@ Kubernetes (kind)
# (filled in by the Kubernetes work: kind-up, images, kind-load, deploy, loadtest, results, e2e, kind-down)

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m [VAR=value]\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
