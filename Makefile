# The two commands people need: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What the product needs, then what only the tests use (PDF read-back, the browser,
# network faults, the HTTPS deployment check).
RUN_PACKAGES := mosquitto mosquitto-clients influxdb fonts-dejavu-core
TEST_PACKAGES := $(RUN_PACKAGES) poppler-utils chromium iproute2 openssl caddy

.PHONY: run test lint format system-deps venv clean

run: venv
	@scripts/ensure-system-packages.sh $(RUN_PACKAGES)
	$(BIN)/python -m services.local

test: system-deps venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

system-deps:
	@scripts/ensure-system-packages.sh $(TEST_PACKAGES)

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
