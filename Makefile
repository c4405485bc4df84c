# bluebook: `make run` sets up and starts the system, `make test` sets up and runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup run test check lint typecheck bench bench-quick soak clean contracts contracts-check browser

setup: $(STAMP) $(NODE_STAMP)

# solc (the compiler, solcjs) and anvil (its binary ships inside the npm package), pinned by the
# lockfile. The package's postinstall only downloads a binary its platform package already has.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,postgresql]'
	touch $(STAMP)

run: setup
	$(BIN)/bluebook run

test: setup contracts-check browser
	$(BIN)/python -m pytest -q

# Debian's Chromium for the dashboard test (apt-get, only if /usr/bin/chromium is missing).
browser:
	scripts/ensure-chromium.sh

# Rebuild settlement/artifacts from settlement/contracts: `contracts` writes them, `contracts-check`
# fails if the committed ones differ from what the source compiles to.
contracts: setup
	$(BIN)/python -m settlement.build_contracts

contracts-check: setup
	$(BIN)/python -m settlement.build_contracts --check

lint: setup
	$(BIN)/ruff check matcher store settlement api bluebook bench tests migrations
	$(BIN)/ruff format --check matcher store settlement api bluebook bench tests migrations

typecheck: setup
	$(BIN)/mypy matcher api

check: lint typecheck test

BENCHMARKS := matcher journal settlement api

# Every benchmark in turn, one JSON line per scenario (see bench/__main__.py).
bench: setup
	set -e; for name in $(BENCHMARKS); do $(BIN)/python -m bench $$name; done

bench-quick: setup
	set -e; for name in $(BENCHMARKS); do $(BIN)/python -m bench $$name --quick; done

soak: setup
	BLUEBOOK_SOAK=1 $(BIN)/python -m pytest -q -s tests/test_book_properties.py tests/test_engine_properties.py

clean:
	rm -rf $(VENV) node_modules build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis tests/output
