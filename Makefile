# The project's commands. `make test` is what CI runs (via .ci/run); it installs what
# the tests need first (`make setup`), so it works on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# Python tools of the tests (moto_server, cfn-lint, sam, cargo-lambda), in a venv.
PY := target/py
PY_STAMP := $(PY)/.installed
export PATH := $(CURDIR)/$(PY)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: bench bench-quick help setup test fmt lint unit template contract contract-lambda contract-self-test clients package run openapi clean-tools

help: ## List the targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(PY_STAMP) ## Install what the tests need (Rust components and targets, Python tools)
	rustup component add rustfmt clippy
	rustup target add aarch64-unknown-linux-gnu
	contract-tests/setup.sh

$(PY_STAMP): tests/tools/requirements.txt
	python3 -m venv $(PY)
	$(PY)/bin/pip install --quiet --disable-pip-version-check -r tests/tools/requirements.txt
	touch $@

test: setup fmt lint unit template contract contract-lambda contract-self-test clients package ## Everything CI checks
	@echo "make test: all checks passed"

fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

lint: ## Clippy with warnings as errors
	$(CARGO) clippy --all-targets --locked -- -D warnings

unit: $(PY_STAMP) ## Unit and black-box tests (in-process, spawned binary, moto_server)
	$(CARGO) test --locked

template: $(PY_STAMP) ## Lint template.yaml (cfn-lint, sam validate --lint)
	cfn-lint template.yaml
	sam validate --lint --template template.yaml

contract: ## Contract tests (schemathesis) against the local server
	contract-tests/run.sh

contract-lambda: ## Contract tests through the local Lambda emulation (cargo lambda watch)
	contract-tests/run.sh --lambda

contract-self-test: ## Prove the contract tests fail on a broken handler
	contract-tests/self-test.sh

clients: ## Spec linters, generated Python/TypeScript clients' scenarios, browser test of /docs and /redoc
	tests/clients/run.sh

package: $(PY_STAMP) ## sam build the arm64 Lambda package and print its sizes
	sam build --template template.yaml --build-dir target/sam-build
	@python3 -c 'import os, sys, zipfile; \
	  b = "target/sam-build/ItemsFunction/bootstrap"; z = "target/sam-build/items-api.zip"; \
	  head = open(b, "rb").read(20); \
	  sys.exit("package: bootstrap is not an arm64 ELF binary") if head[:4] != b"\x7fELF" or head[18:20] != b"\xb7\x00" else None; \
	  zf = zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=9); zf.write(b, "bootstrap"); zf.close(); \
	  print(f"package: bootstrap {os.path.getsize(b):,} bytes, zip {os.path.getsize(z):,} bytes (arm64, what Lambda receives)")'

bench: ## Benchmarks against the Python original; updates docs/performance.md
	python3 benches/run.py

bench-quick: ## A short benchmark run (smoke test, fewer samples)
	python3 benches/run.py --quick --skip-package

run: ## Serve on http://127.0.0.1:8000 (docs at /docs/)
	$(CARGO) run

openapi: ## Print the OpenAPI document the code generates
	$(CARGO) run --quiet -- openapi

clean-tools: ## Remove the installed test tools (they are reinstalled by make setup)
	rm -rf $(PY) contract-tests/.venv
