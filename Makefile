# Everything sets itself up in .venv from nothing but Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint unit demo bench schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests bench scripts
	$(BIN)/ruff format --check reconciler tests bench scripts
	$(BIN)/mypy reconciler

unit: $(STAMP)
	$(BIN)/pytest -n 2

test: lint unit

demo: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH ./scripts/demo.sh

bench: $(STAMP)
	$(BIN)/python -m bench

schema: $(STAMP)
	$(BIN)/alm schema

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
