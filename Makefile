# The two front-door commands are `make run` and `make test`; everything they need is installed here.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

.PHONY: install system-packages run test drills lint format typecheck check migrate clean

install: $(VENV)/.synced

$(BIN)/uv:
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Byte-compiled at install: the suite starts dozens of API, worker and CLI processes, and
# where PYTHONDONTWRITEBYTECODE is set (as on our machines) each would compile every
# library it imports again (~1.5 s of CPU a process).
$(VENV)/.synced: $(BIN)/uv pyproject.toml uv.lock
	$(BIN)/uv sync --frozen --quiet --compile-bytecode
	touch $@

# The npm packages the generated-clients test compiles with, exactly as the lockfile says
# (only `make test` needs node and npm; `make run` does not).
CLIENT_DEPS := tests/clients/node_modules/.package-lock.json
$(CLIENT_DEPS): tests/clients/package.json tests/clients/package-lock.json
	npm ci --prefix tests/clients --no-audit --no-fund --silent

run: install  ## API + worker + sandbox provider, database created and migrated
	$(BIN)/python -m app.run

# The project's own modules are byte-compiled too (only those changed since), for the same
# reason. Idle workers take tests queued for the other (worksteal): the drills are long.
test: install $(CLIENT_DEPS) system-packages  ## the whole suite against the local PostgreSQL and Redis
	$(BIN)/python -m compileall -q app bench migrations tests
	$(BIN)/python -m pytest -q -n 2 --dist worksteal $(PYTEST_ARGS)

system-packages:  ## Chromium, LibreOffice Calc, Prometheus and wrk for the portal, export, monitoring and benchmark tests, if missing
	bash tests/system_packages.sh

drills: install  ## the fault drills alone (make test runs them too)
	$(BIN)/python -m pytest -q tests/drills $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy app tests

check: lint typecheck test

migrate: install
	$(BIN)/python -m app.cli db upgrade

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
