#!/usr/bin/env bash
# The soak test: a release `pledge serve` (one worker, so the mailer and the workers run) on
# loopback under SOAK_SECONDS (default 600) of mixed load, five wrk streams at once (see
# bench/soak/load.lua): decisions, consent writes, staff intake, access requests the worker
# runs to an export, and public intake. Checks, and exits non-zero unless both hold:
#
#   - no 5xx: the server's own count (`pledge_http_responses_total{class="5xx"}` of /metrics)
#     is 0 and no wrk stream saw one;
#   - memory flat after warm-up: the server's RSS (VmRSS of /proc/PID/status, every
#     SOAK_SAMPLE seconds) over the second half of the run never exceeds the RSS at the end of
#     the warm-up (SOAK_WARMUP seconds, default 120, or a fifth of a shorter run) by more than
#     SOAK_RSS_TOLERANCE percent (default 10), and its least-squares slope over that half is
#     under SOAK_SLOPE_LIMIT MiB a minute (default 1). Runs shorter than 300 s print this
#     verdict without failing on it: the RSS is still warming up for the first 2-3 minutes
#     (SQLite's page caches, allocator arenas), so a short run shows only that the script works.
#
# Prints the rates achieved, the status counts, the RSS series (MiB) and `uptime` before and
# after. Rates (requests/s, each stream paced by connections and a per-connection delay):
# RATE_DECISIONS (4000), RATE_CONSENT (200), RATE_INTAKE (200), RATE_ACCESS (10),
# RATE_PUBLIC (20). STORE=postgres://... for a PostgreSQL store (a fresh database: its URL
# ends in the database's name), else a SQLite file in a temporary directory; under
# scripts/test.sh (PLEDGE_TEST_POSTGRES_URL set) SOAK_POSTGRES=1 makes that database itself.
# PLEDGE_BIN=path uses that binary instead of building one. Needs wrk and sqlite3.
#
#   bench/soak.sh                                   # 10 minutes on SQLite
#   SOAK_SECONDS=60 bench/soak.sh                   # a short run
#   SOAK_POSTGRES=1 scripts/test.sh -- bench/soak.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PLEDGE_BIN:-}" ]; then cargo build --release -q -p pledge; fi
pledge=${PLEDGE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/pledge}
seconds=${SOAK_SECONDS:-600}
warmup=${SOAK_WARMUP:-$((seconds >= 600 ? 120 : seconds / 5))}
sample=${SOAK_SAMPLE:-5}
tolerance=${SOAK_RSS_TOLERANCE:-10}
slope_limit=${SOAK_SLOPE_LIMIT:-1}
dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

