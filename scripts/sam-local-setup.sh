#!/usr/bin/env bash
# What `sam local` needs, brought only where it is missing, never pulled from a registry:
#
#   - a Docker engine: Debian's docker.io; a daemon is started only when none answers, with
#     iptables and IP masquerading off, so containers reach this machine and nothing beyond
#     it. Its pid goes to target/sam-local/dockerd.pid; scripts/sam-local-teardown.sh
#     stops it (and only a daemon this script started).
#   - arm64 emulation (the functions are arm64, as deployed): qemu-user-static registered
#     with binfmt_misc, fixed-binary, so it also runs inside containers.
#   - the Lambda base image SAM asks for, public.ecr.aws/lambda/provided:al2023-arm64, as a
#     local stand-in built from Debian's arm64 packages (see README, "SAM CLI").
#
#   scripts/sam-local-setup.sh            (idempotent; root or sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
state=target/sam-local
mkdir -p "$state"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

need=()
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The daemon: reuse one that answers; otherwise start ours.
if ! docker info >/dev/null 2>&1; then
    $sudo mkdir -p /var/lib/docker
    # Debian's engine at /usr/sbin, whatever `docker` client comes first on PATH.
    $sudo sh -c "nohup /usr/sbin/dockerd --iptables=false --ip-masq=false \
        >'$PWD/$state/dockerd.log' 2>&1 & echo \$! > '$PWD/$state/dockerd.pid'"
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start: see $state/dockerd.log" >&2; exit 1; }
fi

# arm64 binaries, on the host and in containers.
mountpoint -q /proc/sys/fs/binfmt_misc || $sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || $sudo update-binfmts --import qemu-aarch64 2>/dev/null || true
$sudo update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || { echo "qemu-aarch64 is not registered with binfmt_misc" >&2; exit 1; }

scripts/lambda-base-image.sh
