# Set-up and everyday commands. Every target creates the virtual environment
# on first use, so a fresh clone needs nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,dask,bench,web,learned
# torch is pinned here (not in pyproject) to the CPU build this project is
# tested with; override with `make TORCH=torch ...` for another build.
TORCH ?= torch==2.13.0

.PHONY: sample test lint bench peers clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

## Fuse the bundled sample stack; prints where the results are.
sample: $(BIN)/.installed
	$(BIN)/allfocus sample out/sample

## Run the test suite (the same command CI runs). Debian chromium for the
## browser test is installed when possible; without it that test is skipped.
test: $(BIN)/.installed
	-@bash scripts/install_browser.sh || echo "chromium not installed: browser tests will be skipped"
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

## Install the peer tools the benchmarks compare against (Debian packages).
peers:
	bash benchmarks/install_peers.sh

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) out .pytest_cache
