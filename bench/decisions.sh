#!/usr/bin/env bash
# The decision API over HTTP with keep-alive, beside a trivial handler of the same server in
# the same run: wrk, 1 thread, CONNECTIONS (16) connections, DURATION (10 s) each, on loopback, after the
# ledger is filled with consent of 100,000 subjects through POST /v1/consent (whose rate is
# printed too). STORE=postgres://... for PostgreSQL, else a SQLite file in a temporary
# directory. PLEDGE_BIN=path uses that binary instead of building one. Needs wrk (apt-get install wrk). Goal: decisions at 70% or more of the trivial
# handler's throughput, p99 under 2 ms.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# PLEDGE_BIN: a prebuilt release binary (the shared target directory may be rebuilt meanwhile).
if [ -z "${PLEDGE_BIN:-}" ]; then cargo build --release -q -p pledge; fi
pledge=${PLEDGE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/pledge}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
store=${STORE:-sqlite:$dir/store.db}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
export KEY=$("$pledge" keys create --role service --store "$store")
port=$((20000 + RANDOM % 20000))
"$pledge" serve bench/decisions/shop.toml --store "$store" --listen 127.0.0.1:$port --workers 0 \
    > "$dir/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port

echo "== filling the ledger: POST /v1/consent, 3 choices each (wrk -t1 -c32 -d$duration)"
wrk -t1 -c32 -d"$duration" -s bench/decisions/record.lua "$url/v1/consent" | tee "$dir/record.txt"
echo "== trivial handler: GET /healthz"
wrk -t1 -c"$connections" -d"$duration" --latency -s bench/decisions/trivial.lua "$url/healthz" | tee "$dir/trivial.txt"
echo "== decisions: POST /v1/decisions"
wrk -t1 -c"$connections" -d"$duration" --latency -s bench/decisions/decide.lua "$url/v1/decisions" | tee "$dir/decide.txt"
rate() { awk '/^Requests\/sec/ {print $2}' "$1"; }
trivial=$(rate "$dir/trivial.txt")
decide=$(rate "$dir/decide.txt")
awk -v d="$decide" -v t="$trivial" 'BEGIN { printf "decisions/s %.0f, trivial/s %.0f: %.0f%% of the trivial handler\n", d, t, 100 * d / t }'
"$pledge" audit verify --store "$store"
