# Eventmart's commands. `make test` is what CI runs (.ci/run).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
REGION ?= us-east-1
DUCKDB := target/duckdb/lib/libduckdb.so

.PHONY: demo up sql setup sam-setup sam-local test lint unit-and-integration bench bench-smoke soak soak-smoke scale fuzz schemathesis schemathesis-smoke template-check checkov watch build deploy schemas clean localstack-routing localstack-deploy

## demo: the whole system on this machine, its story told and checked (exit 1 if any
## effect did not happen exactly once); needs only the Python tools (ARGS="--kill 0.1 ...").
demo: $(VENV)/.installed $(DUCKDB)
	cargo run --quiet -p eventmart-local -- demo $(ARGS)

## up: the whole system on this machine until Ctrl-C (ARGS="--duplicates 0.3 ..." for chaos).
up: $(VENV)/.installed $(DUCKDB)
	cargo run --quiet -p eventmart-local -- up $(ARGS)

## sql: SQL over the lake the last `make up` or `make demo` wrote (Q="SELECT ..."), or one
## of the template's Athena named queries (NAMED=revenue_by_sku).
sql: $(DUCKDB)
	cargo run --quiet -p eventmart-local -- sql $(if $(NAMED),--named $(NAMED),"$(Q)")

## setup: Python tools pinned in requirements-dev.txt into .venv, the arm64 Rust target,
## DuckDB's library for the local warehouse, and Debian's Chromium for the dashboard test.
setup: $(VENV)/.installed $(DUCKDB)
	rustup target add aarch64-unknown-linux-gnu >/dev/null
	scripts/install-chromium.sh

# The prebuilt DuckDB eventmart-local links to (pinned and verified by the script).
$(DUCKDB): scripts/duckdb-setup.sh
	scripts/duckdb-setup.sh

$(VENV)/.installed: requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## test: formatting, lints, every cargo test against a local moto server, template checks,
## the arm64 build of every function with its zip size, and those builds under SAM CLI's
## local Lambda.
test: setup lint unit-and-integration bench-smoke soak-smoke schemathesis-smoke template-check build sam-local localstack-routing

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

unit-and-integration:
	scripts/with-moto.sh cargo test --workspace
	@# The pattern engine's score per operator on the conformance corpus.
	cargo test -p eventmart-local --test conformance -- --nocapture

## bench: cold start (20 per function, spawn -> first Runtime API poll) and max RSS (1,000
## invocations) of every function, beside a bare lambda_runtime binary and a Python/boto3
## consumer, release builds (target/bench/cold-start.md); then the pattern engine's events/s
## for 1 to 1,000 rules beside LocalStack's and moto's matchers (target/bench/patterns.md,
## Python side in target/bench/venv). See BENCHMARKS.md.
# The functions are built on their own (the default members, as `sam build` builds them),
# so that the bench crate's dependency features do not leak into what is measured.
bench: setup
	cargo build --release --bins
	cargo build --release -p eventmart-bench
	cargo run --quiet --release -p eventmart-bench --bin eventmart-bench -- cold-start --runs 20 --invocations 1000 \
		--release --out target/bench/cold-start.md
	@# The same cold starts in instructions (callgrind), which the machine's load does not move.
	if command -v valgrind >/dev/null; then bench/init-instructions.sh > target/bench/init-instructions.md; \
		cat target/bench/init-instructions.md; else echo "valgrind not installed: no instruction counts"; fi
	bash bench/python/setup-venv.sh
	cargo run --quiet --release -p eventmart-bench --bin patterns -- --out target/bench/patterns.md
	cargo run --quiet --release -p eventmart-bench --bin lake -- --out target/bench/lake.md

## bench-smoke: the same benchmark, short and on debug builds (CI).
bench-smoke: setup
	cargo build --bins
	cargo build -p eventmart-bench
	cargo run --quiet -p eventmart-bench --bin eventmart-bench -- cold-start --runs 2 --invocations 20 \
		--out target/bench/cold-start-smoke.md
	bash bench/python/setup-venv.sh
	cargo run --quiet -p eventmart-bench --bin patterns -- --smoke --out target/bench/patterns-smoke.md
	cargo run --quiet -p eventmart-bench --bin lake -- --events 2000 --runs 1 --out target/bench/lake-smoke.md

