#!/usr/bin/env bash
# LocalStack's host mode for the routing cross-check: a Python 3.13+ virtual environment in
# target/localstack/venv with the exact pins of requirements-localstack.txt, apart from
# .venv (LocalStack needs a newer Python than the project's tools, and older dependencies).
# Does nothing when the environment already has those pins.
#
#   scripts/localstack-setup.sh [VENV]     (default: target/localstack/venv)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/target/localstack/venv}"
req="$root/requirements-localstack.txt"
stamp="$venv/.requirements-localstack.sha256"
# The stamp covers the pins and the Python floor: raising either rebuilds the environment.
want="$( (cat "$req"; echo python-3.13) | sha256sum | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
    exit 0
fi

# The first Python 3.13 or later (LocalStack 2026.3 imports `warnings.deprecated`, new in
# 3.13, though its metadata says 3.12): on PATH, else under pyenv.
python=""
for candidate in python3.14 python3.13 python3 "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "LocalStack needs Python 3.13 or later; none found on PATH or under pyenv" >&2
    exit 1
fi

echo "setting up $venv from requirements-localstack.txt with $("$python" --version)" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
# Exact pins, no resolution: a dependency newer than the pins breaks this LocalStack.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req"
# Its AWS component is what the runtime loads first; an import error there shows up later
# only as "No component plugins found".
"$venv/bin/python" -c 'import localstack.runtime.main, localstack.aws.components' >/dev/null
echo "$want" >"$stamp"
