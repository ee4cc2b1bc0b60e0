#!/usr/bin/env bash
# How long `pledge serve` takes from its start to ready (`/readyz` answers 200) with a consent
# ledger of EVENTS events (default 1,000,000) in a SQLite store (issue "Performance at the
# limit": goal 0.5 s).
#
#   bench/start.sh                       # builds the release binary and the ledger bench first
#   EVENTS=200000 RUNS=5 bench/start.sh
#   LEDGER=/some/file bench/start.sh     # fill the store there once and keep it; later runs
#                                        # with the same LEDGER start from it
#
# The store is filled by the ledger benchmark (`cargo bench -p pledge-store --bench ledger --
# --verify-only --keep FILE`, which also prints the verification figures). Then:
#   1. the first start has no snapshot of the decision index: it applies the whole ledger,
#      and writes a snapshot when it stops;
#   2. RUNS (default 5) more starts read the snapshot and the (no) events after it.
# Each start is timed from the moment the process is launched to the first 200 of /readyz,
# polled every 5 ms; the server is stopped with SIGTERM after each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
events=${EVENTS:-1000000}
runs=${RUNS:-5}
if [ -z "${PLEDGE_BIN:-}" ]; then
    echo "building the release binary (cargo build --release -p pledge)" >&2
    cargo build --release -q -p pledge
fi
pledge=${PLEDGE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/pledge}
dir=$(mktemp -d)
pid=""
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
ledger=${LEDGER:-$dir/store.db}
if [ -e "$ledger" ]; then
    echo "the ledger of $ledger, filled before (its snapshot removed: the first start reads it all)" >&2
    sqlite3 "$ledger" "DELETE FROM consent_index_snapshot"
else
    echo "filling a ledger of $events events (the ledger benchmark, release build)" >&2
    cargo bench -q -p pledge-store --bench ledger -- --verify-only --events "$events" --keep "$ledger"
fi
store=sqlite:$ledger
# readyz asks the dataset to answer: an empty SQLite file does.
export CHINOOK_DATABASE_URL="sqlite:$dir/app.db?mode=rwc"

# Sets $took to the seconds from launch to ready; leaves the server running as $pid.
start() {
    local port=$((20000 + RANDOM % 20000)) t0 t1
    t0=$(date +%s%N)
    "$pledge" serve examples/chinook --store "$store" --listen 127.0.0.1:$port --workers 0 >"$dir/serve.log" 2>&1 &
    pid=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do
        kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.log" >&2; exit 1; }
        sleep 0.005
    done
    t1=$(date +%s%N)
    took=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f\n", d / 1e9 }')
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
start
first=$took
stop
grep -q "consent index snapshot written" "$dir/serve.log" ||
    { echo "the first server wrote no snapshot when it stopped:" >&2; tail -5 "$dir/serve.log" >&2; exit 1; }
echo "start with no snapshot (the whole ledger applied): $first s"
times=()
for i in $(seq "$runs"); do
    start
    t=$took
    grep -q "consent index read from its snapshot" "$dir/serve.log" ||
        { echo "start $i did not read the snapshot:" >&2; tail -5 "$dir/serve.log" >&2; exit 1; }
    stop
    times+=("$t")
    echo "start $i from the snapshot: $t s"
done
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$events" '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "start to ready with %d ledger events, from the snapshot: median %.3f s, min %.3f s, max %.3f s over %d starts (goal: 0.5 s)\n", n, m, v[1], v[NR], NR
}'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
