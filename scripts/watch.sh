#!/usr/bin/env bash
# `make watch`: moto on a free port with the template's tables and queues, and every
# function under `cargo lambda watch` on 127.0.0.1:9000, until Ctrl-C. Then, in another
# terminal: cargo lambda invoke orders --data-file events/orders/place-order.json
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  exec scripts/with-moto.sh "$0" "$@"
fi
cargo run --quiet -p eventmart-tests --bin dev-resources > target/dev.env
echo "functions' environment: target/dev.env"
cargo lambda watch -A 127.0.0.1 --env-file target/dev.env "$@"
