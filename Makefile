# The two commands people need: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What the product needs, then what only the tests use (PDF read-back, the browser,
# network faults, the HTTPS deployment check, Node.js for the MicroPython VM).
RUN_PACKAGES := mosquitto mosquitto-clients influxdb fonts-dejavu-core
TEST_PACKAGES := $(RUN_PACKAGES) poppler-utils chromium iproute2 openssl caddy nodejs

.PHONY: run test lint format system-deps venv mpvm clean

run: venv
	@scripts/ensure-system-packages.sh $(RUN_PACKAGES)
	$(BIN)/python -m services.local

test: system-deps venv mpvm
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

# MicroPython's WebAssembly port, from npm at the version the lock file pins.
MPVM := tests/mpvm
mpvm: $(MPVM)/node_modules/.installed

$(MPVM)/node_modules/.installed: $(MPVM)/package.json $(MPVM)/package-lock.json
	cd $(MPVM) && npm ci --no-audit --no-fund
	touch $@

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) $(MPVM)/node_modules build *.egg-info .pytest_cache .ruff_cache
