#!/usr/bin/env bash
# Whole-process timing of `pledge check` on a generated declaration of 2,000 purposes and
# 200 datasets (goal: under 100 ms). Needs hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p pledge
cargo bench -q -p pledge-law --bench check -- --write "$work/generated.toml" >/dev/null
command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
# Exit code 1 (findings) is expected; -i keeps hyperfine from treating it as a failure.
hyperfine -N -i --warmup 3 --runs 30 "target/release/pledge check $work/generated.toml --format json"
