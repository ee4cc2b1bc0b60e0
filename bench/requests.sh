#!/usr/bin/env bash
# Whole-process timing of one rights request for one Chinook customer (goal:
# one access request under 30 ms, one erasure under 60 ms, as a CLI process against
# PostgreSQL), with SQLite and MariaDB for reference.
#
#   bench/requests.sh [POSTGRES_URL [MYSQL_URL]]
#   scripts/test.sh -- bench/requests.sh      # throwaway servers, URLs from the environment
#
# The server URLs default to PLEDGE_TEST_POSTGRES_URL and PLEDGE_TEST_MYSQL_URL; an engine
# without a URL is skipped (SQLite always runs, in a temporary file). In each server the script
# creates a fresh database, loads the Chinook fixtures into it and drops it at the end.
#
# For each engine, with hyperfine (-N: no shell; warm-up runs, then timed runs):
#   access   `pledge request access` of customer 1 (7 invoices, 38 invoice lines), export to
#            a temporary zip;
#   dry-run  the erasure of customer 1 through `--dry-run` (planned, run, rolled back);
#   erase    one erasure per run, of a different customer each time: hyperfine's --prepare
#            step (not timed) writes the next customer's e-mail to the identities file the
#            timed command reads, so every run erases someone not erased yet, as a real request
#            would. Chinook's first 58 customers have 7 invoices each, dated 2021-2025, so
#            (until 2027, when the first leave the six-year bookkeeping hold) each run does the
#            same work: 7 invoices pseudonymised (HMAC of the billing address, city and postal
#            code), the customer row masked. Afterwards the script checks that exactly one
#            customer per run was erased and their invoices pseudonymised.
#   client   for comparison, the engine's own command-line client (psql, mariadb, sqlite3)
#            connecting and running SELECT 1: the floor of any process that talks to the
#            database.
# Prints a table of medians; hyperfine's JSON is kept in $PLEDGE_BENCH_OUT if set.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || {
    echo "hyperfine is missing; installing it (apt-get install -y hyperfine)" >&2
    apt-get install -y hyperfine >/dev/null || { apt-get update >/dev/null && apt-get install -y hyperfine >/dev/null; }
}
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed (apt-get install sqlite3)" >&2; exit 1; }

pg_server=${1:-${PLEDGE_TEST_POSTGRES_URL:-}}
my_server=${2:-${PLEDGE_TEST_MYSQL_URL:-}}
warmup=${PLEDGE_BENCH_WARMUP:-5}
runs=${PLEDGE_BENCH_RUNS:-50}
erase_runs=${PLEDGE_BENCH_ERASE_RUNS:-40} # + 3 warm-up erasures: at most 59 customers
[ "$erase_runs" -le 56 ] || { echo "PLEDGE_BENCH_ERASE_RUNS: at most 56 (59 customers)" >&2; exit 2; }
fixtures=crates/pledge-connect/tests/fixtures/chinook
declaration=examples/chinook

