# The project's commands. `make test` is what CI runs (via .ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help setup test fmt lint unit run openapi

help: ## List the targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install what the tests need (Rust components)
	rustup component add rustfmt clippy

test: setup fmt lint unit ## Everything CI checks: format, lints, all tests

fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

lint: ## Clippy with warnings as errors
	$(CARGO) clippy --all-targets --locked -- -D warnings

unit: ## Unit and black-box tests (in-process and spawned server)
	$(CARGO) test --locked

run: ## Serve on http://127.0.0.1:8000 (docs at /docs/)
	$(CARGO) run

openapi: ## Print the OpenAPI document the code generates
	$(CARGO) run --quiet -- openapi
