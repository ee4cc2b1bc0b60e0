#!/usr/bin/env bash
# Whole-process timing of `pledge notice` (HTML, Markdown, JSON-LD) and `pledge ropa` (xlsx) on
# a generated declaration of 2,000 purposes (goal: the HTML notice under 200 ms). Needs
# hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p pledge
cargo bench -q -p pledge-docs --bench notice -- --write "$work/generated.toml" >/dev/null
command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
pledge=target/release/pledge
decl="$work/generated.toml"
hyperfine -N --warmup 3 --runs 20 \
  "$pledge notice $decl --format html -o $work/notice.html" \
  "$pledge notice $decl --format md -o $work/notice.md" \
  "$pledge notice $decl --format jsonld -o $work/notice.jsonld" \
  "$pledge ropa $decl --format xlsx --date 2026-01-01 -o $work/record.xlsx"
