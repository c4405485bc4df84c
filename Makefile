# bluebook: `make run` sets up and starts the system, `make test` sets up and runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test check lint typecheck bench bench-quick soak clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,postgresql]'
	touch $(STAMP)

run: setup
	$(BIN)/bluebook run

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check matcher store settlement api bluebook bench tests migrations
	$(BIN)/ruff format --check matcher store settlement api bluebook bench tests migrations

typecheck: setup
	$(BIN)/mypy matcher api

check: lint typecheck test

bench: setup
	$(BIN)/python -m bench matcher

bench-quick: setup
	$(BIN)/python -m bench matcher --quick

soak: setup
	BLUEBOOK_SOAK=1 $(BIN)/python -m pytest -q -s tests/test_book_properties.py tests/test_engine_properties.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
