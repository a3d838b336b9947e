# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
DATA   ?= ./var

.PHONY: run test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when the packaging changes.
$(VENV)/.installed-run: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# A local test platform: callers are not asked for a VIHF unless XDS_SECURITY=vihf is set, nor
# for signed submission sets unless XDS_REQUIRE_SUBMISSION_SIGNATURE=true is (with
# XDS_SIGNATURE_TRUSTED_CERTS: see the README); the test INS of cda_samples/ are accepted unless
# XDS_ACCEPT_TEST_INS=false. The server says so in its first log lines.
run: $(VENV)/.installed-run
	XDS_SECURITY=$${XDS_SECURITY:-none} \
	XDS_REQUIRE_SUBMISSION_SIGNATURE=$${XDS_REQUIRE_SUBMISSION_SIGNATURE:-false} \
	XDS_ACCEPT_TEST_INS=$${XDS_ACCEPT_TEST_INS:-true} \
		$(BIN)/xds-server serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

# Starts the local PostgreSQL when one is installed (tests/postgres.sh says what it did) and runs
# the whole suite; the pytest header and summary name the databases it ran on. Two workers, a
# test file's tests on one of them (--dist loadfile: a module's servers start once); each test
# has its own PostgreSQL schema, port and temporary directory, so the workers share nothing.
test: $(VENV)/.installed-test
	$(BIN)/ruff check xds_server tests bench schemas cda_samples
	url="$$(sh tests/postgres.sh)" || exit 1; \
		XDS_TEST_POSTGRES_URL="$$url" $(BIN)/python -m pytest -n 2 --dist loadfile

# The in-process tests only, on SQLite (no server started: the `http` marker, which
# tests/conftest.py enforces): the quick loop while working. `make test` stays the whole suite.
test-fast: $(VENV)/.installed-test
	$(BIN)/ruff check xds_server tests bench schemas cda_samples
	$(BIN)/python -m pytest -m "not http" -q -n 2

bench: $(VENV)/.installed-test
	$(BIN)/python bench/soap_core.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check xds_server tests bench schemas cda_samples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
