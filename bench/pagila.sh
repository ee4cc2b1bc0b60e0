#!/usr/bin/env bash
# Whole-process timing of rights requests on Pagila, a real PostgreSQL database whose payments
# are a table partitioned by month (seven partitions, foreign keys declared on each), with the
# declaration in examples/pagila.
#
#   bench/pagila.sh [POSTGRES_URL]
#   scripts/test.sh -- bench/pagila.sh      # a throwaway server, its URL from the environment
#
# The server URL defaults to PLEDGE_TEST_POSTGRES_URL. The script creates a fresh database,
# loads the Pagila fixture into it (psql, one transaction) and drops it at the end.
#
# With hyperfine (-N: no shell; warm-up runs, then timed runs):
#   access   `pledge request access` of customer 1 (32 rentals, 32 payments across the
#            partitions, the customer and the address), export to a temporary zip;
#   dry-run  the erasure of customer 1 through `--dry-run` (planned, run, rolled back);
#   erase    one erasure per run, of a different customer each time (hyperfine's --prepare
#            step, not timed, writes the next customer's e-mail to the identities file the timed
#            command reads). Every payment (2022) is under the six-year bookkeeping hold until
#            2028, so each run keeps the customer's payments and rentals and masks the customer
#            row. Afterwards the script checks that exactly one customer per run was erased and
#            that no payment or rental went.
#   client   for comparison, psql connecting and running SELECT 1.
# Prints a table of medians; hyperfine's JSON is kept in $PLEDGE_BENCH_OUT if set.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || {
    echo "hyperfine is missing; installing it (apt-get install -y hyperfine)" >&2
    apt-get install -y hyperfine >/dev/null || { apt-get update >/dev/null && apt-get install -y hyperfine >/dev/null; }
}
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }

pg_server=${1:-${PLEDGE_TEST_POSTGRES_URL:-}}
[ -n "$pg_server" ] || { echo "a PostgreSQL URL is needed (argument or PLEDGE_TEST_POSTGRES_URL)" >&2; exit 2; }
warmup=${PLEDGE_BENCH_WARMUP:-5}
runs=${PLEDGE_BENCH_RUNS:-50}
erase_runs=${PLEDGE_BENCH_ERASE_RUNS:-40} # + 3 warm-up erasures: at most 599 customers
[ "$erase_runs" -le 590 ] || { echo "PLEDGE_BENCH_ERASE_RUNS: at most 590 (599 customers)" >&2; exit 2; }
fixtures=crates/pledge-connect/tests/fixtures/pagila
declaration=examples/pagila

cargo build --release -q -p pledge
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/pledge
work=$(mktemp -d)
db=pledge_bench_pagila_$$_$RANDOM
pg_url=""
cleanup() {
    set +e
    [ -z "$pg_url" ] || psql "$pg_server" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
out=${PLEDGE_BENCH_OUT:-$work}
mkdir -p "$out"

# The server URL with its database replaced by $db (the query string, if any, is kept).
url=$pg_server query=""
if [[ "$url" == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
psql "$pg_server" -XAtqc "CREATE DATABASE $db"
pg_url="${url%/*}/$db$query"
start=$(date +%s%N)
psql "$pg_url" -Xq -v ON_ERROR_STOP=1 -1 -f "$fixtures/pagila-schema.sql" -f "$fixtures/pagila-data.sql" >/dev/null
psql "$pg_url" -XAtqc "VACUUM ANALYZE" >/dev/null
echo "Pagila loaded in $(( ($(date +%s%N) - start) / 1000000 )) ms"
sql() { psql "$pg_url" -XAtqc "$1"; }

export PAGILA_DATABASE_URL=$pg_url
export PLEDGE_HMAC_KEY=benchmark-key-0123456789abcdef
sql "SELECT email FROM customer ORDER BY customer_id" >"$work/customers"
one=$(head -n1 "$work/customers")
payments=$(sql "SELECT count(*) FROM payment")
rentals=$(sql "SELECT count(*) FROM rental")
cat >"$work/next" <<NEXT
#!/usr/bin/env bash
n=\$(( \$(cat "$work/counter" 2>/dev/null || echo 0) + 1 ))
echo "\$n" >"$work/counter"
echo "email=\$(sed -n "\${n}p" "$work/customers")" >"$work/identity"
NEXT
chmod +x "$work/next"

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/client.json" \
    -n "client SELECT 1" "psql $pg_url -XAtqc 'SELECT 1'"
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/access.json" \
    -n "access" "$bin request access $declaration -i email=$one -o $work/access.zip"
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/dry-run.json" \
    -n "erase --dry-run" "$bin request erase $declaration -i email=$one --dry-run"
rm -f "$work/counter"
hyperfine -N --warmup 3 --runs "$erase_runs" --export-json "$out/erase.json" \
    --prepare "$work/next" -n "erase" "$bin request erase $declaration --identities $work/identity"
prepared=$(cat "$work/counter")
erased=$(sql "SELECT count(*) FROM customer WHERE first_name = 'erased'")
echo "$prepared erasure runs, $erased customers erased, payments $payments -> $(sql "SELECT count(*) FROM payment"), rentals $rentals -> $(sql "SELECT count(*) FROM rental")"
[ "$erased" -eq "$prepared" ] && [ "$(sql "SELECT count(*) FROM payment")" -eq "$payments" ] &&
    [ "$(sql "SELECT count(*) FROM rental")" -eq "$rentals" ] ||
    { echo "each erasure run did not erase exactly one new customer, or a held row went" >&2; exit 1; }

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo "| request | median | mean ± σ | min | CPU of the process (user + sys, mean) | runs |"
echo "|---|---|---|---|---|---|"
for what in client access dry-run erase; do
    jq -r --arg w "$what" 'def ms: . * 1000 * 10 | round / 10; .results[0] |
        "| \($w) | \(.median | ms) ms | \(.mean | ms) ± \(.stddev | ms) ms | \(.min | ms) ms | \(.user + .system | ms) ms | \(.times | length) |"' \
        "$out/$what.json"
done
