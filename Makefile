# Slipway: `make help` lists the targets. `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help install test unit integration template lint typecheck checkov lambda-package demo bench clean schema

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml functions/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv with Slipway, the `slipway` command and the dev tools

test: $(STAMP) lint typecheck checkov ## Everything CI checks: lint, types, checkov, all tests, the Lambda package
	$(BIN)/python -m pytest -n 2 -q
	bash scripts/check-lambda-package.sh

unit: $(STAMP) ## Unit tests (no AWS, no moto)
	$(BIN)/python -m pytest tests/unit -q

integration: $(STAMP) ## The real handlers under moto
	$(BIN)/python -m pytest tests/integration -q -n 2

template: $(STAMP) ## cfn-lint, sam validate and event-pattern checks of template.yaml and templates/
	$(BIN)/python -m pytest tests/template -q

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check functions sandbox tests bench examples
	$(BIN)/ruff format --check functions sandbox tests bench examples

typecheck: $(STAMP) ## mypy (strict) on the Lambda package
	$(BIN)/mypy

CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "checkov>=3.2,<4"
	touch $@

checkov: $(CHECKOV_VENV)/.installed ## checkov on template.yaml and templates/: no failed check (suppressions live in the templates, with reasons)
	$(CHECKOV_VENV)/bin/checkov -f template.yaml -f templates/target-account.yaml --framework cloudformation --skip-download --quiet --compact

lambda-package: ## Prove the function's dependencies resolve as wheels for python3.13 on arm64
	bash scripts/check-lambda-package.sh

demo: $(STAMP) ## Run the whole flow on a local moto server: push -> rollout -> outcomes -> rollback
	$(BIN)/python -m sandbox.demo

bench: $(STAMP) ## Fan-out, cold-start, memory, burst and throttled (ECS request limits) benchmarks: ratios, bench/results/
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info

schema: $(STAMP) ## Regenerate schema/rule.schema.json from the rule model
	$(BIN)/slipway rules schema > schema/rule.schema.json
