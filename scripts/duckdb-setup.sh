#!/usr/bin/env bash
# The prebuilt DuckDB library that the `duckdb` crate of eventmart-local links to (the
# local data warehouse), in target/duckdb/lib/libduckdb.so. It comes from DuckDB's own npm
# package for Node on linux-x64, which ships the plain C library; building DuckDB from
# source with the crate's `bundled` feature takes far too long on CI.
# Does nothing when the library is already there and matches the stamp.
#
#   scripts/duckdb-setup.sh
set -euo pipefail

# The crate's version (=1.10506.0) is DuckDB 1.5.6: the two move together.
package="@duckdb/node-bindings-linux-x64"
version="1.5.6-r.1"
integrity="sha512-IXcrZJE6kEqM0Z4wwdVnGBHX/frOS33VPNAwDXQ/Q+Fs84b058Qe94chrCCIcNJlG8Y3UHIUU4eBeCQxW5mN1Q=="

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lib_dir="$root/target/duckdb/lib"
lib="$lib_dir/libduckdb.so"
stamp="$lib_dir/.stamp"

# The stamp holds the package's integrity and the library's sha256: a library replaced or
# truncated since (or a new pin) fetches again.
if [ -f "$lib" ] && [ -f "$stamp" ] &&
    [ "$(cat "$stamp")" = "$integrity $(sha256sum "$lib" | cut -d' ' -f1)" ]; then
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "duckdb-setup: npm is needed to fetch $package@$version and is not on PATH" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "fetching $package@$version into $lib_dir" >&2
(cd "$tmp" && npm pack --silent "$package@$version" >/dev/null)
tgz=("$tmp"/*.tgz)
if [ "${#tgz[@]}" -ne 1 ] || [ ! -f "${tgz[0]}" ]; then
    echo "duckdb-setup: npm pack $package@$version gave no single .tgz in $tmp" >&2
    exit 1
fi

# npm's integrity: base64 of the tarball's sha512. Checked before anything is extracted.
got="sha512-$(openssl dgst -sha512 -binary "${tgz[0]}" | base64 -w0)"
if [ "$got" != "$integrity" ]; then
    echo "duckdb-setup: $package@$version tarball integrity mismatch: expected $integrity, got $got" >&2
    exit 1
fi

tar -xzf "${tgz[0]}" -C "$tmp" package/libduckdb.so
mkdir -p "$lib_dir"
# Into place by rename, so that a build reading the directory never sees half a library.
cp "$tmp/package/libduckdb.so" "$lib.tmp"
mv -f "$lib.tmp" "$lib"
echo "$integrity $(sha256sum "$lib" | cut -d' ' -f1)" >"$stamp"
echo "installed $lib (DuckDB ${version%%-*})" >&2
