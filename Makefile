# Frontdesk: the commands a newcomer needs. Everything runs from the workspace virtualenv (.venv).
#   make run     start Kafka, PostgreSQL and the four services, play a short demo; Ctrl-C stops all
#   make test    the whole test suite against a real broker and database (started for the tests)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run up down status demo test test-unit lint bench schemas docs clean

install: $(INSTALLED)

$(INSTALLED): requirements-dev.txt libs/common/pyproject.toml tools/pyproject.toml services/*/pyproject.toml deploy/local/kafka/pom.xml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17+ is required for the local Kafka broker"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/python -c 'from frontdesk.tools.stack import ensure_kafka_jars; ensure_kafka_jars()'
	@touch $@

run: install
	$(BIN)/frontdesk stack run

up: install
	$(BIN)/frontdesk stack up

down: install
	$(BIN)/frontdesk stack down

status: install
	$(BIN)/frontdesk stack status

demo: install
	$(BIN)/frontdesk demo

test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Each benchmark starts its own stack (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL) and prints
# its numbers next to a baseline measured in the same run. See benchmarks/README.md.
bench: install
	$(BIN)/python benchmarks/roundtrip.py
	$(BIN)/python benchmarks/call_router_routing.py
	$(BIN)/python benchmarks/scheduler_booking.py --http
	$(BIN)/python benchmarks/followup_planning.py

schemas: install
	$(BIN)/python -m frontdesk.common.contracts.schemas --write

clean:
	rm -rf $(VENV) .local deploy/local/kafka/.cache

# --- deploy: images and Kubernetes manifests (docs/operations.md) ------------------------------------
# kustomize renders deploy/k8s offline (tests/deploy); `make install` builds it from the Go module proxy.
KUSTOMIZE_VERSION := v5.8.0
KUSTOMIZE := $(BIN)/kustomize
IMAGE_PREFIX ?= frontdesk
IMAGE_TAG ?= dev
IMAGE_SERVICES := call-router scheduler followup reviews console
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)

.PHONY: k8s images

# --- browser tests (tests/browser): axe-core pinned by tests/browser/package-lock.json; Chromium and
# chromedriver are Debian packages (README, "Prerequisites"; .ci/run installs them) ---------------
AXE := tests/browser/node_modules/axe-core/axe.min.js

install: $(AXE)

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for the browser tests' axe-core (tests/browser)"; exit 1; }
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

install: $(KUSTOMIZE)

$(KUSTOMIZE): | $(INSTALLED)
	@test -x "$(GO)" || { echo "Go is required to build kustomize (deploy/k8s, tests/deploy)"; exit 1; }
	GOTOOLCHAIN=local GOFLAGS=-mod=mod GOBIN=$(abspath $(BIN)) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

k8s: install
	$(BIN)/python deploy/k8s/generate.py

images:
	@command -v docker >/dev/null || { echo "make images needs a Docker engine (none on this machine)"; exit 1; }
	for svc in $(IMAGE_SERVICES); do \
	  docker build --build-arg SERVICE=$$svc -t $(IMAGE_PREFIX)/$$svc:$(IMAGE_TAG) . || exit 1; \
	done

docs: install
	$(BIN)/python -m frontdesk.tools.catalog

# --- simulation: a compressed clinic-network day against the stack of `make up` (docs/faults.md) ------
.PHONY: simulate
simulate: install
	$(BIN)/frontdesk simulate
