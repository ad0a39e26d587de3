#!/usr/bin/env bash
# Creates the pattern benchmark's Python environment (LocalStack's and moto's matchers,
# matplotlib) from the exact pins of bench/requirements-bench.txt, apart from the project's
# .venv. Does nothing when the environment already has those pins.
#
#   bash bench/python/setup-venv.sh [VENV]     (default: target/bench/venv)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${1:-$root/target/bench/venv}"
req="$root/bench/requirements-bench.txt"
stamp="$venv/.requirements-bench.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
    exit 0
fi
echo "setting up $venv from bench/requirements-bench.txt" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" >"$stamp"
