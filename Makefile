# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Load the Beijing data, train, replay the start of the 2015 ozone season and serve it.
demo: $(STAMP)
	$(BIN)/aqcast demo

## Everything CI checks: lint, then the whole test suite.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

## While editing: lint, then the tests that need no real data, browser or PostgreSQL and
## are not marked slow (under a minute on two cores). `make test` still runs everything.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not realdata and not browser and not postgres"

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks -q --benchmark-enable

clean:
	rm -rf $(VENV) var
