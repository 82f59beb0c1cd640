# Two commands on a fresh machine: `make run` serves the app on SQLite, `make test` passes the tests.
# The virtualenv is rebuilt only when pyproject.toml changes (the stamp file is older than it).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
export PORT

.PHONY: run test bench docs kb-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/stewardship serve --port $(PORT)

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
