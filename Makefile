# Two entry points (see README.md): `make demo` runs the main job, `make test` the tests.
# Each sets up .venv on first use: torch (CPU wheel, pinned) first, then the package.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export TMPDIR := $(or $(TMPDIR),/tmp)

.PHONY: demo test lint bench checkpoints clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/jepa plan

test: $(BIN)/.installed
	$(BIN)/python -m pytest tests

lint: $(BIN)/.installed
	$(BIN)/ruff check worldmodel envs tests examples bench

bench: $(BIN)/.installed
	$(BIN)/python bench/run_all.py

checkpoints: $(BIN)/.installed
	$(BIN)/python examples/make_checkpoints.py

clean:
	rm -rf $(VENV) build *.egg-info
