# The two commands people need: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What the product needs, then what only the tests use (PDF read-back, the browser,
# network faults, the HTTPS deployment check, Node.js for the MicroPython VM, the TCP
# load balancer in front of several gateways and dashboards, the app database's server).
RUN_PACKAGES := mosquitto mosquitto-clients influxdb fonts-dejavu-core
TEST_PACKAGES := $(RUN_PACKAGES) poppler-utils chromium iproute2 openssl caddy nodejs haproxy nats-server \
	postgresql

# Python 3.13 (Debian 13, recent Ubuntu) checks certificates strictly (VERIFY_X509_STRICT),
# so the TLS broker and the HTTPS dashboard are tested on it too. Debian 12 has no
# python3.13 package: a pyenv one is found, or point PYTHON313 at one.
PYTHON313 ?= $(shell for p in $$(command -v python3.13) $$HOME/.pyenv/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import ssl' 2>/dev/null && echo "$$p" && break; done)
VENV313 ?= .venv313
# On 3.13: what differs between 3.11 and 3.13 for this product (the ssl module's strict
# certificate checks: the TLS broker, the HTTPS dashboard, the devices' TLS listener, the
# deploy checks; the notifier's egress checks; unclosed SQLite connections, which 3.13
# reports as a ResourceWarning the suite makes an error) plus the unit tests, so CI stays
# within its time. `make test TESTS_313=` runs the whole suite there (it passes).
TESTS_313 ?= tests/unit tests/integration/test_deploy.py tests/integration/test_deploy_https.py \
	tests/integration/test_broker_acl.py tests/integration/test_gateway_tls.py \
	tests/integration/test_notifier_security.py tests/integration/test_web_totp_enrollment.py \
	tests/integration/test_influxql_bound.py

# Again with the app database on PostgreSQL (SMARTCAB_TEST_DATABASE=postgresql: every
# fixture's database is a fresh one on a real server): the tests of the parts that keep
# tables, the web's pages, the notifier and the dose tracker. The unit tests' guard
# against servers is off in that pass, so its own test stays in the first.
TESTS_POSTGRES ?= $(filter-out tests/unit/test_no_servers.py,$(wildcard tests/unit/test_*.py)) \
	$(filter-out $(wildcard tests/integration/test_web_browser*.py) \
		tests/integration/test_web_a11y.py tests/integration/test_web_postgres.py, \
		$(wildcard tests/integration/test_web_*.py)) \
	$(wildcard tests/integration/test_notifier_*.py) tests/integration/test_pillbox.py \
	tests/integration/test_medications_web.py

.PHONY: run test test-313 test-postgres lint format system-deps venv mpvm axe clean

run: venv
	@scripts/ensure-system-packages.sh $(RUN_PACKAGES)
	$(BIN)/python -m services.local

test: system-deps venv mpvm axe
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pytest
	@$(MAKE) --no-print-directory test-postgres
	@$(MAKE) --no-print-directory test-313

test-postgres: system-deps venv
	@echo "--- again with the app database on PostgreSQL"
	SMARTCAB_TEST_DATABASE=postgresql $(BIN)/pytest $(TESTS_POSTGRES)

test-313: system-deps
ifeq ($(PYTHON313),)
	@echo "**********************************************************************" >&2
	@echo "*** NOT TESTED ON PYTHON 3.13: no python3.13 found (PYTHON313=...) ***" >&2
	@echo "**********************************************************************" >&2
else
	@$(MAKE) --no-print-directory $(VENV313)/.installed
	@echo "--- again on $$($(PYTHON313) --version): $(or $(TESTS_313),the whole suite)"
	$(VENV313)/bin/pytest $(TESTS_313)
endif

$(VENV313)/.installed: pyproject.toml
	$(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/pip install -q --upgrade pip
	$(VENV313)/bin/pip install -q -e '.[dev]'
	touch $@

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

# axe-core, the accessibility rules the browser tests inject into every page, pinned likewise.
AXE := tests/axe
axe: $(AXE)/node_modules/.installed

$(AXE)/node_modules/.installed: $(AXE)/package.json $(AXE)/package-lock.json
	cd $(AXE) && npm ci --no-audit --no-fund
	touch $@

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) $(VENV313) $(MPVM)/node_modules $(AXE)/node_modules build *.egg-info .pytest_cache .ruff_cache
