# Everything bootstraps .venv from pyproject.toml + constraints.txt (pinned, no index URLs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-busy lint bench bench-peer clean debs checkov-venv sized-plans oidc-provider

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

CHECKOV_STAMP := $(VENV)/checkov/.installed
$(CHECKOV_STAMP): infra/checkov/constraints.txt  # checkov pins many packages: its own venv
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install -q -c infra/checkov/constraints.txt checkov
	touch $(CHECKOV_STAMP)

checkov-venv: $(CHECKOV_STAMP)

sized-plans: $(STAMP)  # the national stack's sizes, one sized plan per phase (msgfleet:sizedPlan)
	for phase in 1 2 3; do $(BIN)/msgfleet sim rollout --plan rollout_plans/ru-national.yaml \
	  --out $$(mktemp -d) --sized-plan infra/sized/ru-national.phase$$phase.yaml --phase $$phase; done

OIDC_STAMP := tools/oidc-provider/node_modules/.installed
$(OIDC_STAMP): tools/oidc-provider/package.json tools/oidc-provider/package-lock.json
	npm ci --prefix tools/oidc-provider --no-audit --no-fund --loglevel=error
	touch $(OIDC_STAMP)

oidc-provider: $(OIDC_STAMP)  # the local OpenID provider of the identity tests (pinned, package-lock.json)

debs:  # Debian packages the tests use as real parts (.ci/apt-packages)
	bash .ci/apt-install

demo: $(STAMP)
	$(BIN)/python -m msgfleet.demo

test: $(STAMP) debs checkov-venv $(OIDC_STAMP)  # two workers: most tests wait on real nodes, so two share the 2 cores well
	$(BIN)/pytest -q -n 2

test-busy: $(STAMP) debs $(OIDC_STAMP)  # the same suite beside two CPU hogs (stress-ng), as on a shared machine
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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tools/oidc-provider/node_modules
