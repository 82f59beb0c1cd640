# Two commands on a fresh machine: `make run` serves the app on SQLite, `make test` passes the tests.
# The virtualenv installs the versions that were tested, from requirements.lock (every package pinned, with hashes),
# and is rebuilt only when pyproject.toml or the lock changes (the stamp file is older than them).
# `make lock` writes the lock anew from pyproject.toml (uv pip compile) after a dependency change.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
export PORT

.PHONY: run serve test bench load faults soak docs kb-check clean lock

# Production serving: nginx on $(PORT) (deploy/nginx.conf: slow clients wait in nginx, not in a worker) in front of
# gunicorn sync workers (2 x cores + 1) on a unix socket, PostgreSQL, metrics summed over workers.
SERVE_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
WORKERS ?= $(shell echo $$(( 2 * $$(nproc) + 1 )))

LOCK := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

lock: $(STAMP)
	$(VENV)/bin/pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
		--quiet -o $(LOCK)

run: $(STAMP)
	$(VENV)/bin/stewardship serve --port $(PORT)

serve: $(STAMP)
	rm -rf var/prometheus && mkdir -p var/prometheus
	STEWARDSHIP_DATABASE_URL=$${STEWARDSHIP_DATABASE_URL:-$(SERVE_DATABASE_URL)} PROMETHEUS_MULTIPROC_DIR=var/prometheus \
		$(VENV)/bin/stewardship serve --proxy --host 0.0.0.0 --port $(PORT) --workers $(WORKERS)

load: $(STAMP)
	$(VENV)/bin/python bench/load.py

faults: $(STAMP)
	$(VENV)/bin/python bench/faults.py

# What CI runs after the tests: the load and the fault scenarios, bounded in time.
soak: load faults

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python bench/run.py

docs: $(STAMP)
	$(VENV)/bin/python -m stewardship.knowledge_docs > docs/knowledge-base.md
	$(VENV)/bin/python -m stewardship.findings_docs > docs/findings.md

kb-check: $(STAMP)
	$(VENV)/bin/stewardship kb check

clean:
	rm -rf $(VENV) var .pytest_cache
