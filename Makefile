# smartcharge — every target sets itself up: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup run test wheel-smoke bench lint format clean browser console-shots console-vendor

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,postgres,dask,console]"
	touch $(STAMP)

run: setup
	@mkdir -p out
	$(PY) -m smartcharge.api.cli optimize data/examples/workplace-20.json --out out/workplace-20.answer.json --plot out/workplace-20.png
	@echo "Planned the sample site once: out/workplace-20.answer.json and out/workplace-20.png"
	$(PY) -m smartcharge.api.cli serve --host $(HOST) --port $(PORT) --db sqlite:///out/smartcharge.db --example data/examples/workplace-20.json

test: setup
	$(PY) -m pytest -q -n 2 --dist loadgroup $(PYTEST_ARGS)

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

# The console (api/console/): Debian's Chromium for its browser tests, its screenshots, and
# the vendored front-end libraries (from the npm registry at development time only: the
# package ships the files, so `make run` needs no Node).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENDOR := api/console/static/vendor
HTMX_VERSION ?= 2.0.11
UPLOT_VERSION ?= 1.6.32

browser:
	$(SUDO) apt-get install -y chromium chromium-driver \
		|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver; }

console-shots: setup
	SMARTCHARGE_CONSOLE_SHOTS=out/console $(PY) -m pytest -q tests/test_console_browser.py
	@echo "Screenshots of every console page: out/console/*.png"

console-vendor:
	@npm_dir="$$(mktemp -d)" && cd "$$npm_dir" && npm init -y >/dev/null \
		&& npm install --no-audit --no-fund htmx.org@$(HTMX_VERSION) uplot@$(UPLOT_VERSION) >/dev/null \
		&& cd "$(CURDIR)" && modules="$$npm_dir/node_modules" \
		&& cp "$$modules/htmx.org/dist/htmx.min.js" $(VENDOR)/ \
		&& cp "$$modules/htmx.org/LICENSE" $(VENDOR)/htmx.LICENSE \
		&& cp "$$modules/uplot/dist/uPlot.iife.min.js" "$$modules/uplot/dist/uPlot.min.css" $(VENDOR)/ \
		&& cp "$$modules/uplot/LICENSE" $(VENDOR)/uPlot.LICENSE && rm -rf "$$npm_dir"
	@echo "Vendored htmx.org $(HTMX_VERSION) and uplot $(UPLOT_VERSION) into $(VENDOR)"

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
