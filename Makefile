# Two commands work on a fresh machine (Python 3.11+):
#   make demo   the example site (chat page, widget, admin) on SQLite with seeded data
#   make test   every test: lint, the widget (build check, types, unit tests, size), the suite
#               with its real-browser tests on SQLite and on PostgreSQL (Python 3.11, Django 5.2;
#               the README followed in fresh virtualenvs), the suite again on PostgreSQL with
#               Python 3.13 and the newest Django 6.x (but the README and fault runs), the
#               exports fed to TRL, OpenAI's checks,
#               inspect-ai and promptfoo, and the release (sdist, wheel, twine)
VENV ?= .venv
PY := $(VENV)/bin/python
# The newest Python and Django the package claims (pyproject's classifiers): pyenv's 3.13.
# (pyenv's shim for python3.13 fails unless 3.13 is selected, so its own folder comes first.)
PYTHON_NEXT ?= $(lastword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null | grep -v shims))
VENV_NEXT ?= .venv-next
DJANGO_NEXT ?= Django>=6.1,<7
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test test-sqlite test-postgres test-next test-consumers install-consumers lint widget-check wheel-check install install-redos install-axe clean

$(VENV)/.installed: pyproject.toml
	@echo "== installing the package and its dev tools into $(VENV) (a minute or two the first time)"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --progress-bar off -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_seed
	@echo "Chat: http://$(HOST):$(PORT)/   Admin: http://$(HOST):$(PORT)/admin/ (admin / admin)"
	$(PY) manage.py runserver $(HOST):$(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# recheck, the ReDoS analyser of tests/test_regex_linear.py (npm; a native binary in the package).
tests/redos/node_modules/.installed: tests/redos/package.json tests/redos/package-lock.json
	cd tests/redos && npm ci --no-audit --no-fund
	touch $@

install-redos: tests/redos/node_modules/.installed

# axe-core, the accessibility engine tests/browser/test_accessibility.py runs in Chromium (npm).
tests/browser/axe/node_modules/.installed: tests/browser/axe/package.json tests/browser/axe/package-lock.json
	cd tests/browser/axe && npm ci --no-audit --no-fund
	touch $@

install-axe: tests/browser/axe/node_modules/.installed

test-sqlite: install install-redos install-axe
	@echo "== test suite on SQLite"
	env -u DATABASE_URL $(VENV)/bin/pytest $(PYTEST_ARGS)

test-postgres: install install-redos install-axe
	@echo "== test suite on PostgreSQL ($(PG_URL))"
	DATABASE_URL=$(PG_URL) $(VENV)/bin/pytest $(PYTEST_ARGS)

$(VENV_NEXT)/.installed: pyproject.toml
	@test -n "$(PYTHON_NEXT)" || (echo "Python 3.13 is needed for test-next (pyenv install 3.13)"; exit 1)
	@echo "== installing into $(VENV_NEXT) with $(PYTHON_NEXT) and $(DJANGO_NEXT)"
	$(PYTHON_NEXT) -m venv $(VENV_NEXT)
	$(VENV_NEXT)/bin/pip install --quiet --upgrade pip
	$(VENV_NEXT)/bin/pip install --quiet --progress-bar off -e '.[dev]' '$(DJANGO_NEXT)'
	touch $@

test-next: $(VENV_NEXT)/.installed install-redos install-axe widget/node_modules/.installed
	@echo "== test suite on PostgreSQL with $$($(VENV_NEXT)/bin/python -c 'import sys, django; print("Python", sys.version.split()[0], "and Django", django.__version__)')"
	DATABASE_URL=$(PG_URL) $(VENV_NEXT)/bin/pytest -m "not readme and not faults" $(PYTEST_ARGS)

# The exports fed to the real consumers (TRL, OpenAI's checks, inspect-ai, promptfoo), in a
# virtualenv of their own (torch's CPU build from this machine's disk first).
CONSUMERS := tests/consumers
CONSUMERS_VENV := $(CONSUMERS)/.venv
CONSUMER_EXPORTS ?= $(CONSUMERS)/.exports

$(CONSUMERS_VENV)/.installed: $(CONSUMERS)/requirements.txt
	@echo "== the consumer job's virtualenv $(CONSUMERS_VENV) (torch's CPU build first)"
	python3 -m venv $(CONSUMERS_VENV)
	$(CONSUMERS_VENV)/bin/pip install --quiet --progress-bar off $$(grep '^torch==' $(CONSUMERS)/requirements.txt)
	$(CONSUMERS_VENV)/bin/pip install --quiet --progress-bar off -r $(CONSUMERS)/requirements.txt
	touch $@

$(CONSUMERS)/node_modules/.installed: $(CONSUMERS)/package.json $(CONSUMERS)/package-lock.json
	cd $(CONSUMERS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install-consumers: $(CONSUMERS_VENV)/.installed $(CONSUMERS)/node_modules/.installed

test-consumers: install install-consumers
	@echo "== the exports fed to TRL, OpenAI's checks, inspect-ai and promptfoo"
	rm -rf $(CONSUMER_EXPORTS)
	$(PY) $(CONSUMERS)/make_exports.py $(CONSUMER_EXPORTS)
	$(CONSUMERS_VENV)/bin/pytest $(CONSUMERS) --exports $(CONSUMER_EXPORTS)

widget/node_modules/.installed: widget/package.json widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund
	touch $@

widget-check: widget/node_modules/.installed
	@echo "== widget: committed build matches the source, types, unit tests, size"
	cd widget && npm run --silent check-build && npm run --silent typecheck && npm test --silent && npm run --silent size

wheel-check: install
	@echo "== release: sdist and wheel from python -m build, twine check, contents"
	$(PY) tests/check_wheel.py

test: lint widget-check test-sqlite test-postgres test-next test-consumers wheel-check

clean:
	rm -rf $(VENV) $(VENV_NEXT) dist build demo.sqlite3 .pytest_cache .ruff_cache widget/node_modules \
		tests/redos/node_modules tests/consumers/.venv tests/consumers/node_modules \
		tests/consumers/.exports tests/browser/axe/node_modules
