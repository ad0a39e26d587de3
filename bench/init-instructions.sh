#!/usr/bin/env bash
# Instructions each function executes from exec until its first poll of the Runtime API,
# counted by valgrind's callgrind: a cold-start figure that, unlike milliseconds, does not
# move with the machine's load. Each binary gets the benchmark's environment (dummy tables,
# static credentials, an endpoint nothing listens on) and a Runtime API address nothing
# listens on, so it exits at that first poll; the count includes that short error path.
#
#   bench/init-instructions.sh [TARGET_DIR]     (default target/release; build it first)
set -euo pipefail
dir=${1:-target/release}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
printf '| binary | instructions to the first poll | ratio to hello |\n| --- | ---: | ---: |\n'
hello=
for bin in hello orders memberships outbox-relay fulfillment notifications ingestion analytics; do
    [ -x "$dir/$bin" ] || { echo "$dir/$bin is missing: cargo build --release --bins -p eventmart-bench" >&2; exit 2; }
    out=$(env -i PATH="$PATH" AWS_LAMBDA_RUNTIME_API=127.0.0.1:9 AWS_LAMBDA_FUNCTION_NAME="$bin" \
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
        AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_SESSION_TOKEN=bench \
        AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_MAX_ATTEMPTS=1 \
        ORDERS_TABLE=t MEMBER_VIEW_TABLE=t MEMBERSHIPS_TABLE=t FULFILLMENT_TABLE=t NOTIFICATIONS_TABLE=t IDEMPOTENCY_TABLE=t \
        ANALYTICS_EVENTS_TABLE=t ANALYTICS_DAILY_TABLE=t EVENT_BUS_NAME=b SENDER_EMAIL=shop@example.com \
        DEAD_LETTER_QUEUE_URL=http://127.0.0.1:9/000000000000/dlq \
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$dir/$bin" 2>&1 >/dev/null || true)
    n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$n" ] || { echo "$bin: no count from callgrind: $out" >&2; exit 1; }
    hello=${hello:-$n}
    awk -v b="$bin" -v n="$n" -v h="$hello" 'BEGIN { printf "| %s | %.2fM | %.2fx |\n", b, n / 1e6, n / h }'
done
