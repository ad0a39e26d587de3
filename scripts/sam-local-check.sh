#!/usr/bin/env bash
# The functions as deployed (sam build's arm64 artifacts) under SAM CLI's own emulator:
# every sample event through `sam local invoke`, then the demo with `--lambda sam`
# (sam local start-lambda), every effect checked exactly once. Brings Docker, arm64
# emulation and the base image first, and stops a daemon it started when it ends.
#
#   scripts/sam-local-check.sh       (after `make build`)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .aws-sam/build/template.yaml ] || { echo "no .aws-sam/build: run 'make build' first" >&2; exit 2; }
trap 'scripts/sam-local-teardown.sh' EXIT
scripts/sam-local-setup.sh
t0=$(date +%s)
cargo test -p eventmart-local --features sam-local --test samples -- --exact every_sample_under_sam_local_invoke
t1=$(date +%s)
cargo run --quiet -p eventmart-local -- demo --lambda sam
t2=$(date +%s)
echo "sam local: samples $((t1 - t0)) s, demo $((t2 - t1)) s"
