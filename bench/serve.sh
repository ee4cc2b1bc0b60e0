#!/usr/bin/env bash
# Intake throughput of `pledge serve` on loopback: wrk, 10 seconds, 2 threads, 16 connections,
# against a fresh store. STORE=postgres://... to use PostgreSQL (a fresh database there),
# else a SQLite file in a temporary directory. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p pledge
pledge=${CARGO_TARGET_DIR:-$PWD/target}/release/pledge
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
store=${STORE:-sqlite:$dir/store.db}
export KEY=$("$pledge" keys create --role admin --store "$store")
port=$((20000 + RANDOM % 20000))
CHINOOK_DATABASE_URL=sqlite:$dir/unused.db "$pledge" serve examples/chinook --store "$store" \
    --listen 127.0.0.1:$port --workers 0 > "$dir/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
wrk -t2 -c16 -d${DURATION:-10s} -s bench/serve/intake.lua "http://127.0.0.1:$port/v1/requests"
curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$port/metrics" | grep -E '^pledge_(http_responses_total|requests_created_total)'
