#!/usr/bin/env bash
# One access request for a Chinook customer through the API, from staff intake (verification
# skipped) to the completed export, on the embedded SQLite store: `pledge serve --demo`, then
# ROUNDS (default 30) requests one after the other, each posted and then polled every
# millisecond until it is completed. Prints each wall time and the median; the goal (issue
# "pledge serve") is under 100 ms. Needs curl.
#
#   bench/serve_access.sh            # builds the release binary first
#   PLEDGE_BIN=target/release/pledge bench/serve_access.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PLEDGE_BIN:-}" ]; then cargo build --release -q -p pledge; fi
pledge=${PLEDGE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/pledge}
rounds=${ROUNDS:-30}
log=$(mktemp)
port=$((20000 + RANDOM % 20000))
"$pledge" serve --demo --listen 127.0.0.1:$port >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
url=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
key=$(grep -oE 'pledge_[0-9a-f]{48}' "$log" | head -1)
[ -n "$key" ] || { echo "no admin key in the demo's output" >&2; exit 1; }
ms() { echo $(($(date +%s%N) / 1000)); }
times=()
emails=(luisg@embraer.com.br leonekohler@surfeu.de ftremblay@gmail.com bjorn.hansen@yahoo.no)
for i in $(seq "$rounds"); do
    email=${emails[$((i % ${#emails[@]}))]}
    start=$(ms)
    id=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"kind\":\"access\",\"identities\":{\"email\":\"$email\"},\"verified\":true}" \
        "$url/v1/requests" | grep -oE '"id":"req_[0-9a-f]+"' | cut -d'"' -f4)
    until curl -sf -H "Authorization: Bearer $key" "$url/v1/requests/$id" | grep -q '"state":"completed"'; do
        sleep 0.001
    done
    t=$(($(ms) - start))
    times+=("$t")
    printf 'request %2d: %6.1f ms\n' "$i" "$(awk -v t="$t" 'BEGIN { print t / 1000 }')"
done
printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median %.1f ms, min %.1f ms, max %.1f ms over %d requests (goal: under 100 ms)\n", m / 1000, v[1] / 1000, v[NR] / 1000, NR
}'