if [ "${SOAK_POSTGRES:-}" = 1 ]; then
    : "${PLEDGE_TEST_POSTGRES_URL:?SOAK_POSTGRES=1 needs scripts/test.sh}"
    psql "$PLEDGE_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS soak WITH (FORCE)" -c "CREATE DATABASE soak"
    STORE=${PLEDGE_TEST_POSTGRES_URL%/*}/soak
fi
store=${STORE:-sqlite:$dir/store.db}
sqlite3 "$dir/chinook.db" < crates/pledge-connect/tests/fixtures/chinook/chinook_sqlite.sql
emails=$(sqlite3 "$dir/chinook.db" "SELECT group_concat(email, ',') FROM (SELECT email FROM customer ORDER BY customer_id LIMIT 40)")
admin=$("$pledge" keys create --role admin --store "$store")
service=$("$pledge" keys create --role service --store "$store")
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port
CHINOOK_DATABASE_URL=sqlite:$dir/chinook.db \
PLEDGE_EXPORT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
PLEDGE_HMAC_KEY=soak-test-hmac-key-0123 \
PLEDGE_PUBLIC_CLIENT_IP_HEADER=x-forwarded-for \
PLEDGE_PUBLIC_INTAKE_PER_IP=100000/1000000 PLEDGE_PUBLIC_INTAKE_PER_EMAIL=100000/1000000 \
PLEDGE_LOG=warn \
    "$pledge" serve examples/chinook --store "$store" --listen 127.0.0.1:$port --workers 1 \
    > "$dir/serve.out" 2> "$dir/serve.log" &
server=$!
pids+=("$server")
for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$url/readyz" >/dev/null || { echo "the server did not start:" >&2; cat "$dir/serve.log" >&2; exit 1; }

responses() {
    curl -sf -H "Authorization: Bearer $admin" "$url/metrics" |
        awk -v c="$1" '$1 == "pledge_http_responses_total{class=\"" c "\"}" { print $2; found = 1 } END { if (!found) print 0 }'
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$server/status"; }

echo "== before: $(uptime)"
echo "== $seconds s of load on $url (store ${store%%:*}), warm-up $warmup s"
# A stream: kind, rate, connections. The delay gives each connection rate/connections a second.
stream() {
    local kind=$1 rate=$2 connections=$3
    [ "$rate" -gt 0 ] || return 0
    local delay=$((connections * 1000 / rate))
    SOAK_KIND=$kind SOAK_DELAY_MS=$delay SOAK_EMAILS=$emails \
    KEY=$([ "$kind" = decide ] || [ "$kind" = consent ] && echo "$service" || echo "$admin") \
        wrk -t1 -c"$connections" -d"${seconds}s" --timeout 10s --latency -s bench/soak/load.lua \
        "$url" > "$dir/$kind.txt" 2>&1 &
    pids+=("$!")
    echo "   $kind: $rate/s asked ($connections connections, $delay ms between a response and the next request)"
}
stream decide "${RATE_DECISIONS:-4000}" 80
stream consent "${RATE_CONSENT:-200}" 20
stream intake "${RATE_INTAKE:-200}" 20
stream access "${RATE_ACCESS:-10}" 2
stream public "${RATE_PUBLIC:-20}" 2

start=$(date +%s)
: > "$dir/rss.txt"
while [ $(($(date +%s) - start)) -lt "$seconds" ]; do
    if ! kill -0 "$server" 2>/dev/null; then echo "the server died" >&2; cat "$dir/serve.log" >&2; exit 1; fi
    echo "$(($(date +%s) - start)) $(rss_kb)" >> "$dir/rss.txt"
    sleep "$sample"
done
echo "$(($(date +%s) - start)) $(rss_kb)" >> "$dir/rss.txt"
for p in "${pids[@]:1}"; do wait "$p" || echo "a wrk stream failed (status $?)"; done
echo "== after: $(uptime)"

echo "== streams (requests/s achieved, statuses)"
bad_stream=0
for kind in decide consent intake access public; do
    [ -f "$dir/$kind.txt" ] || continue
    if ! grep -q "^$kind statuses" "$dir/$kind.txt"; then
        echo "   $kind: no result:"; sed 's/^/      /' "$dir/$kind.txt"; bad_stream=1; continue
    fi
    rate=$(awk '/^Requests\/sec/ { print $2 }' "$dir/$kind.txt")
    statuses=$(grep "^$kind statuses" "$dir/$kind.txt" | cut -d' ' -f3-)
    latency=$(grep "^$kind p50" "$dir/$kind.txt" | cut -d' ' -f2-)
    printf '   %-8s %8.1f/s  %s; %s\n' "$kind" "$rate" "$statuses" "$latency"
    if grep -qE '(^| )5[0-9][0-9]=' <<< "$statuses"; then bad_stream=1; fi
done
five=$(responses 5xx)
echo "== the server's 5xx count: $five (2xx $(responses 2xx), 4xx $(responses 4xx))"
echo "== requests by state: $(curl -sf -H "Authorization: Bearer $admin" "$url/metrics" |
    awk -F'[{}" ]+' '/^pledge_requests\{/ && $4 > 0 { printf "%s=%s ", $3, $4 }')"
"$pledge" audit verify --store "$store" | tail -2 || true

echo "== RSS (MiB) every $sample s:"
awk '{ printf "%s%.1f", (NR > 1 ? " " : "   "), $2 / 1024 } END { print "" }' "$dir/rss.txt"
verdict=$(awk -v warm="$warmup" -v total="$seconds" -v tol="$tolerance" -v lim="$slope_limit" '
    { t[NR] = $1; r[NR] = $2 / 1024 }
    END {
        # The reference: the sample nearest the end of the warm-up.
        best = -1
        for (i = 1; i <= NR; i++) if (best < 0 || (t[i] - warm) ^ 2 < (t[best] - warm) ^ 2) best = i
        ref = r[best]; half = total / 2; n = 0; sx = sy = sxx = sxy = 0; max = 0
        for (i = 1; i <= NR; i++) if (t[i] >= half) {
            n++; x = t[i] / 60; sx += x; sy += r[i]; sxx += x * x; sxy += x * r[i]
            if (r[i] > max) max = r[i]
        }
        slope = (n > 1 && n * sxx - sx * sx > 0) ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0
        ok = (max <= ref * (1 + tol / 100) && slope < lim) ? "flat" : "NOT flat"
        printf "%s: %.1f MiB at %d s (end of warm-up); second half (from %d s): max %.1f MiB (%+.1f%%), slope %+.2f MiB/min (limits +%d%%, %s MiB/min)\n",
            ok, ref, t[best], half, max, 100 * (max - ref) / ref, slope, tol, lim
    }' "$dir/rss.txt")
echo "== memory: $verdict"
# The log's lines start with their time; the messages to people (no SMTP here) are printed
# whole beside them.
warnings=$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$dir/serve.log" || true)
echo "== the server's log: $warnings warnings and errors; messages printed for people: $(grep -c '^-- end of mail' "$dir/serve.log" || true)"
grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$dir/serve.log" | cut -c1-200 | sort -k3 | uniq -c -f2 | sort -rn | head -5 || true
fail=0
if [ "$five" != 0 ] || [ "$bad_stream" != 0 ]; then echo "FAIL: 5xx responses"; fail=1; fi
case $verdict in
    flat*) ;;
    *) if [ "$seconds" -ge 300 ]; then echo "FAIL: memory not flat"; fail=1
       else echo "(memory not judged: a run under 300 s is all warm-up)"; fi ;;
esac
[ "$fail" = 0 ] && echo "PASS"
exit "$fail"
