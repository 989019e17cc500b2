# The two commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench lint typecheck clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,test,dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/syndication demo

test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: venv
	$(BIN)/python -m benchmarks

lint: venv
	$(BIN)/ruff check syndication workers feeds tests benchmarks
	$(BIN)/ruff format --check syndication workers feeds tests benchmarks
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data export .pytest_cache .hypothesis
