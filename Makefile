# The README's two commands: `make demo` (first run: sets everything up and runs the pipeline on the embedded
# defaults) and `make check` (ruff, mypy strict, the whole test suite). CI runs `make check`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo check install lint typecheck test bench clean system-packages

$(BIN)/postpilot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/postpilot

demo: install
	$(BIN)/postpilot demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src

typecheck: install
	$(BIN)/mypy src

test: install
	$(BIN)/pytest

# The Debian packages the tests need (fonts for every script, systemd-analyze), installed when missing.
system-packages:
	@scripts/system-packages.sh

check: system-packages lint typecheck test

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
