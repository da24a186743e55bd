# Two commands on a fresh machine with python3 (>= 3.11), make and git:
#   make run    install the runtime only, then run the API (127.0.0.1:8080), one worker, an embedded Redis and, with
#               TOH_FHIR_BASE_URL unset, an embedded FHIR server (127.0.0.1:8090) seeded with a demo cohort
#   make test   set up, then lint, type-check and run every test
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SEKMET_VENV := .venv-sekmet
HEALTHCHAIN_VENV := .venv-healthchain

export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup chromium run test lint typecheck pytest bench soak fixtures lock clean

setup: $(VENV)/.synced $(SEKMET_VENV)/.synced $(HEALTHCHAIN_VENV)/.synced chromium

# Debian's chromium for the case view's browser tests (Playwright drives /usr/bin/chromium), installed when missing
# where apt-get can (as root, as CI runs); without it those tests fail and say how to get it.
chromium:
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium could not be installed: the browser tests will fail"; fi

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The project and its dev tools, exactly as locked in uv.lock.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	touch $@ $(VENV)/.runtime

# The project alone, for `make run`: no linters, type checker or test tools (a venv made by `make test` has them
# already and is kept as it is).
$(VENV)/.runtime: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --no-dev --python $(PYTHON)
	touch $@

# sekmet-fhir, the FHIR server the integration tests talk to, in its own venv (its pins differ from ours).
$(SEKMET_VENV)/.synced: tests/peers/sekmet-requirements.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(SEKMET_VENV)
	$(UV) pip install --no-config --quiet --python $(SEKMET_VENV)/bin/python --require-hashes -r $<
	touch $@

# HealthChain's sandbox client, a CDS Hooks caller the tests point at our API (its pins clash with ours).
$(HEALTHCHAIN_VENV)/.synced: tests/peers/healthchain-requirements.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(HEALTHCHAIN_VENV)
	$(UV) pip install --no-config --quiet --python $(HEALTHCHAIN_VENV)/bin/python --require-hashes -r $<
	touch $@

run: $(VENV)/.runtime $(SEKMET_VENV)/.synced
	$(VENV)/bin/toh-cds run

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

# Test order is fixed here; a bare `pytest` shuffles it (pytest-randomly) to find order dependence.
pytest: setup
	$(VENV)/bin/pytest -p no:randomly

test: lint typecheck pytest

# Benchmarks, never timed tests: every figure beside its reference, in bench/results/ (JSON, markdown, chart).
# wrk (Debian package) is the load generator, installed here when missing where apt-get can (as root); without it an
# asyncio generator is used, whose own CPU then bounds the figures on 2 cores.
bench: setup
	@if ! command -v wrk >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -qq wrk >/dev/null || echo "wrk could not be installed: the asyncio generator is used"; fi
	$(UV) sync --locked --group bench --quiet
	$(VENV)/bin/python -m bench

# Reliability at length (RELIABILITY.md): mixed load at a fixed rate for 10 minutes, then the fault tests at full size.
soak: setup
	$(VENV)/bin/python -m bench.soak
	RELIABILITY_FULL=1 $(VENV)/bin/pytest tests/reliability/test_faults.py

# Rewrite fixtures/scenarios/ from fixtures/scenarios.py (a test checks they agree).
fixtures: $(VENV)/.synced
	$(VENV)/bin/python -m fixtures.scenarios

lock: | $(UV)
	$(UV) lock
	$(UV) pip compile --no-config --quiet --python-version 3.11 --generate-hashes tests/peers/sekmet.in -o tests/peers/sekmet-requirements.txt
	$(UV) pip compile --no-config --quiet --python-version 3.11 --generate-hashes tests/peers/healthchain.in -o tests/peers/healthchain-requirements.txt

clean:
	rm -rf $(TOOLS) $(VENV) $(SEKMET_VENV) $(HEALTHCHAIN_VENV) .data .mypy_cache .ruff_cache .pytest_cache
