#!/usr/bin/env bash
# One access request and one erasure through `pledge serve`, Chinook on PostgreSQL, from the
# POST to the completed state (issue "Performance at the limit"), beside the floor: the same
# request's statements written by hand, run by pgbench on one warm connection in one
# transaction, in the same run.
#
#   scripts/test.sh -- bench/serve_chinook.sh        # throwaway servers, URL from the environment
#   bench/serve_chinook.sh POSTGRES_URL              # a superuser URL of a PostgreSQL
#
# Environment: ROUNDS (default 20 timed requests of each kind and way of reading; with the
# warm-up, at most 29, one customer each), WARMUP (3), STORE (the server's own store; default a SQLite file, the embedded
# default; postgres://... for a database there), PLEDGE_BIN (default: build the release
# binary), PLEDGE_BENCH_JSON (a file to append the results to, one JSON line).
#
# What is timed: bench/serve_chinook.py posts each request as staff (verified, no approval)
# on one keep-alive connection, then reads it until it is completed, in two ways, each its
# own series: `GET /v1/requests/{id}?wait=10` (the server answers once the request is no
# longer in progress: the API's way to wait), and a plain GET every millisecond (what a
# client without `wait` does; each read of a request with identities is itself audited).
# Each request is for a different customer: an erasure per customer, as a real one would be.
# Every customer of the first 58 has 7 invoices, so each request does the same work. The
# worker's own time (claim to result, the `microseconds` of the result) is printed beside it.
#
# The floor (bench/serve_chinook/*.sql, pgbench -n -t N -c 1 on a warm connection, each
# transaction one request for a random customer of the 58): access reads the customer, its
# invoices and their lines, and the support rep; erasure masks the customer, pseudonymises
# its invoices' billing addresses with a SHA-256 hex digest (PostgreSQL's sha256()), and
# commits. pgbench's "latency average" is the figure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
server=${1:-${PLEDGE_TEST_POSTGRES_URL:?a PostgreSQL URL: argument or PLEDGE_TEST_POSTGRES_URL}}
rounds=${ROUNDS:-20}
warmup=${WARMUP:-3}
[ $((2 * (rounds + warmup))) -le 58 ] || { echo "2 x (ROUNDS + WARMUP): at most 58 customers" >&2; exit 2; }
if [ -z "${PLEDGE_BIN:-}" ]; then
    echo "building the release binary (cargo build --release -p pledge)" >&2
    cargo build --release -q -p pledge
