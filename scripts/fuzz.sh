#!/bin/bash
# Fuzzes the GuestFS image readers with libFuzzer: scripts/fuzz.sh [SECONDS_PER_TARGET] (default 30).
# Builds guestfs-fuzzer (release, -sanitize=fuzzer,address, linked with lld) into .build/fuzz-guestfs,
# seeds from scripts/fuzz-corpus.sh, runs each target in FUZZ_TARGETS (default: all) and prints
# execs, execs/s, coverage and corpus size per target. A crash, timeout or out-of-memory input is
# kept under .build/fuzz-guestfs/findings/ and makes the script exit 1 (after the other targets ran).
# The grown corpus is kept in .build/fuzz-guestfs/corpus/TARGET, so later runs start from it.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-30}
TARGETS=${FUZZ_TARGETS:-qcow2 partition lvm ext4 fat iso9660 xfs}
OUT=.build/fuzz-guestfs
MAX_LEN=262144

# libFuzzer's runtime and lld ship with the swift.org toolchain; the GNU linkers fail this link.
if ! command -v ld.lld >/dev/null && [ ! -x "$(dirname "$(readlink -f "$(command -v swift)")")/ld.lld" ]; then
    echo "fuzz: ld.lld not found (it ships with the swift.org toolchain; Debian: apt-get install lld)" >&2
    exit 1
fi

scripts/fuzz-corpus.sh "$OUT/seeds"
start=$(date +%s)
mkdir -p "$OUT/findings" "$OUT/logs"
if ! swift build -c release --build-path "$OUT" --product guestfs-fuzzer \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLIBFUZZER \
    -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld >"$OUT/logs/build.log" 2>&1; then
    tail -30 "$OUT/logs/build.log" >&2
    echo "fuzz: build failed (log: $OUT/logs/build.log)" >&2
    exit 1
fi
FUZZER=$OUT/release/guestfs-fuzzer
echo "fuzz: fuzzer built in $(($(date +%s) - start)) s"

failed=()
printf '%-10s %10s %8s %7s %7s %7s  %s\n' target execs execs/s cov ft corpus result
for t in $TARGETS; do
    mkdir -p "$OUT/corpus/$t"
    log=$OUT/logs/$t.log
    set +e
    # First corpus directory collects new inputs; the seeds are read only.
    GUESTFS_FUZZ_TARGET=$t "$FUZZER" -max_total_time="$SECONDS_PER_TARGET" -max_len=$MAX_LEN \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$OUT/findings/$t-" "$OUT/corpus/$t" "$OUT/seeds/$t" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    result=ok
    if [ $rc -ne 0 ]; then
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        result="FAILED (exit $rc): ${artifact:-see $log}"
        failed+=("$t")
    fi
    printf '%-10s %10s %8s %7s %7s %7s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
if ((${#failed[@]})); then
    echo "fuzz: findings in ${failed[*]}; logs in $OUT/logs, inputs in $OUT/findings" >&2
    echo "fuzz: replay with GUESTFS_FUZZ_TARGET=TARGET $FUZZER INPUT" >&2
    exit 1
fi
