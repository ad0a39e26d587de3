#!/usr/bin/env bash
# Stops the Docker daemon scripts/sam-local-setup.sh started, and only that one: a daemon
# that was already running is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
pidfile=target/sam-local/dockerd.pid
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if $sudo kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do
        $sudo kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
fi
rm -f "$pidfile"