fi
pledge=${PLEDGE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/pledge}
pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)
[ -x "$pgbench" ] || { echo "pgbench is needed (Debian: postgresql-client or postgresql)" >&2; exit 1; }
fixtures=crates/pledge-connect/tests/fixtures/chinook
dir=$(mktemp -d)
db=pledge_serve_$$_$RANDOM
pid=""
cleanup() {
    set +e
    [ -z "$pid" ] || kill "$pid" 2>/dev/null
    [ -z "$pid" ] || wait "$pid" 2>/dev/null
    for d in "$db" "${db}_store" "${db}_template"; do
        psql "$server" -XAtqc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
    rm -rf "$dir"
}
trap cleanup EXIT
with_db() { # url db
    local url=$1 query=""
    if [[ "$url" == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
    echo "${url%/*}/$2$query"
}

# Chinook, loaded once into a template; each phase starts from a fresh copy.
psql "$server" -XAtqc "CREATE DATABASE ${db}_template"
psql "$(with_db "$server" "${db}_template")" -Xq -v ON_ERROR_STOP=1 -1 -f "$fixtures/chinook_postgres.sql" >/dev/null
psql "$(with_db "$server" "${db}_template")" -XAtqc "VACUUM ANALYZE" >/dev/null
app=$(with_db "$server" "$db")
fresh() {
    psql "$server" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    psql "$server" -XAtqc "CREATE DATABASE $db TEMPLATE ${db}_template" >/dev/null
    psql "$app" -XAtqc "VACUUM ANALYZE" >/dev/null
}
fresh
psql "$app" -XAtqc "SELECT email FROM customer ORDER BY customer_id LIMIT 58" >"$dir/emails"

export PLEDGE_HMAC_KEY=benchmark-key-0123456789abcdef
PLEDGE_EXPORT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PLEDGE_EXPORT_KEY CHINOOK_DATABASE_URL=$app
start_server() {
    if [ -n "${STORE:-}" ]; then
        psql "$server" -XAtqc "DROP DATABASE IF EXISTS ${db}_store WITH (FORCE)" >/dev/null
        psql "$server" -XAtqc "CREATE DATABASE ${db}_store" >/dev/null
        store=$(with_db "$STORE" "${db}_store")
    else
        rm -f "$dir"/store.db*
        store=sqlite:$dir/store.db
    fi
    key=$("$pledge" keys create --role admin --store "$store")
    port=$((20000 + RANDOM % 20000))
    "$pledge" serve examples/chinook --store "$store" --listen 127.0.0.1:$port >"$dir/serve.log" 2>&1 &
    pid=$!
    url=http://127.0.0.1:$port
    for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && return; sleep 0.1; done
    echo "the server did not become ready:" >&2
    cat "$dir/serve.log" >&2
    exit 1
}
stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
results=()
for kind in access erasure; do
    fresh
    start_server
    skip=0
    for read in wait 1; do
        echo "== $kind through pledge serve (store ${STORE:-sqlite file}), read: $read"
        if [ "$read" = wait ]; then unset POLL_MS; else export POLL_MS=$read; fi
        python3 bench/serve_chinook.py "$url" "$key" "$kind" "$dir/emails" "$rounds" "$warmup" "$skip" |
            tee "$dir/$kind-$read.out" | grep SUMMARY
        results+=("$(grep SUMMARY "$dir/$kind-$read.out" | cut -d' ' -f2-)")
        skip=$((skip + rounds + warmup))
    done
    unset POLL_MS
    stop_server
done
if [ "$(psql "$app" -XAtqc "SELECT COUNT(*) FROM customer WHERE first_name = 'erased'")" -ne $((2 * (rounds + warmup))) ]; then
    echo "the erasures did not erase one customer each" >&2
    exit 1
fi

fresh
floor=()
for kind in access erasure; do
    out=$("$pgbench" -n -c 1 -j 1 -t $((rounds * 8)) -f "bench/serve_chinook/$kind.sql" "$app" 2>&1)
    lat=$(awk '/latency average/ { print $4 }' <<<"$out")
    [ -n "$lat" ] || { echo "pgbench failed: $out" >&2; exit 1; }
    floor+=("$lat")
    echo "== $kind floor (pgbench, one warm connection, one transaction per request): $lat ms"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| request | read | through pledge serve (median) | min | POST (median) | job (median) | floor | ratio to floor |"
echo "|---|---|---|---|---|---|---|---|"
for r in "${results[@]}"; do
    python3 - "$r" "${floor[0]}" "${floor[1]}" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
floor = float(sys.argv[2] if r["kind"] == "access" else sys.argv[3])
print(f"| {r['kind']} | {r['read']} | {r['median_ms']} ms | {r['min_ms']} ms | {r['post_median_ms']} ms | {r['job_median_ms']} ms | {floor:.2f} ms | {r['median_ms'] / floor:.1f}x |")
EOF
done
if [ -n "${PLEDGE_BENCH_JSON:-}" ]; then
    printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
floors = {"access": float(sys.argv[1]), "erasure": float(sys.argv[2])}
rows = [json.loads(l) for l in sys.stdin if l.strip()]
for r in rows:
    r["floor_ms"] = floors[r["kind"]]
print(json.dumps({"bench": "serve_chinook", "load": open("/proc/loadavg").read().split()[:3], "results": rows}))' "${floor[0]}" "${floor[1]}" >>"$PLEDGE_BENCH_JSON"
fi
