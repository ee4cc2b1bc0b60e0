#!/usr/bin/env bash
# Coverage-guided fuzzing of Pledge's parsers and routes with libFuzzer (cargo-fuzz).
#
#   scripts/fuzz.sh                     every target for 30 minutes each, one after the other
#   scripts/fuzz.sh declaration 600     one target for 600 seconds
#   JOBS=2 scripts/fuzz.sh              the targets two at a time
#
# New inputs that reach new code are added to fuzz/corpus/TARGET/ (minimise with
# `cargo fuzz cmin TARGET` before committing them); a crash is written to
# fuzz/artifacts/TARGET/: once fixed, copy it to fuzz/regressions/TARGET/, where the test
# suite replays it (crates/pledge-fuzz/tests/corpus.rs). The stable toolchain takes
# cargo-fuzz's nightly flags with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=(declaration cron api_body banner_consent)
[ $# -ge 1 ] && targets=("$1")
seconds=${2:-1800}
cargo fuzz build -O
run() {
    local t=$1
    mkdir -p "corpus/$t" "artifacts/$t"
    echo "==> fuzzing $t for ${seconds}s" >&2
    cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 2>&1 | tail -n 30 >"artifacts/$t/last-run.log"
    tail -n 12 "artifacts/$t/last-run.log" >&2
}
jobs=${JOBS:-1}
for t in "${targets[@]}"; do
    run "$t" &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 5; done
done
wait
