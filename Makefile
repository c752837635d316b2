# Two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch
STAMP := $(VENV)/.installed

.PHONY: demo test test-min lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test,crosscheck]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sonomtl demo --out runs/demo

test: $(STAMP)
	$(BIN)/ruff check sonomtl tests benchmarks tools
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

# The lowest allowed versions: every runtime dependency (and the tensorboard and parquet
# extras) pinned to its floor's release in a separate venv, then the suite without the
# slow end-to-end runs. torch: MIN_TORCH_SPEC, the oldest torch that can be had here
# (the declared floor, 2.5, is older; see README "Tested versions").
MIN_VENV := .venv-min
MIN_TORCH_SPEC ?= torch==2.13.0
test-min:
	test -x $(MIN_VENV)/bin/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install -q --upgrade pip
	$(MIN_VENV)/bin/python -c "import torch" 2>/dev/null || \
		$(MIN_VENV)/bin/python -m pip install -q "$(MIN_TORCH_SPEC)"
	$(MIN_VENV)/bin/python tools/floor_constraints.py pyproject.toml --skip torch \
		--extras tensorboard parquet > $(MIN_VENV)/floors.txt
	$(MIN_VENV)/bin/python -m pip install -q -c $(MIN_VENV)/floors.txt -e ".[test]"
	$(MIN_VENV)/bin/python -m pip check
	$(MIN_VENV)/bin/python -m pip list --format=freeze > $(MIN_VENV)/installed.txt
	$(MIN_VENV)/bin/python -m pytest -n 2 -m "not slow" -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sonomtl tests benchmarks tools
	$(BIN)/lint-imports

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(MIN_VENV) build *.egg-info .pytest_cache