cargo build --release -q -p pledge
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/pledge
work=$(mktemp -d)
db=pledge_bench_$$_$RANDOM
pg_url=""
my_args=()
cleanup() {
    set +e
    [ -z "$pg_url" ] || psql "$pg_server" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    [ ${#my_args[@]} -eq 0 ] || mariadb "${my_args[@]}" -e "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
out=${PLEDGE_BENCH_OUT:-$work}
mkdir -p "$out"

# A URL with its database replaced by $db (the query string, if any, is kept).
with_db() { # url
    local url=$1 query=""
    if [[ "$url" == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
    echo "${url%/*}/$db$query"
}

# The clients' sql for each engine: sql ENGINE QUERY prints the first column of each row.
sql() { # engine query
    case $1 in
    postgres) psql "$pg_url" -XAtqc "$2" ;;
    mariadb) mariadb "${my_args[@]}" --database="$db" -Nse "$2" ;;
    sqlite) sqlite3 "$work/chinook.sqlite" "$2" ;;
    esac
}

export PLEDGE_HMAC_KEY=benchmark-key-0123456789abcdef
engines=(sqlite)
# SQLite: a file, the script in one transaction, foreign keys on.
{ echo 'PRAGMA foreign_keys = ON; BEGIN;'; cat "$fixtures/chinook_sqlite.sql"; echo 'COMMIT;'; } |
    sqlite3 "$work/chinook.sqlite"
declare -A urls=([sqlite]="sqlite:$work/chinook.sqlite")

if [ -n "$pg_server" ]; then
    psql "$pg_server" -XAtqc "CREATE DATABASE $db"
    pg_url=$(with_db "$pg_server")
    psql "$pg_url" -Xq -v ON_ERROR_STOP=1 -1 -f "$fixtures/chinook_postgres.sql" >/dev/null
    psql "$pg_url" -XAtqc "VACUUM ANALYZE" >/dev/null
    urls[postgres]=$pg_url
    engines=(postgres "${engines[@]}")
else
    echo "no PostgreSQL URL (argument or PLEDGE_TEST_POSTGRES_URL): skipping PostgreSQL" >&2
fi
if [ -n "$my_server" ]; then
    re='^(mysql|mariadb)://([^:@/]+)(:([^@]*))?@([^:/?]+)(:([0-9]+))?'
    [[ "$my_server" =~ $re ]] || { echo "cannot read the MariaDB URL" >&2; exit 2; }
    my_args=(--no-defaults --protocol=TCP --host="${BASH_REMATCH[5]}" --port="${BASH_REMATCH[7]:-3306}"
        --user="${BASH_REMATCH[2]}" --password="${BASH_REMATCH[4]}")
    mariadb "${my_args[@]}" -e "CREATE DATABASE $db CHARACTER SET utf8mb4"
    mariadb "${my_args[@]}" --database="$db" <"$fixtures/chinook_mysql.sql"
    mariadb "${my_args[@]}" --database="$db" -Nse "ANALYZE TABLE customer, employee, invoice, invoice_line" >/dev/null
    urls[mariadb]=$(with_db "$my_server")
    engines+=(mariadb)
else
    echo "no MariaDB URL (argument or PLEDGE_TEST_MYSQL_URL): skipping MariaDB" >&2
fi

# The customers, in key order; customer 1 is the one of the access and dry-run benchmarks.
sql sqlite "SELECT email FROM customer ORDER BY customer_id" >"$work/customers"
one=$(head -n1 "$work/customers")
# The --prepare step of the erasure benchmark: the next customer into the identities file.
cat >"$work/next" <<EOF
#!/usr/bin/env bash
n=\$(( \$(cat "$work/counter" 2>/dev/null || echo 0) + 1 ))
echo "\$n" >"$work/counter"
echo "email=\$(sed -n "\${n}p" "$work/customers")" >"$work/identity"
EOF
chmod +x "$work/next"

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for engine in "${engines[@]}"; do
    export CHINOOK_DATABASE_URL=${urls[$engine]}
    echo "== $engine"
    hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/$engine-access.json" \
        -n "$engine access" "$bin request access $declaration -i email=$one -o $work/access.zip"
    hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/$engine-dry-run.json" \
        -n "$engine erase --dry-run" "$bin request erase $declaration -i email=$one --dry-run"
    # The floor: the engine's own command-line client connecting and running one query.
    case $engine in
    postgres) floor=(psql "$pg_url" -XAtqc "SELECT 1") ;;
    mariadb) floor=(mariadb "${my_args[@]}" --database="$db" -Nse "SELECT 1") ;;
    sqlite) floor=(sqlite3 "$work/chinook.sqlite" "SELECT 1") ;;
    esac
    hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/$engine-client.json" \
        -n "$engine client SELECT 1" "$(printf '%q ' "${floor[@]}")"
    rm -f "$work/counter"
    hyperfine -N --warmup 3 --runs "$erase_runs" --export-json "$out/$engine-erase.json" \
        --prepare "$work/next" -n "$engine erase" "$bin request erase $declaration --identities $work/identity"
    prepared=$(cat "$work/counter")
    erased=$(sql "$engine" "SELECT COUNT(*) FROM customer WHERE first_name = 'erased'")
    held=$(sql "$engine" "SELECT COUNT(*) FROM invoice WHERE billing_address LIKE 'h:%'")
    theirs=$(sql "$engine" "SELECT COUNT(*) FROM invoice JOIN customer USING (customer_id) WHERE first_name = 'erased'")
    echo "$engine: $prepared erasure runs, $erased customers erased, $held invoices pseudonymised"
    [ "$erased" -eq "$prepared" ] && [ "$held" -eq "$theirs" ] ||
        { echo "$engine: each erasure run did not erase exactly one new customer" >&2; exit 1; }
done

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo "| engine | request | median | mean ± σ | min | CPU of the process (user + sys, mean) | runs |"
echo "|---|---|---|---|---|---|---|"
for engine in "${engines[@]}"; do
    for what in client access dry-run erase; do
        jq -r --arg e "$engine" --arg w "$what" 'def ms: . * 1000 * 10 | round / 10; .results[0] |
            "| \($e) | \($w) | \(.median | ms) ms | \(.mean | ms) ± \(.stddev | ms) ms | \(.min | ms) ms | \(.user + .system | ms) ms | \(.times | length) |"' \
            "$out/$engine-$what.json"
    done
done
