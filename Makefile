# `make demo` and `make test` each do their own set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast bench lint clean clean-cache chromium

# constraints.txt pins every dependency to the versions the tests and golden digests ran on
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(STAMP)

# Headless Chromium for the report test (Debian's package); skipped when it is there.
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "chromium is missing: sudo apt-get install chromium (the report test needs it)"; fi

DEMO_OUT := runs/out/demo
DEMO_REPORT := $(DEMO_OUT)/report.html
DEMO_WORKBOOK := $(DEMO_OUT)/boz-2024-experiment.xlsx
DEMO_FULL_REPORT := $(DEMO_OUT)/report-full.html
DEMO_FULL_WORKBOOK := $(DEMO_OUT)/boz-2024-full-experiment.xlsx
CATALOG := runs/catalog.duckdb

# The main job on the embedded default: the baseline 2024-01..2027-12 and the BOZ measure
# package 2024, the comparison (savings per domain and budget year), then the default
# experiment: savings per measure per budget year (Shapley shares, 20 replications). Every
# folder is registered in the run catalog; then the experiment's HTML report and finance
# workbook. Beside the five measures, the whole package (every modelled measure): its run and
# comparison, its experiment (sampled Shapley shares), the swing of each measure's saving
# across the range of its assumptions (sensitivity --from-measures), report and workbook.
demo: export CASELOAD_CATALOG = $(CATALOG)
demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(VENV)/bin/caseload run runs/scenarios/baseline.toml --out $(DEMO_OUT) --run-id baseline
	$(VENV)/bin/caseload run runs/scenarios/boz-2024.toml --out $(DEMO_OUT) --run-id boz-2024
	$(VENV)/bin/caseload compare baseline boz-2024 --out $(DEMO_OUT)
	$(VENV)/bin/caseload experiment runs/scenarios/boz-2024-experiment.toml --out $(DEMO_OUT) --run-id boz-2024-experiment
	$(VENV)/bin/caseload report $(DEMO_OUT)/boz-2024-experiment --out $(DEMO_REPORT) --quiet
	$(VENV)/bin/caseload export $(DEMO_OUT)/boz-2024-experiment --xlsx $(DEMO_WORKBOOK) --quiet
	$(VENV)/bin/caseload run runs/scenarios/boz-2024-full.toml --out $(DEMO_OUT) --run-id boz-2024-full
	$(VENV)/bin/caseload compare baseline boz-2024-full --out $(DEMO_OUT)
	$(VENV)/bin/caseload experiment runs/scenarios/boz-2024-full-experiment.toml --out $(DEMO_OUT) --run-id boz-2024-full-experiment
	$(VENV)/bin/caseload sensitivity runs/scenarios/boz-2024-full-experiment.toml --from-measures --out $(DEMO_OUT) --run-id boz-2024-full-sensitivity --quiet
	$(VENV)/bin/caseload report $(DEMO_OUT)/boz-2024-full-experiment --out $(DEMO_FULL_REPORT) --quiet
	$(VENV)/bin/caseload export $(DEMO_OUT)/boz-2024-full-experiment --xlsx $(DEMO_FULL_WORKBOOK) --quiet
	@echo "report: $(abspath $(DEMO_REPORT))"
	@echo "workbook: $(abspath $(DEMO_WORKBOOK))"
	@echo "full package report: $(abspath $(DEMO_FULL_REPORT))"
	@echo "full package workbook: $(abspath $(DEMO_FULL_WORKBOOK))"

# What CI runs (.ci/run): the linter and the formatter's check first, then every test.
test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

# The unit tests alone, for the edit-test loop (under a minute with a warm Numba cache).
test-fast: $(STAMP)
	$(PY) -m pytest tests/unit -q

bench: $(STAMP)
	$(PY) -m pytest bench -q -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,max,rounds
	$(PY) bench/scaling.py --out bench/out/scaling.json
	$(PY) bench/experiment.py --out bench/out/experiment.json

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Numba caches compiled kernels in .numba-cache/<hash of the engine's sources> (engine/__init__.py),
# so an edit compiles afresh; this removes the caches of every version (and any left beside the sources).
clean-cache:
	rm -rf .numba-cache .population-cache
	find engine rules synthetic_population -name '*.nbi' -delete -o -name '*.nbc' -delete

clean: clean-cache
	rm -rf $(VENV) runs/out .pytest_cache .benchmarks
