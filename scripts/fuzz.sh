#!/usr/bin/env bash
# Coverage-guided fuzzing of Pledge's parsers and routes with libFuzzer (cargo-fuzz).
#
#   scripts/fuzz.sh                     every target for 30 minutes each, one after the other
#   scripts/fuzz.sh declaration 600     one target for 600 seconds
#   JOBS=2 scripts/fuzz.sh              the targets two at a time
#   JOBS=2 nice -n 10 scripts/fuzz.sh   ... behind everyone else's work on a shared machine
#   KEEP_GOING=1 scripts/fuzz.sh        libFuzzer's fork mode: a crash, timeout or OOM is kept
#                                       and the run goes on to its full time
#
# New inputs that reach new code are added to fuzz/corpus/TARGET/ (minimise with
# `cargo fuzz cmin -O TARGET` before committing them); a crash is written to
# fuzz/artifacts/TARGET/: once fixed, copy it to fuzz/regressions/TARGET/, where the test
# suite replays it (crates/pledge-fuzz/tests/corpus.rs). Each run's whole libFuzzer output is
# kept in fuzz/artifacts/TARGET/run.log, its final statistics printed at the end. The stable
# toolchain takes cargo-fuzz's nightly flags with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
# The harness is a workspace of its own: start its lock file from the workspace's, so the
# fuzzed code is built with the same dependency versions the tests use.
[ -f Cargo.lock ] || cp ../Cargo.lock Cargo.lock
targets=(declaration cron api_body banner_consent)
[ $# -ge 1 ] && targets=("$1")
seconds=${2:-1800}
cargo fuzz build -O
run() {
    local t=$1 start rc=0
    mkdir -p "corpus/$t" "artifacts/$t"
    echo "==> fuzzing $t for ${seconds}s (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    start=$(date +%s)
    # Without KEEP_GOING a crash ends the run early with a non-zero status: report it, do not
    # stop the others.
    local more=()
    [ -n "${KEEP_GOING:-}" ] && more=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=4096 -print_final_stats=1 "${more[@]}" >"artifacts/$t/run.log" 2>&1 || rc=$?
    {
        echo "==> $t: exit $rc after $(($(date +%s) - start)) s" \
            "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
        grep -E '^#[0-9]+ +DONE|^stat::|^==[0-9]+==|^SUMMARY|Test unit written|^INFO: exiting' \
            "artifacts/$t/run.log" || true
        # Fork mode's progress lines: the last one has the totals.
        grep -E '^#[0-9]+: cov:' "artifacts/$t/run.log" | tail -n 1 || true
    } | tee "artifacts/$t/summary.txt" >&2
}
jobs=${JOBS:-1}
for t in "${targets[@]}"; do
    run "$t" &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 5; done
done
wait
