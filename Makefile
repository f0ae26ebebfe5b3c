# The README's commands. `make run` works anywhere (SQLite, in-memory channel layer);
# `make test` runs the whole suite against real PostgreSQL and Redis.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3006
WORKERS ?= 1
# Loopback only: `make run` is the development setup, with its public JWT secret and demo
# passwords. HOST=0.0.0.0 to reach it from another machine you trust.
HOST ?= 127.0.0.1
# Test defaults: the machine's PostgreSQL (trust auth) and Redis; override to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/chatbackend
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install model run run-daphne bench test lint format migrations-check schema schema-check services browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The NLU model is a build artifact made deterministically from agents_app/nlu_data/.
NLU_MODEL := var/nlu-model.skops
$(NLU_MODEL): $(VENV)/.installed $(wildcard agents_app/nlu/*.py) $(wildcard agents_app/nlu_data/*)
	$(BIN)/python manage.py train_nlu --output $@

model: $(NLU_MODEL)

# The official socket.io-client, for the Socket.IO compatibility tests under Node.
JS_DEPS := tests/js/node_modules/.package-lock.json
$(JS_DEPS): tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund

run: install model
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/uvicorn chatbackend.asgi:application --host $(HOST) --port $(PORT) \
	  --workers $(WORKERS) --loop uvloop --http httptools --ws-per-message-deflate false \
	  --ws-max-size 1048576 --lifespan off --no-access-log --timeout-graceful-shutdown 15

# daphne keeps working (no 1001 on shutdown, one process per port): docs/benchmarks.md.
run-daphne: install model
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/daphne -b $(HOST) -p $(PORT) chatbackend.asgi:application

# Checks (and starts, when they are local and stopped) the servers the tests will use.
services:
	@TEST_DATABASE_URL='$(TEST_DATABASE_URL)' TEST_REDIS_URL='$(TEST_REDIS_URL)' \
	  scripts/ensure_services.sh

# Debian's Chromium, for the real-browser test of the chat page (Playwright drives it).
browser:
	@scripts/install_browser.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

# The committed openapi.yaml must be exactly what the code generates.
schema: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file openapi.yaml

schema-check: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file var/openapi.generated.yaml
	diff -u openapi.yaml var/openapi.generated.yaml || \
	  (echo "openapi.yaml is stale: run 'make schema' and commit it" >&2; exit 1)

test: install model services browser lint migrations-check schema-check $(JS_DEPS)
	DATABASE_URL='$(TEST_DATABASE_URL)' REDIS_URL='$(TEST_REDIS_URL)' $(BIN)/pytest

# Measures the whole stack on PostgreSQL and Redis and writes bench/results/latest.md.
bench: install model services
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
