# Eventdeck — the two commands: `make run` and `make test` (plus `make bench`).
# Each one creates/updates .venv and installs what it needs, so they work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit bench brokers-up brokers-down system-deps clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Debian packages the browser tests and the brokers need (chromium; rabbitmq-server if missing).
system-deps:
	@bash scripts/system-deps.sh

# Live dashboard. With no brokers configured: local brokers + traffic simulator (the demo).
run: $(STAMP)
	$(PY) -m eventdeck run

test: $(STAMP) system-deps
	$(PY) -m demo.brokers up-rabbitmq
	bash scripts/postgres-up.sh
	$(PY) -m pytest

# unit tests that need no PostgreSQL (those that do are marked pg by tests/conftest.py and run in make test);
# a layer alone: $(PY) -m pytest -m integration | -m ui | -m e2e
test-unit: $(STAMP)
	$(PY) -m pytest tests/unit -m "not pg"

bench: $(STAMP) system-deps
	bash scripts/postgres-up.sh
	$(PY) -m bench

brokers-up: $(STAMP)
	$(PY) -m demo.brokers up

brokers-down: $(STAMP)
	$(PY) -m demo.brokers down

clean:
	rm -rf $(VENV) .eventdeck test-artifacts .pytest_cache
