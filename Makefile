# Everything bootstraps .venv from pyproject.toml + constraints.txt (pinned, no index URLs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-busy lint bench bench-peer clean debs

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

debs:  # Debian packages the tests use as real parts (.ci/apt-packages)
	bash .ci/apt-install

demo: $(STAMP)
	$(BIN)/python -m msgfleet.demo

test: $(STAMP) debs  # two workers: most tests wait on real nodes, so two share the 2 cores well
	$(BIN)/pytest -q -n 2

test-busy: $(STAMP) debs  # the same suite beside two CPU hogs (stress-ng), as on a shared machine
	bash .ci/busy-test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check msgfleet
	$(BIN)/mypy msgfleet messenger

bench: $(STAMP) debs
	$(BIN)/python benchmarks/run_all.py

bench-peer: $(STAMP)  # installs pinned matrix-synapse into its own .venv/peer-synapse on first use
	$(BIN)/python benchmarks/peer_synapse.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
