# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Everything else here is a step they use, exposed for when you want one on its own.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION ?= 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif

VENV_STAMP := .venv/.synced
DEVSTACK := $(UV) run --frozen python -m leaderboard.devstack

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: uv
uv: ## Install uv (from PyPI) when it is missing
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
	  || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV_STAMP): pyproject.toml uv.lock
	@$(MAKE) --no-print-directory uv
	$(UV) sync --frozen
	@touch $@

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv from the lock file

.PHONY: infra-up
infra-up: venv ## Start Kafka, Redis and PostgreSQL (installing what is missing); idempotent
	$(DEVSTACK) up

.PHONY: infra-down
infra-down: venv ## Stop the local stack (data is kept under .devstack/)
	$(DEVSTACK) down

.PHONY: infra-status
infra-status: venv ## Show whether each server of the local stack answers
	$(DEVSTACK) status

.PHONY: run
run: infra-up prometheus-tools ## Run the product locally: the stack, every service and a Prometheus scraping them
	$(DEVSTACK) run

.PHONY: test-tools
test-tools: venv ## Install what the browser tests need (Chromium, nginx) when missing
	$(DEVSTACK) tools

.PHONY: kube-tools
kube-tools: ## Build helm for the offline chart tests into ~/.cache/leaderboard/tools (once, from the Go module proxy)
	bash k8s/install-tools.sh

.PHONY: prometheus-tools
prometheus-tools: ## Build Prometheus and promtool into ~/.cache/leaderboard/tools (once, from the Go module proxy)
	bash k8s/install-tools.sh prometheus

CLUSTER := bash k8s/cluster/cluster.sh

.PHONY: cluster-up
cluster-up: ## Start a single-node Kubernetes cluster on this machine and install the chart (root)
	$(CLUSTER) up
	$(CLUSTER) install
	$(CLUSTER) urls

.PHONY: cluster-down
cluster-down: ## Stop that cluster and remove all it started (processes, mounts, interfaces, firewall rules)
	$(CLUSTER) down

.PHONY: test-cluster
test-cluster: venv test-tools ## Start the cluster, run tests/cluster against it, tear it down (also on failure)
	@trap 'status=$$?; $(CLUSTER) down || status=1; exit $$status' EXIT; trap 'exit 130' INT TERM; \
	  $(CLUSTER) up && $(UV) run --frozen pytest tests/cluster

.PHONY: test
test: lint infra-up test-tools kube-tools prometheus-tools ## Lint, then run the whole test suite against the local stack
	$(UV) run --frozen pytest

.PHONY: bench
bench: infra-up ## Benchmark the ranker and the archiver against per-event baselines (~7 min)
	$(UV) run --frozen python -m tests.bench.pipeline

.PHONY: bench-gateway
bench-gateway: infra-up ## Benchmark the gateway: WebSocket fan-out and end-to-end freshness
	$(UV) run --frozen python -m tests.bench.gateway

.PHONY: lint
lint: venv ## Lint, check formatting and types
	$(UV) run --frozen ruff check src tests
	$(UV) run --frozen ruff format --check src tests
	$(UV) run --frozen mypy

.PHONY: clean
clean: ## Remove the virtualenv and caches (keeps .devstack/ data)
	rm -rf .venv .pytest_cache .ruff_cache
