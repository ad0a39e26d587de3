#!/usr/bin/env bash
# Runs a command with a moto server (DynamoDB, Streams, SQS, SES) on a free loopback
# port, exported as AWS_ENDPOINT_URL, and stops the server when the command ends,
# whatever way it ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py="$root/.venv/bin/python"
[ -x "$root/.venv/bin/moto_server" ] || { echo "moto is not installed: run 'make setup'" >&2; exit 2; }
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$root/target"
"$py" "$root/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$root/target/moto.log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null || true; wait "$moto" 2>/dev/null || true' EXIT INT TERM
"$py" - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("moto did not start; see target/moto.log")
PY
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "moto listening on $AWS_ENDPOINT_URL"
"$@"