## soak: the reliability suite through the whole local stack (see RELIABILITY.md): a
## duplicate storm of about 10,000 events, then reordering, crashes and a 30 s DynamoDB
## outage on 1,000 orders each, every effect checked exactly once (reports in
## target/soak/); then the fuzz targets and schemathesis.
soak: setup
	cargo build --release --bins
	cargo build --release -p eventmart-bench --bin soak
	target/release/soak soak --release --only storm --orders 3300 --out target/soak/storm.md
	target/release/soak soak --release --only reorder --only crashes --only outage --orders 1000 \
		--out target/soak/chaos.md
	$(MAKE) fuzz schemathesis

## fuzz: every cargo-fuzz target (fuzz/) for FUZZ_SECONDS each (default 600); fails on any
## crash. The first build of the instrumented crate takes tens of minutes.
FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

## schemathesis: openapi.yaml against the local HTTP API (SCHEMATHESIS_EXAMPLES per
## operation, default 100): no server error, no schema or status-code violation.
SCHEMATHESIS_EXAMPLES ?= 100
schemathesis: setup
	scripts/schemathesis.sh $(SCHEMATHESIS_EXAMPLES)

## schemathesis-smoke: the same checks, 5 examples per operation (CI).
schemathesis-smoke: setup
	scripts/schemathesis.sh 5

## soak-smoke: every scenario on 20 orders with a 5 s outage, debug builds (CI).
soak-smoke: setup
	cargo build --bins
	cargo build -p eventmart-bench --bin soak
	target/debug/soak soak --orders 20 --outage-secs 5 --out target/soak/smoke.md

## scale: orders per second, memory and AWS requests per event through the whole local
## stack at 1,000 and 10,000 orders (see BENCHMARKS.md). Report in target/bench/scale.md.
scale: setup
	cargo build --release --bins
	cargo build --release -p eventmart-bench --bin soak
	target/release/soak scale --release --orders 1000,10000 --out target/bench/scale.md

## template-check: cfn-lint, SAM's validation and checkov over template.yaml.
template-check: checkov
	cfn-lint template.yaml
	sam validate --lint --region $(REGION)

## checkov: checkov's CloudFormation checks over template.yaml (pinned, in its own venv,
## target/tools/checkov-venv); fails on any failed check. Checks that do not apply are
## skipped in the resource's Metadata with the reason.
checkov:
	scripts/checkov.sh

## watch: every function under `cargo lambda watch` (127.0.0.1:9000) against moto.
watch: setup
	scripts/watch.sh

## build: every function for arm64 Lambda, through SAM and cargo-lambda; prints zip sizes.
build: setup
	sam build
	$(PY) scripts/zip-sizes.py .aws-sam/build

## sam-setup: what `sam local` needs here (Docker engine, arm64 emulation, the local
## stand-in for the Lambda base image); see README, "SAM CLI".
sam-setup:
	scripts/sam-local-setup.sh

## sam-local: sam build's artifacts under SAM's emulator: every sample event through
## `sam local invoke`, then the demo under `--lambda sam`; stops a Docker daemon it started.
sam-local: build
	scripts/sam-local-check.sh

## deploy: to the AWS account of your current credentials.
deploy: build
	sam deploy --guided

## schemas: rewrite events/schemas/ from the Rust types.
schemas:
	EVENTMART_BLESS=1 cargo test -p eventmart-shared --test contract

clean:
	cargo clean
	rm -rf .aws-sam

# The template's rules on LocalStack's EventBridge (host mode, its own virtualenv) against
# eventmart-local's bus: every sample and corpus event, the same targets, the same envelope.
localstack-routing:
	scripts/localstack-setup.sh
	cargo test -p eventmart-local --features localstack --test localstack_routing -- --nocapture

# The built template deployed to a LocalStack of your own (its image or CLI, with an account
# token) through samlocal. LocalStack must serve what the template uses: DynamoDB with
# Streams, Lambda, SES v2, Cognito and the HTTP API as well as EventBridge and SQS.
LOCALSTACK_ENDPOINT ?= http://localhost:4566
localstack-deploy: setup build
	DISABLE_DEPRECATION_NOTICE=1 AWS_ENDPOINT_URL=$(LOCALSTACK_ENDPOINT) AWS_DEFAULT_REGION=$(REGION) \
		$(VENV)/bin/samlocal deploy --template-file .aws-sam/build/template.yaml \
		--stack-name eventmart-local --resolve-s3 --region $(REGION) \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
		--no-confirm-changeset --no-fail-on-empty-changeset \
		--parameter-overrides Stage=dev SenderEmail=no-reply@example.com
