# synthdata: the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ID := $(shell date +%Y%m%d-%H%M%S)

.PHONY: install demo test ui ui-demo bench bench-peers clean e2e

install: $(STAMP)

# torch first, as the CPU build on this machine's disk; then the project with torch pinned by constraints.txt
# (a bare `opacus` requirement would otherwise pull a multi-GB CUDA torch).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The main pipeline on the shipped demo table, through Dagster in-process, in a fresh home of its own (each
# demo starts with a full budget); .demo/latest points at it, and `make ui-demo` shows its run in the UI.
demo: install
	mkdir -p .demo; SYNTHDATA_HOME=$(CURDIR)/.demo/home-$(DEMO_ID) $(VENV)/bin/synthdata release \
		--config synthdata/data/demo.yaml; status=$$?; ln -sfn home-$(DEMO_ID) .demo/latest; \
	echo "the run in the Dagster UI: make ui-demo (home .demo/home-$(DEMO_ID))"; exit $$status

# The import contracts of docs/ARCHITECTURE.md (pyproject.toml, [tool.importlinter]), then the suite.
test: install
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

# The Dagster UI on 127.0.0.1:3000 over $SYNTHDATA_HOME (default ~/.synthdata), its instance's dagster.yaml written
# as the CLI writes it (PostgreSQL when $SYNTHDATA_DAGSTER_POSTGRES_URL is set); ui-demo over the last demo's home.
ui: install
	DAGSTER_HOME=$$($(PY) -m synthdata.home) && \
	DAGSTER_HOME=$$DAGSTER_HOME $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -m pipelines.definitions

ui-demo: install
	test -d .demo/latest || { echo "no demo has run here yet: make demo first"; exit 2; }
	SYNTHDATA_HOME=$(CURDIR)/.demo/latest $(MAKE) ui

# The browser end-to-end test (tests/e2e/; `make test` leaves it out): tests/e2e/run.sh starts the Dagster UI on
# 127.0.0.1 under job control (set -m) over a fresh home, headless Chromium launches a small real DP release from
# the launchpad and reads its audit checks' verdicts; the UI's process group is stopped whole on any exit.
# Debian's chromium and chromedriver are installed when missing (selenium drives them by path: nothing downloaded).
e2e: install
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing Debian's chromium and chromium-driver"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@$(PY) -c "import selenium" 2>/dev/null || $(PY) -m pip install --quiet -c constraints.txt -e '.[e2e]'
	PY=$(PY) bash tests/e2e/run.sh

# Every benchmark in turn (evaluation/benchmarks/__main__.py): on ../shared/data when it is beside the
# checkout, else on the shipped data where that is honest; it says which it skips and why.
bench: install
	$(PY) -m evaluation.benchmarks

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
	rm -rf $(VENV) $(PEERS) .demo .e2e .pytest_cache
