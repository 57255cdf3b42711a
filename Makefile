# The two commands: `make run` (everything on this machine, no server needed) and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

VENV := .venv
PY := $(VENV)/bin/python
# pip quietly, minus the harmless "Location '...' is ignored" warnings of this machine's pip config
PIP_INSTALL = $(PY) -m pip install -q $(1) 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
# extra arguments for pytest, e.g. make test PYTEST_ARGS='-k snaptrade -x'
PYTEST_ARGS ?=
# extra arguments for the benchmarks, e.g. make bench BENCH_ARGS='--quick'
BENCH_ARGS ?=

.PHONY: help run test audit bench clean venv venv-dev

help:
	@echo "make run    start web (127.0.0.1:8000), worker, beat and the sandbox (127.0.0.1:8001)"
	@echo "make test   the dependency audit, then the whole test suite, with real PostgreSQL, Redis, Celery and Chromium"
	@echo "make audit  known vulnerabilities in the pinned requirements (pip-audit; exceptions: pip-audit-exceptions.txt)"
	@echo "make bench  the benchmarks: one table of figures, also in var/bench/ (several minutes;"
	@echo "            BENCH_ARGS=--quick: under 2 minutes; BENCH_ARGS='--only enqueue': some of them;"
	@echo "            BENCH_ARGS=--outage: a provider outage)"
	@echo "make clean  remove .venv and caches (keeps .env and var/, the local database)"

# --- Python environment -----------------------------------------------------------------------
# .venv is made once with a Python >= 3.12 (scripts/find-python explains how to get one); the
# stamps make pip run again only when a requirements file changes.
$(PY):
	@py=$$(scripts/find-python) && echo "Creating $(VENV) with $$($$py --version)" && "$$py" -m venv $(VENV)
	@$(call PIP_INSTALL,--upgrade pip)

# an existing .venv made with an older Python (say the system's 3.11) is refused, not used
CHECK_VENV_PYTHON = $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { \
	echo "error: $(VENV) uses $$($(PY) --version), Django 6 needs 3.12+: run 'make clean'" \
	"(.python-version asks pyenv for 3.12)" >&2; exit 1; }

$(VENV)/.installed-run: requirements.txt | $(PY)
	@$(CHECK_VENV_PYTHON)
	@echo "Installing requirements.txt"
	@$(call PIP_INSTALL,-r requirements.txt)
	@touch $@

# requirements-dev.txt includes requirements.txt, so this satisfies `make run` as well
$(VENV)/.installed-dev: requirements-dev.txt requirements.txt | $(PY)
	@$(CHECK_VENV_PYTHON)
	@echo "Installing requirements-dev.txt"
	@$(call PIP_INSTALL,-r requirements-dev.txt)
	@touch $@ $(VENV)/.installed-run

venv: $(VENV)/.installed-run
venv-dev: $(VENV)/.installed-dev

# --- make run ---------------------------------------------------------------------------------
run: venv
	@mkdir -p var/broker/queue var/broker/processed var/broker/control
	@$(PY) scripts/create-dotenv
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py bootstrap
	@echo "Starting web http://127.0.0.1:8000, worker, beat and sandbox http://127.0.0.1:8001 (Ctrl-C stops all)"
	@exec $(VENV)/bin/honcho -f Procfile.dev start

# --- make test --------------------------------------------------------------------------------
# Integration tests must run here: REQUIRE_INTEGRATION=1 turns their "no PostgreSQL/Redis" skip
# into an error. pytest's exit code 5 (no test collected) fails too. scripts/run-tests runs the
# integration tests and the rest at the same time, each with its own PostgreSQL and Redis.
test: venv-dev audit
	@scripts/ensure-system-packages
	@REQUIRE_INTEGRATION=1 PYTEST=$(VENV)/bin/pytest scripts/run-tests $(PYTEST_ARGS) || { \
		rc=$$?; [ $$rc -ne 5 ] || echo "error: pytest collected no tests" >&2; exit $$rc; }

# pip-audit of requirements*.txt against PyPI's JSON API; fails on a vulnerability without a dated
# exception in pip-audit-exceptions.txt; an audit that could not happen is a loud warning, a failure
# with AUDIT_REQUIRE_COMPLETE=1.
# SKIP_DEPENDENCY_AUDIT=1 skips it, loudly (e.g. offline, knowingly)
audit: venv-dev
	@if [ "$${SKIP_DEPENDENCY_AUDIT:-}" = 1 ]; then \
		echo "WARNING: dependency audit SKIPPED (SKIP_DEPENDENCY_AUDIT=1): known vulnerabilities were not checked" >&2; \
	else $(PY) scripts/audit-dependencies; fi

# measures and prints (no assertions); the benchmarks on PostgreSQL + Redis start their own
# throwaway servers through scripts/test-services. make bench BENCH_ARGS=--quick: under 2 minutes
bench: venv-dev
	@$(PY) -m benchmarks $(BENCH_ARGS)

# keeps .env and var/ (the local database and the keys that decrypt it)
clean:
	rm -rf $(VENV) .pytest_cache test-results staticfiles
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
