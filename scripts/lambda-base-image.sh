#!/usr/bin/env bash
# A local stand-in for the Lambda base image SAM asks for when it runs a provided.al2023
# arm64 function: public.ecr.aws/lambda/provided:al2023-arm64, built from Debian's arm64
# packages (busybox-static for the shell and tools SAM's image build runs, glibc and
# libgcc for the functions), never pulled. How it differs from Amazon Linux 2023: README,
# "SAM CLI".
#
# It is rebuilt only when its inputs change (this script, the package versions); then the
# images SAM built on top of the old one are removed, or SAM would run them stale
# (Runtime.InvalidEntrypoint).
#
#   scripts/lambda-base-image.sh          (needs a Docker engine and arm64 emulation)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=public.ecr.aws/lambda/provided:al2023-arm64
packages=(busybox-static libc6 libgcc-s1)
work=target/sam-local/base-image
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
    $sudo apt-get update -qq
fi
versions=$(for p in "${packages[@]}"; do
    apt-cache policy "$p:arm64" | sed -n 's/^  Candidate: //p' | sed "s/^/$p=/"
done)
inputs=$(printf '%s\n%s\n' "$(sha256sum "$0" | cut -c1-16)" "$versions" | sha256sum | cut -c1-16)
current=$(docker image inspect --format '{{ index .Config.Labels "eventmart.inputs" }}' "$tag" 2>/dev/null || true)
if [ "$current" = "$inputs" ]; then
    echo "$tag: up to date ($inputs)"
    exit 0
fi

rm -rf "$work" && mkdir -p "$work/debs" "$work/rootfs"
(cd "$work/debs" && apt-get download -qq "${packages[@]/%/:arm64}" 2>/dev/null)
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/rootfs"; done
root=$work/rootfs
# Every busybox applet as a link in /bin, as Amazon Linux has the coreutils.
applets=$(qemu-aarch64-static "$root/bin/busybox" --list)
for a in $applets; do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
mkdir -p "$root"/{tmp,var/task,var/runtime,var/lang/bin,opt,etc/ssl/certs,etc/pki/tls/certs,usr/bin,usr/lib64,lib64}
chmod 1777 "$root/tmp"
# Where glibc's loader is on Amazon Linux, and its library path.
ln -sf ../lib/aarch64-linux-gnu/ld-linux-aarch64.so.1 "$root/lib64/ld-linux-aarch64.so.1"
[ -e "$root/lib/ld-linux-aarch64.so.1" ] || ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$root/lib/ld-linux-aarch64.so.1"
# The host's CA bundle at Amazon Linux's path and Debian's (the functions use rustls with
# the system roots; locally they speak plain HTTP to moto, but their clients load roots).
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/pki/tls/certs/ca-bundle.crt"
ln -sf ../../pki/tls/certs/ca-bundle.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nsbx_user1051:x:990:\n' > "$root/etc/group"
cat > "$root/etc/os-release" <<EOF
NAME="Eventmart stand-in for the Lambda provided:al2023 base image"
ID=eventmart-lambda-standin
VERSION_ID="$inputs"
PRETTY_NAME="Debian $(echo "$versions" | tr '\n' ' ')(not Amazon Linux 2023)"
EOF
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .
cat > "$work/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV LANG=en_US.UTF-8 TZ=:/etc/localtime \\
    PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin \\
    LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/lib/aarch64-linux-gnu:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib \\
    LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime
LABEL eventmart.inputs="$inputs" \\
      org.opencontainers.image.description="Local stand-in for $tag, built from Debian arm64 packages: $(echo "$versions" | tr '\n' ' ')"
WORKDIR /var/task
EOF
# The legacy builder: FROM scratch needs nothing from a registry, and --platform labels the
# image arm64 (docker import would label it amd64, and a later arm64 run would look it up
# in a registry).
DOCKER_BUILDKIT=0 docker build --quiet --platform linux/arm64 -t "$tag" "$work" >/dev/null
# SAM's images on the old base (public.ecr.aws/lambda/provided:al2023-rapid-arm64) are stale now.
stale=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^public.ecr.aws/lambda/provided:al2023-rapid-|^samcli/' || true)
[ -z "$stale" ] || docker rmi -f $stale >/dev/null
docker image prune -f >/dev/null
arch=$(docker image inspect --format '{{.Architecture}}' "$tag")
[ "$arch" = arm64 ] || { echo "$tag was built for $arch, not arm64" >&2; exit 1; }
docker run --rm --platform linux/arm64 --network none "$tag" /bin/sh -c 'mv --help >/dev/null 2>&1; chmod --help >/dev/null 2>&1; uname -m' \
    | grep -qx aarch64 || { echo "$tag does not run arm64 binaries" >&2; exit 1; }
echo "$tag: built ($inputs)"
