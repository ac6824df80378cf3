# OPC Hub — developer and CI entry points.  `make help` lists the targets.
#
#   make demo   install, build and serve a seeded demo on http://127.0.0.1:8000 (embedded SQLite)
#   make test   install everything, then lint + format check + mypy + pytest (SQLite, then PostgreSQL)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON := .venv/bin/python
MANAGE := $(PYTHON) manage.py
# Project packages checked by mypy (settings package + Django apps).
PACKAGES := opchub core accounts organisations audit ledger communities marketplace gateway dispatch subsidies trust contracts servicedesk rights events teams
# manage.py needs a SECRET_KEY; demo mode generates one under var/ for tooling commands.
TOOL_ENV := OPCHUB_DEMO=1

.PHONY: help install uv system-deps system-deps-demo compilemessages messages demo test \
        lint fmt typecheck clean distclean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-17s %s\n", $$1, $$2}'

uv: ## Install uv with pip if it is not on PATH
	@scripts/uv --version >/dev/null

install: uv ## Python dependencies into .venv (uv sync --frozen, dev group included)
	@scripts/uv sync --frozen

system-deps: ## Debian packages for tests: chromium, CJK fonts, gettext (apt-get only when missing)
	@scripts/system-deps --browser

system-deps-demo: ## Debian packages for the demo: CJK fonts for PDFs, gettext
	@scripts/system-deps

compilemessages: install ## Compile locale/*.po to .mo (skipped when there are no .po files)
	@if [ -z "$$(find . -path ./.venv -prune -o -path ./var -prune -o -name '*.po' -print -quit)" ]; then \
		echo "compilemessages: no .po files yet, skipping"; \
	else \
		$(TOOL_ENV) $(MANAGE) compilemessages --ignore=.venv --ignore=var; \
	fi

messages: install ## Extract translatable strings into locale/zh_Hans (makemessages)
	@mkdir -p locale
	$(TOOL_ENV) $(MANAGE) makemessages -l zh_Hans --ignore=.venv --ignore=var --ignore=tests --ignore='*/tests/*' --no-obsolete

demo: install system-deps-demo compilemessages ## Seed and serve the demo on http://127.0.0.1:8000
	@scripts/demo

test: install system-deps compilemessages ## Everything CI runs: lint, format check, mypy, pytest on SQLite + PostgreSQL
	@scripts/run-tests

lint: install ## ruff check
	.venv/bin/ruff check .

fmt: install ## ruff format + import sorting fixes
	.venv/bin/ruff check --select I --fix .
	.venv/bin/ruff format .

typecheck: install ## mypy on the project packages
	OPCHUB_TESTING=1 .venv/bin/mypy $(PACKAGES)

clean: ## Remove caches and build output (keeps .venv and the demo database)
	find . -path ./.venv -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf
	find . -path ./.venv -prune -o -name '*.mo' -print0 | xargs -0 rm -f
	rm -rf .pytest_cache .mypy_cache .ruff_cache var/staticfiles var/test-artifacts

distclean: clean ## Also remove .venv and var/ (demo database, media, generated secret key)
	rm -rf .venv var
