#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each and fails if any crashes.
#
#   scripts/fuzz.sh SECONDS [TARGET...]       (default: every target)
#
# Installs cargo-fuzz (pinned) into target/tools when missing. cargo-fuzz needs a nightly
# compiler; on the project's stable toolchain RUSTC_BOOTSTRAP=1 unlocks the flags it
# passes. Each target's corpus, fuzz/corpus/<target>/, is seeded from the fixtures in
# events/ (and the pattern conformance cases beside the repository, when present) by
# fuzz/seeds.py and kept between runs; a crashing input lands in fuzz/artifacts/<target>/
# and is printed with the command that replays it.
#
# Environment: FUZZ_SANITIZER (default none: the project has no unsafe code, and ASan
# costs about half of the executions; `address` works too), FUZZ_JOBS (targets run at
# once, default 1), CARGO_TARGET_DIR (default target/fuzz), FUZZ_CODEGEN_UNITS (default
# 16: a much shorter build for slightly slower runs).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
[[ $seconds =~ ^[0-9]+$ ]] && ((seconds > 0)) || { echo "SECONDS must be a positive integer" >&2; exit 2; }

CARGO_FUZZ_VERSION=0.13.2
tools="$root/target/tools"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/fuzz}
sanitizer=${FUZZ_SANITIZER:-none}
jobs=${FUZZ_JOBS:-1}
cgu=${FUZZ_CODEGEN_UNITS:-16}

if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
    cargo install --locked --quiet --root "$tools" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
# The workspace's release profile is the deployed functions' (size-optimised, fat LTO,
# stripped): for fuzzing, speed, a shorter build and symbols in crash reports instead.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
fuzz() { RUSTC_BOOTSTRAP=1 "$tools/bin/cargo-fuzz" fuzz "$@"; }

cd "$root/fuzz"
if (($# == 0)); then
    mapfile -t targets < <(fuzz list)
else
    targets=("$@")
fi

echo "== seeding fuzz/corpus from events/"
cases="$root/../shared/conformance/eventbridge-patterns/cases.jsonl"
python3 "$root/fuzz/seeds.py" "$root/fuzz/corpus" "$cases"

common=(--release --debug-assertions --sanitizer "$sanitizer" --codegen-units "$cgu"
    --target-dir "$CARGO_TARGET_DIR")
echo "== building the fuzz targets (sanitizer: $sanitizer)"
fuzz build "${common[@]}"

logs="$root/target/fuzz-logs"
rm -rf "$logs"
mkdir -p "$logs"
run_one() {
    local t=$1
    mkdir -p "$root/fuzz/artifacts/$t"
    # -timeout: an input slower than 10 s is a hang, and a failure. -rss_limit_mb: a
    # leak or a runaway allocation past 2 GiB is a failure too.
    local rc=0
    fuzz run "${common[@]}" "$t" "$root/fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -dict="$root/fuzz/json.dict" -print_final_stats=1 \
        -artifact_prefix="$root/fuzz/artifacts/$t/" >"$logs/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$logs/$t.rc"
}

echo "== running each target for ${seconds}s"
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

failed=0
printf '\n%-18s %8s %12s %10s %8s  %s\n' target seconds execs execs/s corpus result
for t in "${targets[@]}"; do
    log="$logs/$t.log"
    rc=$(cat "$logs/$t.rc" 2>/dev/null || echo 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "$root/fuzz/corpus/$t" -type f | wc -l)
    crashes=$(find "$root/fuzz/artifacts/$t" -type f | wc -l)
    if [[ $rc == 0 && $crashes == 0 ]]; then
        result=ok
    else
        result="FAILED (exit $rc, $crashes artifacts)"
        failed=1
    fi
    printf '%-18s %8s %12s %10s %8s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done
if ((failed)); then
    echo
    for t in "${targets[@]}"; do
        if [[ $(cat "$logs/$t.rc" 2>/dev/null || echo 1) != 0 ]] || [[ -n $(ls -A "$root/fuzz/artifacts/$t" 2>/dev/null) ]]; then
            echo "---- $t (full log: target/fuzz-logs/$t.log)"
            grep -E -A25 "panicked|ERROR: libFuzzer|deadly signal|==[0-9]+==ERROR" "$logs/$t.log" | head -60 || tail -30 "$logs/$t.log"
            for a in "$root/fuzz/artifacts/$t"/*; do
                [[ -e $a ]] && echo "replay: (cd fuzz && RUSTC_BOOTSTRAP=1 $tools/bin/cargo-fuzz fuzz run ${common[*]} $t $a)"
            done
        fi
    done
    echo "fuzzing found crashes" >&2
    exit 1
fi
echo "0 crashes"
