#!/usr/bin/env bash
# Erasure and export of a batch of people at scale, Pledge against hand-written SQL that
# touches the same rows (goal: at least 1,000 people/s, within 1.5x of the
# hand-written SQL), on PostgreSQL with the scale data set of bench/scale/.
#
#   bench/scale.sh [POSTGRES_URL]
#   scripts/test.sh -- bench/scale.sh      # a throwaway server, URL from the environment
#
# The server URL defaults to PLEDGE_TEST_POSTGRES_URL; the user must be allowed to create
# databases. Settings (environment): PLEDGE_SCALE_PEOPLE (default 1000000), PLEDGE_SCALE_BATCH
# (10000), PLEDGE_SCALE_ROUNDS (3). Needs psql.
#
# 1. Generates the data set (bench/scale/generate.sh) into a new database, the template.
# 2. Picks the batch as bench/scale/baseline.sh does: BATCH people spread evenly over the table.
# 3. Export: `pledge request access bench/scale/pledge.toml --identities FILE` (a zip with JSON,
#    CSV and HTML) against bench/scale/handwritten_export.sql (one CSV per table with psql), on
#    the template, which they only read; one untimed run of each, then ROUNDS timed runs each,
#    alternating which goes first. Checks that both export the same number of rows per table.
# 4. Erasure, ROUNDS times: two fresh copies of the template (CREATE DATABASE ... TEMPLATE);
#    `pledge request erase bench/scale/pledge.toml --identities FILE` on one,
#    bench/scale/handwritten.sql on the other, alternating which runs first. Both use the same
#    HMAC key (PLEDGE_HMAC_KEY, and its bytes in hex for the SQL) and the same moment for the
#    six-year hold (the start of the first run, passed to the SQL as bench.now), so they must
#    leave the same database: the script compares the row count and a checksum of every row
#    (sum of hashtextextended(row::text)) of the four tables, and stops if they differ.
# Times are wall-clock times of whole processes (pledge; psql with the batch loaded from a
# file and the SQL script), so both sides pay for connecting and reading the batch.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${1:-${PLEDGE_TEST_POSTGRES_URL:-}}
[ -n "$server" ] || { echo "usage: $0 POSTGRES_URL (or set PLEDGE_TEST_POSTGRES_URL)" >&2; exit 2; }
people=${PLEDGE_SCALE_PEOPLE:-1000000}
batch=${PLEDGE_SCALE_BATCH:-10000}
rounds=${PLEDGE_SCALE_ROUNDS:-3}

cargo build --release -q -p pledge
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/pledge
work=$(mktemp -d)
prefix=pledge_scale_$$
dbs=()
cleanup() {
    set +e
    for db in "${dbs[@]}"; do psql "$server" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; done
    rm -rf "$work"
}
trap cleanup EXIT

