#!/usr/bin/env bash
# Every benchmark of docs/BENCHMARKS.md in one run, and one JSON summary of every figure with
# its goal, whether it is met, and the ratio it is judged by.
#
#   scripts/test.sh -- bench/all.sh             # throwaway PostgreSQL and MariaDB, URLs from the environment
#   ONLY="serve_chinook start" scripts/test.sh -- bench/all.sh
#   LONG=1 ...                                  # also the soak (10 min) and the crash test (20 min)
#   PLEDGE_PRESIDIO_DIR=DIR ...                 # also detection against Presidio (bench/scan.sh)
#   FIDES_PEER=DIR ...                          # also Fides on the same Chinook, side by side
#                                               # (DIR: a checkout of the Fides peer, with
#                                               # setup.sh and run.sh; see its README)
#
# Writes bench/results/<UTC time>/: one .log per benchmark and summary.json (also printed as a
# table by bench/summary.py). Each benchmark runs on its own; a failing one is recorded as
# failed and the others go on; the exit code is 1 if any failed. The load average is recorded
# before and after each.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
# The load generators and timers the benchmarks use, from Debian's packages.
missing=()
for tool in wrk hyperfine jq sqlite3 bc curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (apt-get)" >&2
    apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; } ||
        { echo "cannot install ${missing[*]}" >&2; exit 1; }
fi
echo "building the release binary and the benchmarks (cargo build --release)" >&2
cargo build --release -q -p pledge || exit 1
export PLEDGE_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/pledge

# name: command (run with bash -c). The order puts the quick ones first.
declare -A commands=(
    [check]="bench/check.sh"
    [notice]="bench/notice.sh"
    [serve_intake]="bench/serve.sh"
    [serve_access_demo]="bench/serve_access.sh"
    [serve_chinook]="PLEDGE_BENCH_JSON=$out/serve_chinook.json bench/serve_chinook.sh"
    [requests_cli]="PLEDGE_BENCH_OUT=$out/requests bench/requests.sh"
    [decisions]="bench/decisions.sh"
    [start]="bench/start.sh"
    [console]="bench/console.sh"
    [retain]="bench/retain.sh"
    [scale]="bench/scale.sh"
    [soak]="bench/soak.sh"
    [crash]="bench/crash.sh"
    [scan]="bench/scan.sh"
)
order=(check notice serve_intake serve_access_demo serve_chinook requests_cli decisions start console retain scale)
if [ -n "${LONG:-}" ]; then order+=(soak crash); fi
# Detection against Presidio needs the peer's corpora and environment (docs/scan.md).
if [ -n "${PLEDGE_PRESIDIO_DIR:-}" ]; then order+=(scan); fi
if [ -n "${ONLY:-}" ]; then read -r -a order <<<"$ONLY"; fi

failed=0
: >"$out/runs.jsonl"
for name in "${order[@]}"; do
    cmd=${commands[$name]:-}
    [ -n "$cmd" ] || { echo "no benchmark named $name" >&2; failed=1; continue; }
    before=$(cut -d' ' -f1-3 /proc/loadavg)
    start=$(date +%s)
    echo "== $name: $cmd (load average $before)" >&2
    bash -c "$cmd" >"$out/$name.log" 2>&1
    rc=$?
    after=$(cut -d' ' -f1-3 /proc/loadavg)
    [ $rc -eq 0 ] || { failed=1; echo "   $name failed (exit $rc): see $out/$name.log" >&2; }
    printf '{"name": "%s", "exit": %d, "seconds": %d, "load_before": "%s", "load_after": "%s"}\n' \
        "$name" "$rc" $(($(date +%s) - start)) "$before" "$after" >>"$out/runs.jsonl"
done

if [ -n "${FIDES_PEER:-}" ]; then
    before=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "== fides: $FIDES_PEER/setup.sh, then run.sh --k 10 --warmup 1 (load average $before)" >&2
    (cd "$FIDES_PEER" && ./setup.sh && ./run.sh --k 10 --warmup 1) >"$out/fides.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || { failed=1; echo "   fides failed (exit $rc): see $out/fides.log" >&2; }
    printf '{"name": "fides", "exit": %d, "seconds": 0, "load_before": "%s", "load_after": "%s"}\n' \
        "$rc" "$before" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/runs.jsonl"
fi

python3 bench/summary.py "$out" | tee "$out/summary.txt"
echo "results in $out (summary.json)" >&2
exit $failed
