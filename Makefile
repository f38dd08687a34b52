# `make demo` and `make test` each do their own set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint clean clean-cache

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

DEMO_OUT := runs/out/demo

# The main job on the embedded default: the baseline 2024-01..2027-12 and the BOZ measure
# package 2024, the comparison (savings per domain and budget year), then the default
# experiment: savings per measure per budget year (Shapley shares, 20 replications).
demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(VENV)/bin/caseload run runs/scenarios/baseline.toml --out $(DEMO_OUT) --run-id baseline
	$(VENV)/bin/caseload run runs/scenarios/boz-2024.toml --out $(DEMO_OUT) --run-id boz-2024
	$(VENV)/bin/caseload compare baseline boz-2024 --out $(DEMO_OUT)
	$(VENV)/bin/caseload experiment runs/scenarios/boz-2024-experiment.toml --out $(DEMO_OUT) --run-id boz-2024-experiment

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pytest bench -q -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,max,rounds
	$(PY) bench/scaling.py --out bench/out/scaling.json
	$(PY) bench/experiment.py --out bench/out/experiment.json

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Numba caches compiled kernels beside the sources; a cached function does not notice that a
# module it calls changed. After editing engine/ kernels, clear the cache.
clean-cache:
	find engine rules synthetic_population -name '*.nbi' -delete -o -name '*.nbc' -delete

clean: clean-cache
	rm -rf $(VENV) runs/out .pytest_cache .benchmarks