# The server URL with its database replaced (a query string is kept).
url_of() { # database
    local url=$server query=""
    if [[ "$url" == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
    echo "${url%/*}/$1$query"
}
create_db() { # name [template]
    psql "$server" -XAtq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $1${2:+ TEMPLATE $2}"
    dbs+=("$1")
}
drop_db() { psql "$server" -XAtq -v ON_ERROR_STOP=1 -c "DROP DATABASE $1 WITH (FORCE)"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

export PLEDGE_HMAC_KEY=scale-benchmark-key-0123456789
hex_key=$(printf %s "$PLEDGE_HMAC_KEY" | od -An -tx1 | tr -d ' \n')

# 1. The data set.
template=${prefix}_template
create_db "$template"
bench/scale/generate.sh "$(url_of "$template")" "$people"

# 2. The batch.
stride=$((people / batch > 1 ? people / batch : 1))
psql "$(url_of "$template")" -XAtq -v ON_ERROR_STOP=1 \
    -c "SELECT email FROM person WHERE id % $stride = 1 % $stride ORDER BY id LIMIT $batch" >"$work/batch.txt"
sed 's/^/email=/' "$work/batch.txt" >"$work/identities.txt"
n=$(wc -l <"$work/batch.txt")
echo "batch: $n people"

pledge() { # kind url json-out [args...]
    local kind=$1 url=$2 json=$3
    shift 3
    SHOP_DATABASE_URL=$url "$bin" request "$kind" bench/scale/pledge.toml --identities "$work/identities.txt" \
        --format json "$@" >"$json"
}
handwritten() { # url script [SQL before the script] [psql args...]
    local url=$1 script=$2 before=${3:-}
    shift 2
    [ $# -eq 0 ] || shift
    psql "$url" -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null <<SQL
SET bench.hmac_key = '$hex_key';
$before
CREATE TEMPORARY TABLE batch (email text);
\copy batch FROM '$work/batch.txt'
\i $script
SQL
}
rows_of() { # pledge json, table -> rows of the first step on the table
    jq -r --arg t "$2" '[.datasets[0].steps[] | select(.table == $t)][0].rows' "$1"
}

echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"

# 3. Export.
mkdir -p "$work/csv"
export_pledge() { pledge access "$(url_of "$template")" "$work/access.json" -o "$work/export.zip"; }
export_handwritten() { handwritten "$(url_of "$template")" bench/scale/handwritten_export.sql "" -v dir="$work/csv"; }
export_pledge
export_handwritten # warm-up
for t in person orders order_items sessions; do
    p=$(rows_of "$work/access.json" "$t")
    h=$(($(wc -l <"$work/csv/$t.csv") - 1))
    [ "$p" = "$h" ] || { echo "export: $t has $p rows in Pledge's export and $h in the hand-written one" >&2; exit 1; }
    echo "export: $t $p rows"
done
: >"$work/access-times"
for r in $(seq 1 "$rounds"); do
    for side in $([ $((r % 2)) -eq 1 ] && echo "pledge handwritten" || echo "handwritten pledge"); do
        t0=$(ms)
        "export_$side"
        echo "$side $(($(ms) - t0))" >>"$work/access-times"
    done
    echo "export round $r: $(tail -n2 "$work/access-times" | tr '\n' ' ')"
done
zip_bytes=$(wc -c <"$work/export.zip")

# 4. Erasure.
state() { # database: rows and checksum of each table, the masked rows
    psql "$(url_of "$1")" -XAtq -v ON_ERROR_STOP=1 <<'SQL'
SELECT 'person', count(*), sum(hashtextextended(t::text, 0)) FROM person AS t
UNION ALL SELECT 'orders', count(*), sum(hashtextextended(t::text, 0)) FROM orders AS t
UNION ALL SELECT 'order_items', count(*), sum(hashtextextended(t::text, 0)) FROM order_items AS t
UNION ALL SELECT 'sessions', count(*), sum(hashtextextended(t::text, 0)) FROM sessions AS t
UNION ALL SELECT 'person masked', count(*), NULL FROM person WHERE name = 'erased' AND email LIKE 'h:%'
UNION ALL SELECT 'orders pseudonymised', count(*), NULL FROM orders WHERE shipping_address LIKE 'h:%'
ORDER BY 1;
SQL
}
: >"$work/erase-times"
for r in $(seq 1 "$rounds"); do
    p_db=${prefix}_p$r
    h_db=${prefix}_h$r
    create_db "$p_db" "$template"
    create_db "$h_db" "$template"
    start=""
    for side in $([ $((r % 2)) -eq 1 ] && echo "pledge handwritten" || echo "handwritten pledge"); do
        [ -n "$start" ] || start=$(date -u +%s)
        t0=$(ms)
        if [ "$side" = pledge ]; then
            pledge erase "$(url_of "$p_db")" "$work/erase-$r.json"
        else
            handwritten "$(url_of "$h_db")" bench/scale/handwritten.sql \
                "SET bench.now = '$(date -u -d "@$start" '+%Y-%m-%d %H:%M:%S+00')';"
        fi
        echo "$side $(($(ms) - t0))" >>"$work/erase-times"
    done
    echo "erase round $r: $(tail -n2 "$work/erase-times" | tr '\n' ' ')"
    state "$p_db" >"$work/state-p"
    state "$h_db" >"$work/state-h"
    if ! cmp -s "$work/state-p" "$work/state-h"; then
        echo "erase round $r: Pledge and the hand-written SQL left different databases:" >&2
        diff "$work/state-p" "$work/state-h" >&2 || true
        exit 1
    fi
    echo "erase round $r: same state: $(tr '\n' ' ' <"$work/state-p")"
    drop_db "$p_db"
    drop_db "$h_db"
done

echo
echo "Pledge's erasure, per step (round 1):"
jq -r '.datasets[0].steps[] | "  \(.action) \(.table): \(.rows) rows"' "$work/erase-1.json"
echo "Pledge's export: $(awk -v b="$zip_bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }') zipped"
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo
echo "| $n people | Pledge | hand-written SQL | ratio | Pledge people/s |"
echo "|---|---|---|---|---|"
for what in erase access; do
    p=$(awk '$1 == "pledge" { print $2 }' "$work/$what-times" | median)
    h=$(awk '$1 == "handwritten" { print $2 }' "$work/$what-times" | median)
    all_p=$(awk '$1 == "pledge" { printf "%s%.1f", sep, $2 / 1000; sep = ", " }' "$work/$what-times")
    all_h=$(awk '$1 == "handwritten" { printf "%s%.1f", sep, $2 / 1000; sep = ", " }' "$work/$what-times")
    label=$([ "$what" = erase ] && echo erasure || echo "export (access)")
    echo "| $label, median of $rounds | $(secs "$p") s ($all_p) | $(secs "$h") s ($all_h) | $(awk -v p="$p" -v h="$h" 'BEGIN { printf "%.2f", p / h }') | $(awk -v p="$p" -v n="$n" 'BEGIN { printf "%d", n * 1000 / p }') |"
done
