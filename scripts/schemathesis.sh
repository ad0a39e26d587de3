#!/usr/bin/env bash
# Runs schemathesis against openapi.yaml on the local stack's HTTP API: no server error,
# every response of a documented status, content type and schema.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]     (default 50 test cases per operation)
#
# Installs schemathesis (pinned) into its own virtual environment,
# target/tools/schemathesis-venv, so that its dependencies never meet the project's
# .venv (which the stack needs for moto). Builds the functions and eventmart-local
# (SCHEMATHESIS_NO_BUILD=1 skips that), starts `eventmart-local up` on a free port, signs
# a user in to its user pool (`eventmart-local token`), runs schemathesis with a fixed
# seed and that user's token, and stops the stack however the run ends. Reports (JUnit
# and a reproducing pytest file for failures) go to target/schemathesis/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
examples=${1:-50}
[[ $examples =~ ^[0-9]+$ ]] && ((examples > 0)) || { echo "MAX_EXAMPLES must be a positive integer" >&2; exit 2; }

SCHEMATHESIS_VERSION=4.32.5
venv="$root/target/tools/schemathesis-venv"
out="$root/target/schemathesis"
target=${CARGO_TARGET_DIR:-$root/target}
checks=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance

[ -x "$root/.venv/bin/moto_server" ] || { echo "moto is not installed: run 'make setup'" >&2; exit 2; }
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
    echo "== installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cd "$root"
if [[ ${SCHEMATHESIS_NO_BUILD:-} != 1 ]]; then
    echo "== building the functions and eventmart-local"
    cargo build --quiet --bins
    cargo build --quiet -p eventmart-local --bin eventmart-local
fi

rm -rf "$out"
mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A session of its own, so that whatever the stack leaves behind can be ended as a group.
setsid "$target/debug/eventmart-local" up --no-build --quiet --http-port "$port" >"$out/stack.log" 2>&1 &
stack=$!
stop() {
    # Ctrl-C is how the stack shuts down cleanly (functions and moto with it).
    kill -INT "$stack" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$stack" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL -- "-$stack" 2>/dev/null || true
    wait "$stack" 2>/dev/null || true
}
trap stop EXIT INT TERM

api=
for _ in $(seq 1 600); do
    api=$(sed -n 's/^  HTTP API  *\(http[^ ]*\).*/\1/p' "$out/stack.log" | head -1)
    [[ -n $api ]] && break
    kill -0 "$stack" 2>/dev/null || { cat "$out/stack.log" >&2; echo "the stack did not start" >&2; exit 1; }
    sleep 0.2
done
[[ -n $api ]] || { cat "$out/stack.log" >&2; echo "the stack did not start in 120 s" >&2; exit 1; }
# One user in both staff groups, so that every operation is reachable: customer routes
# act on this user's own orders and memberships.
token=$("$target/debug/eventmart-local" token --email schemathesis@example.com --group warehouse --group analysts)
echo "== stack up, HTTP API at $api; $examples examples per operation, checks: $checks"

rc=0
# From target/schemathesis: schemathesis keeps its cache (.schemathesis/) in the
# working directory.
cd "$out"
"$venv/bin/schemathesis" run "$root/openapi.yaml" \
    --url "$api" \
    --header "Authorization: Bearer $token" \
    --checks "$checks" \
    --max-examples "$examples" \
    --seed 20261120 \
    --workers 1 \
    --request-timeout 30 \
    --generation-database none \
    --suppress-health-check too_slow \
    --report junit,pytest \
    --report-dir "$out" \
    --no-color || rc=$?
echo "== schemathesis exited $rc; stack log: target/schemathesis/stack.log"
exit "$rc"
