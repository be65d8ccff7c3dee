# smartcharge — every target sets itself up: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup run test wheel-smoke bench lint format clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,postgres,dask]"
	touch $(STAMP)

run: setup
	@mkdir -p out
	$(PY) -m smartcharge.api.cli optimize data/examples/workplace-20.json --out out/workplace-20.answer.json --plot out/workplace-20.png
	@echo "Planned the sample site once: out/workplace-20.answer.json and out/workplace-20.png"
	$(PY) -m smartcharge.api.cli serve --host $(HOST) --port $(PORT) --db sqlite:///out/smartcharge.db --example data/examples/workplace-20.json

test: setup
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

wheel-smoke: setup  # the built wheel in a fresh virtualenv, away from the source tree
	PY=$(PY) bash .ci/wheel-smoke

bench: setup
	$(PY) -m benchmarks.run

lint: setup
	$(VENV)/bin/ruff format --check smartcharge optimizer forecasting api tests benchmarks
	$(VENV)/bin/ruff check smartcharge optimizer forecasting api tests benchmarks

format: setup
	$(VENV)/bin/ruff format smartcharge optimizer forecasting api tests benchmarks
	$(VENV)/bin/ruff check --fix smartcharge optimizer forecasting api tests benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
