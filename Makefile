# synthdata: the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ID := $(shell date +%Y%m%d-%H%M%S)

.PHONY: install demo test ui bench clean

install: $(STAMP)

# torch first, as the CPU build on this machine's disk; then the project with torch pinned by constraints.txt
# (a bare `opacus` requirement would otherwise pull a multi-GB CUDA torch).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The main pipeline on the shipped demo table, through Dagster in-process, in a fresh home of its own.
demo: install
	SYNTHDATA_HOME=$(CURDIR)/.demo/home-$(DEMO_ID) $(VENV)/bin/synthdata release \
		--config synthdata/data/demo.yaml

# The import contracts of docs/ARCHITECTURE.md (pyproject.toml, [tool.importlinter]), then the suite.
test: install
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

# The Dagster UI on 127.0.0.1:3000 over $SYNTHDATA_HOME (default ~/.synthdata).
ui: install
	DAGSTER_HOME=$${SYNTHDATA_HOME:-$$HOME/.synthdata}/dagster; mkdir -p $$DAGSTER_HOME; \
	DAGSTER_HOME=$$DAGSTER_HOME $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -m pipelines.definitions

bench: install
	$(PY) -m evaluation.benchmarks.table
	$(PY) -m evaluation.benchmarks.audit_suite
	$(PY) -m evaluation.benchmarks.canary_audit
	$(PY) -m evaluation.benchmarks.gate_calibration
	$(PY) -m evaluation.benchmarks.signal
	$(PY) -m evaluation.benchmarks.image

clean:
	rm -rf $(VENV) .demo .pytest_cache
