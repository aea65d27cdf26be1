# synthdata: the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ID := $(shell date +%Y%m%d-%H%M%S)

.PHONY: install demo test ui bench bench-peers clean

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
	$(PY) -m evaluation.benchmarks.table_fidelity
	$(PY) -m evaluation.benchmarks.audit_suite
	$(PY) -m evaluation.benchmarks.canary_audit
	$(PY) -m evaluation.benchmarks.gate_calibration
	$(PY) -m evaluation.benchmarks.signal
	$(PY) -m evaluation.benchmarks.image

# The table generator beside MST, AIM, DP-CTGAN (smartnoise-synth) and SDV's GaussianCopula, same split and
# metrics. The peers' pins conflict with ours (smartnoise-synth 1.0 needs opacus 0.14): their own venv.
PEERS := .venv-peers
$(PEERS)/.installed:
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet torch==2.13.0
	$(PEERS)/bin/pip install --quiet smartnoise-synth==1.0.8 sdv==2.0.0
	touch $@

bench-peers: install $(PEERS)/.installed
	$(PY) -m evaluation.benchmarks.peers

clean:
	rm -rf $(VENV) $(PEERS) .demo .pytest_cache
