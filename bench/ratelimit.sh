#!/usr/bin/env bash
# Public-route throughput under a flood of distinct client addresses, against one client:
# a release `pledge serve --workers 0` on a fresh SQLite store, trusting X-Forwarded-For (as
# behind a proxy), with the code-check limit raised so that no call is refused; then
# ROUNDS (3) rounds of `wrk -t2 -c16` for DURATION (30 s) each on
# POST /public/requests/{unknown}/verify with CLIENTS=one (one address), one64 (a new address
# per request inside one IPv6 /64) and many (a new /64 per request: at this rate some 100,000
# keys a run, more than the limiter's table of 65,536, so it evicts), in turn, so that the
# shared machine's drift falls on all three alike. Prints requests/s, statuses and the
# server's RSS before and after each run, then the median requests/s of each. PLEDGE_BIN=path
# uses that binary instead of building one. Needs wrk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PLEDGE_BIN:-}" ]; then cargo build --release -q -p pledge; fi
pledge=${PLEDGE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/pledge}
duration=${DURATION:-30s}
rounds=${ROUNDS:-3}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port
CHINOOK_DATABASE_URL=sqlite:$dir/unused.db \
PLEDGE_PUBLIC_CLIENT_IP_HEADER=x-forwarded-for \
PLEDGE_PUBLIC_VERIFY_PER_IP=1000000000/1000000000 \
    "$pledge" serve examples/chinook --store "sqlite:$dir/store.db" --listen 127.0.0.1:$port \
    --workers 0 > "$dir/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
rss() { awk '/^VmRSS:/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status"; }
echo "== $(uptime)"
for round in $(seq "$rounds"); do
    for clients in one one64 many; do
        before=$(rss)
        CLIENTS=$clients wrk -t2 -c16 -d"$duration" --latency -s bench/ratelimit/verify.lua "$url" > "$dir/$clients.txt"
        rate=$(awk '/^Requests\/sec/ { print $2 }' "$dir/$clients.txt")
        echo "$clients $rate" >> "$dir/rates.txt"
        printf 'round %d  %-6s %7.0f requests/s  RSS %s -> %s  %s; %s\n' "$round" "$clients" "$rate" \
            "$before" "$(rss)" "$(grep "^$clients statuses" "$dir/$clients.txt" | cut -d' ' -f3-)" \
            "$(grep "^$clients p50" "$dir/$clients.txt" | cut -d' ' -f2-)"
    done
done
echo "== $(uptime)"
for clients in one one64 many; do
    awk -v c="$clients" '$1 == c { print $2 }' "$dir/rates.txt" | sort -n |
        awk -v c="$clients" '{ v[NR] = $1 } END { printf "median %-6s %7.0f requests/s (%d runs)\n", c, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR }'
done
