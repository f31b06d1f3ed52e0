# Two commands work on a fresh machine (Python 3.11+):
#   make demo   the example site (chat page, widget, admin) on SQLite with seeded data
#   make test   every test: lint, the widget (build check, types, unit tests, size), the suite
#               with its real-browser tests on SQLite and on PostgreSQL, the wheel's contents
VENV ?= .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test test-sqlite test-postgres lint widget-check wheel-check install install-redos clean

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

test-sqlite: install install-redos
	@echo "== test suite on SQLite"
	env -u DATABASE_URL $(VENV)/bin/pytest $(PYTEST_ARGS)

test-postgres: install install-redos
	@echo "== test suite on PostgreSQL ($(PG_URL))"
	DATABASE_URL=$(PG_URL) $(VENV)/bin/pytest $(PYTEST_ARGS)

widget/node_modules/.installed: widget/package.json widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund
	touch $@

widget-check: widget/node_modules/.installed
	@echo "== widget: committed build matches the source, types, unit tests, size"
	cd widget && npm run --silent check-build && npm run --silent typecheck && npm test --silent && npm run --silent size

wheel-check: install
	@echo "== release: sdist and wheel from python -m build, twine check, contents"
	$(PY) tests/check_wheel.py

test: lint widget-check test-sqlite test-postgres wheel-check

clean:
	rm -rf $(VENV) dist build demo.sqlite3 .pytest_cache .ruff_cache widget/node_modules \
		tests/redos/node_modules
