# Frontdesk: the commands a newcomer needs. Everything runs from the workspace virtualenv (.venv).
#   make run     start Kafka, PostgreSQL and the four services, play a short demo; Ctrl-C stops all
#   make test    the whole test suite against a real broker and database (started for the tests)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run up down status demo test test-unit lint bench schemas clean

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

bench: install
	$(BIN)/python benchmarks/roundtrip.py

schemas: install
	$(BIN)/python -m frontdesk.common.contracts.schemas --write

clean:
	rm -rf $(VENV) .local deploy/local/kafka/.cache
