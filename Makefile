# Frontdesk: the commands a newcomer needs. Everything runs from the workspace virtualenv (.venv).
#   make run     start Kafka, PostgreSQL and the six services, play a short demo; Ctrl-C stops all
#   make test    the whole test suite against a real broker and database (started for the tests)
#   make lock    re-pin the dependencies (with hashes) after changing a pyproject.toml or requirements-*.txt
# `make install` and `make run` need Python 3.11+, Java 17+ and Maven only. The tests also need Go (to build
# kustomize for tests/deploy) and npm (the official AsyncAPI JSON schema): `make test-tools`, run by `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run up down status demo test test-unit test-tools lint bench schemas docs asyncapi clean lock audit-deps

install: $(INSTALLED)

# Every third-party package from the hashed lock (pip refuses one whose hash differs), then the
# workspace's own packages, editable, without dependencies (their build backend is in the lock too).
$(INSTALLED): requirements-dev.lock requirements-dev.txt libs/common/pyproject.toml tools/pyproject.toml services/*/pyproject.toml deploy/local/kafka/pom.xml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17+ is required for the local Kafka broker"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation $$(grep '^-e ' requirements-dev.txt)
	$(BIN)/pip check
	$(BIN)/python -c 'from frontdesk.tools.stack import ensure_kafka_jars; ensure_kafka_jars()'
	@touch $@

# SIP=1 also starts the SIP rig (Kamailio on udp 127.0.0.1:5070 and SIPp phones; deploy/sip/README.md).
run: install
	$(BIN)/frontdesk stack run $(if $(SIP),--sip)

up: install
	$(BIN)/frontdesk stack up

down: install
	$(BIN)/frontdesk stack down

status: install
	$(BIN)/frontdesk stack status

demo: install
	$(BIN)/frontdesk demo

test: install test-tools
	$(BIN)/python -m pytest

test-unit: install test-tools
	$(BIN)/python -m pytest -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Each benchmark starts its own stack (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL) and prints
# its numbers next to a baseline measured in the same run. See benchmarks/README.md.
bench: install
	$(BIN)/python benchmarks/roundtrip.py
	$(BIN)/python benchmarks/call_router_routing.py
	$(BIN)/python benchmarks/call_router_routing.py --replicas 2
	$(BIN)/python benchmarks/call_router_routing.py --replicas 3
	$(BIN)/python benchmarks/call_router_time_to_human.py
	$(BIN)/python benchmarks/scheduler_booking.py --http --slots
	$(BIN)/python benchmarks/followup_planning.py
	$(BIN)/python benchmarks/followup_planning.py --replicas 2
	$(BIN)/python benchmarks/followup_planning.py --replicas 3
	$(BIN)/python benchmarks/followup_sending.py
	$(BIN)/python benchmarks/reviews_requests.py
	$(BIN)/python benchmarks/relay_publish.py
	$(BIN)/python benchmarks/kafka_clients.py
	$(BIN)/python benchmarks/console_lag.py
	$(BIN)/python benchmarks/phone_bridge_sip.py
	$(BIN)/python benchmarks/morning_rush.py

schemas: install
	$(BIN)/python -m frontdesk.common.contracts.schemas --write

clean:
	rm -rf $(VENV) .local deploy/local/kafka/.cache deploy/local/oidc/.cache

# --- dependencies: hashed locks and their vulnerability audit (docs/operations.md, "Dependencies") ---
#   make lock                                     pin what the inputs gained, keep every other pin
#   make lock UPGRADE=1                           every package to its newest release
#   make lock LOCK_ARGS="--upgrade-package h11"   one package to its newest release
WORKSPACE_PACKAGES := frontdesk-common frontdesk-call-router frontdesk-scheduler frontdesk-followup frontdesk-reviews frontdesk-console frontdesk-phone-bridge frontdesk-tools
LOCK := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	$(addprefix --no-emit-package ,$(WORKSPACE_PACKAGES)) $(if $(UPGRADE),--upgrade) $(LOCK_ARGS)

lock: $(INSTALLED)
	$(LOCK) requirements-dev.txt -o requirements-dev.lock
	$(LOCK) requirements.in -c requirements-dev.lock -o requirements.lock
	$(LOCK) requirements-build.in -c requirements-dev.lock -o requirements-build.lock
	@echo "Locks written; run make install (and the tests), and make audit-deps"

# pip-audit over the three locks: OSV's live database when it answers, else the advisories shipped in
# security/advisories (a dated snapshot). Fails on a known-vulnerable pin, not on a missing network.
audit-deps: install
	$(BIN)/frontdesk audit deps

# --- deploy: images and Kubernetes manifests (docs/operations.md) ------------------------------------
IMAGE_PREFIX ?= frontdesk
IMAGE_TAG ?= dev
IMAGE_SERVICES := call-router scheduler followup reviews console phone-bridge

# --- what only the tests need (`make test`, .ci/run): kustomize, the AsyncAPI JSON schema, axe-core ----------
# kustomize renders deploy/k8s offline for tests/deploy; no registry ships its binary, so it is built with
# Go from the Go module proxy. The AsyncAPI 3.0 schema comes from npm (@asyncapi/specs).
KUSTOMIZE_VERSION := v5.8.0
KUSTOMIZE := $(BIN)/kustomize
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
ASYNCAPI_SPECS_VERSION := 6.11.1
ASYNCAPI_SCHEMA := $(VENV)/npm/node_modules/@asyncapi/specs/schemas/3.0.0.json

.PHONY: k8s grafana images

# The browser tests (tests/browser): axe-core pinned by tests/browser/package-lock.json; Chromium and
# chromedriver are Debian packages (README, "Prerequisites"; .ci/run installs them).
AXE := tests/browser/node_modules/axe-core/axe.min.js

test-tools: $(KUSTOMIZE) $(ASYNCAPI_SCHEMA) $(AXE)

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for the browser tests' axe-core (tests/browser); make run does not need it"; exit 1; }
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

$(KUSTOMIZE): | $(INSTALLED)
	@test -x "$(GO)" || { echo "Go is required to build kustomize for the deploy tests (tests/deploy); make run does not need it"; exit 1; }
	GOTOOLCHAIN=local GOFLAGS=-mod=mod GOBIN=$(abspath $(BIN)) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(ASYNCAPI_SCHEMA): | $(INSTALLED)
	@command -v npm >/dev/null || { echo "npm (Node.js) is required to fetch the AsyncAPI schema for the tests; make run does not need it"; exit 1; }
	npm install --no-save --no-audit --no-fund --prefix $(VENV)/npm @asyncapi/specs@$(ASYNCAPI_SPECS_VERSION)

k8s: install
	$(BIN)/python deploy/k8s/generate.py

grafana: install
	$(BIN)/python deploy/grafana/generate.py

images:
	@command -v docker >/dev/null || { echo "make images needs a Docker engine (none on this machine)"; exit 1; }
	for svc in $(IMAGE_SERVICES); do \
	  docker build --build-arg SERVICE=$$svc -t $(IMAGE_PREFIX)/$$svc:$(IMAGE_TAG) . || exit 1; \
	done

# The README's event catalog and the AsyncAPI documents (docs/asyncapi/, and each service's packaged copy),
# both from the contracts registry and deploy/access.yaml.
docs: install asyncapi
	$(BIN)/python -m frontdesk.tools.catalog

asyncapi: install
	$(BIN)/python -m frontdesk.tools.asyncapi --write

# --- simulation: a compressed clinic-network day against the stack of `make up` (docs/faults.md) ------
.PHONY: simulate
simulate: install
	$(BIN)/frontdesk simulate
