#!/usr/bin/env bash
# The console with 100,000 requests in the store: server time of the dashboard and of the
# request list (goal: under 50 ms a page), on SQLite and on PostgreSQL.
#
#   bench/console.sh [POSTGRES_URL]
#   scripts/test.sh -- bench/console.sh      # a throwaway PostgreSQL, URL from the environment
#
# Without a PostgreSQL URL (argument or PLEDGE_TEST_POSTGRES_URL) only SQLite is measured.
# Settings (environment): PLEDGE_BENCH_REQUESTS (default 100000), PLEDGE_BENCH_ROUNDS (30).
# Needs wrk, curl, sqlite3 and psql.
#
# 1. `pledge serve` on a fresh store; the requests are taken in through the API (wrk,
#    bench/console/intake.lua), so that each has its event and its audit record, as real ones.
# 2. Their dates and states spread as a year of work looks: received over the last 365 days,
#    due a month later, four in five closed, the rest open in every state, some overdue
#    (SQL on the store's tables: the API cannot backdate).
# 3. A staff account signs in (the sign-in form, with curl); each page is fetched once
#    untimed, then ROUNDS times; the figure is curl's time to the last byte on loopback,
#    median and 95th percentile. The dashboard's audit chain walk is the incremental one (the
#    first, untimed, view walks the whole chain).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
postgres=${1:-${PLEDGE_TEST_POSTGRES_URL:-}}
count=${PLEDGE_BENCH_REQUESTS:-100000}
rounds=${PLEDGE_BENCH_ROUNDS:-30}
cargo build --release -q -p pledge
pledge=${CARGO_TARGET_DIR:-$PWD/target}/release/pledge
dir=$(mktemp -d)
pid=""
pg_db=""
cleanup() {
    set +e
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$pg_db" ] && psql "$postgres" -XAtqc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT

url_of() { # database: the PostgreSQL URL with its database replaced
    local url=$postgres query=""
    if [[ "$url" == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
    echo "${url%/*}/$1$query"
}

# The SQL that spreads the requests over a year: received at random over 365 days, due a
# month later; the older ones mostly closed, some left open (overdue), in every state.
spread_sql() { # backend now
    local rnd
    case $1 in
        sqlite) rnd="(ABS(RANDOM()) % 1000000) / 1000000.0" ;;
        postgres) rnd="RANDOM()" ;;
    esac
    cat <<SQL
UPDATE requests SET received_at = $2 - CAST($rnd * 365 * 86400 AS BIGINT), updated_at = $2, confirm_by = NULL;
UPDATE requests SET due_at = received_at + 30 * 86400;
UPDATE requests SET state = CASE CAST($rnd * 20 AS INTEGER)
  WHEN 0 THEN 'awaiting_approval' WHEN 1 THEN 'in_progress' WHEN 2 THEN 'needs_action'
  WHEN 3 THEN 'denied' WHEN 4 THEN 'cancelled' WHEN 5 THEN 'awaiting_external' ELSE 'completed' END
  WHERE received_at < $2 - 30 * 86400;
SQL
}

measure() { # label store
    local label=$1 store=$2
    local port=$((20000 + RANDOM % 20000))
    local key
    key=$("$pledge" keys create --role admin --store "$store")
    echo "a long bench password" | "$pledge" users add --store "$store" --email bench@example.com \
        --name Bench --role admin --password-stdin >/dev/null
    CHINOOK_DATABASE_URL=sqlite:$dir/unused.db "$pledge" serve examples/chinook --store "$store" \
        --listen 127.0.0.1:$port --workers 0 >"$dir/serve-$label.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    local base=http://127.0.0.1:$port
    echo "[$label] taking in $count requests through the API" >&2
    local started=$(date +%s)
    # wrk's threads stop after their share, but wrk itself waits out its duration: it is
    # stopped once the store holds them all.
    KEY=$key SHARE=$((count / 4)) wrk -t4 -c16 -d600s -s bench/console/intake.lua "$base/v1/requests" >"$dir/wrk-$label.txt" &
    local wrk_pid=$! have=0
    while kill -0 "$wrk_pid" 2>/dev/null; do
        sleep 1
        case $label in
            sqlite) have=$(sqlite3 "${store#sqlite:}" "SELECT COUNT(*) FROM requests" 2>/dev/null || echo 0) ;;
            postgres) have=$(psql "$store" -XAtqc "SELECT COUNT(*) FROM requests" 2>/dev/null || echo 0) ;;
        esac
        [ "${have:-0}" -ge "$count" ] && { kill "$wrk_pid" 2>/dev/null; break; }
    done
    wait "$wrk_pid" 2>/dev/null || true
    echo "[$label] took $(( $(date +%s) - started )) s" >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    local now; now=$(date +%s)
    case $label in
        sqlite) spread_sql sqlite "$now" | sqlite3 "${store#sqlite:}" ;;
        # After rewriting every row at once, what autovacuum would do before long (a live
        # server's table grows a little at a time): statistics, and the visibility map that
        # lets PostgreSQL count from an index alone. SQLite needs neither.
        postgres)
            spread_sql postgres "$now" | psql "$store" -XAtq -v ON_ERROR_STOP=1 >/dev/null
            psql "$store" -XAtq -v ON_ERROR_STOP=1 -c "VACUUM ANALYZE requests" >/dev/null ;;
    esac
    CHINOOK_DATABASE_URL=sqlite:$dir/unused.db "$pledge" serve examples/chinook --store "$store" \
        --listen 127.0.0.1:$port --workers 0 >>"$dir/serve-$label.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
    local total
    case $label in
        sqlite) total=$(sqlite3 "${store#sqlite:}" "SELECT COUNT(*) FROM requests") ;;
        postgres) total=$(psql "$store" -XAtqc "SELECT COUNT(*) FROM requests") ;;
    esac
    echo "[$label] $total requests in the store" >&2
    # Sign in as a browser does: the form's token from its cookie, then the form.
    local jar=$dir/cookies-$label
    curl -s -c "$jar" -o /dev/null "$base/console/sign-in"
    local token; token=$(awk '$6 == "__Secure-pledge-sign-in" { print $7 }' "$jar")
    curl -s -b "$jar" -c "$jar" -o /dev/null -d "csrf=$token" \
        --data-urlencode "email=bench@example.com" --data-urlencode "password=a long bench password" \
        "$base/console/sign-in"
    local pages=(
        "dashboard|/console"
        "list|/console/requests"
        "list-open-access|/console/requests?state=open&kind=access"
        "list-due-7d|/console/requests?due=7d"
        "list-id-search|/console/requests?q=a1b"
        "list-page-1000|/console/requests?page=1000"
    )
    for entry in "${pages[@]}"; do
        local name=${entry%%|*} path=${entry#*|}
        local status; status=$(curl -s -b "$jar" -o "$dir/page.html" -w '%{http_code}' "$base$path")
        [ "$status" = 200 ] || { echo "[$label] $path answered $status" >&2; exit 1; }
        local bytes; bytes=$(wc -c <"$dir/page.html")
        for _ in $(seq "$rounds"); do
            curl -s -b "$jar" -o /dev/null -w '%{time_total}\n' "$base$path"
        done | sort -n | awk -v label="$label" -v name="$name" -v bytes="$bytes" -v total="$total" '
            { t[NR] = $1 * 1000 }
            END { printf "{\"store\":\"%s\",\"page\":\"%s\",\"requests\":%d,\"median_ms\":%.1f,\"p95_ms\":%.1f,\"bytes\":%d}\n",
                  label, name, total, t[int((NR + 1) / 2)], t[int(NR * 0.95 + 0.5)], bytes }'
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
measure sqlite "sqlite:$dir/store.db"
if [ -n "$postgres" ]; then
    pg_db=pledge_console_bench_$$
    psql "$postgres" -XAtq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $pg_db"
    measure postgres "$(url_of "$pg_db")"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
