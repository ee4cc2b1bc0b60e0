#!/usr/bin/env bash
# Retention sweep at scale (issue 7: within 1.3x of a hand-written
# batched DELETE). On PostgreSQL, a table of ROWS sessions (default 5,000,000) with one event
# per session in a dependent table; every fifth session expired (1,000,000). Two identical
# copies: `pledge retain` sweeps one, the hand-written batched DELETE of the same rows with
# the same batch size (bench/retain/handwritten.sql, run inside the server) the other.
#
#   scripts/test.sh -- bench/retain.sh             # the throwaway PostgreSQL of the test script
#   bench/retain.sh [SERVER_URL] [BATCH]           # default: $PLEDGE_TEST_POSTGRES_URL, 1000
#
# PLEDGE_BENCH_ROWS changes the table size; PLEDGE_BIN names a pledge binary already built.
# Prints both times and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${1:-${PLEDGE_TEST_POSTGRES_URL:?give a PostgreSQL server URL or run through scripts/test.sh}}
batch=${2:-1000}
rows=${PLEDGE_BENCH_ROWS:-5000000}
export PGTZ=UTC

# The URL of database $1 on the server.
database_url() {
  local base=${server%%\?*} query=
  [[ $server == *\?* ]] && query="?${server#*\?}"
  echo "${base%/*}/$1$query"
}
psql_server() { psql "$server" -X -q -v ON_ERROR_STOP=1 "$@"; }

pledge=${PLEDGE_BIN:-}
if [ -z "$pledge" ]; then
  cargo build --release -q -p pledge
  pledge=target/release/pledge
fi
source=pledge_retain_source
for db in $source pledge_retain_pledge pledge_retain_handwritten; do
  psql_server -c "DROP DATABASE IF EXISTS $db"
done
trap 'for db in $source pledge_retain_pledge pledge_retain_handwritten; do psql_server -c "DROP DATABASE IF EXISTS $db" || true; done' EXIT

echo "generating $rows sessions and $rows events ..."
start=$(date +%s.%N)
psql_server -c "CREATE DATABASE $source"
psql "$(database_url $source)" -X -q -v ON_ERROR_STOP=1 -v rows="$rows" -f bench/retain/generate.sql
for db in pledge_retain_pledge pledge_retain_handwritten; do
  psql_server -c "CREATE DATABASE $db TEMPLATE $source"
  psql "$(database_url $db)" -X -q -v ON_ERROR_STOP=1 -c "VACUUM ANALYZE"
done
printf 'generated in %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"

expired=$(psql "$(database_url pledge_retain_pledge)" -X -qAt \
  -c "SELECT count(*) FROM sessions WHERE last_seen_at < localtimestamp - interval '13 months'")
echo "expired sessions: $expired of $rows, batch size $batch"

# pledge retain
start=$(date +%s.%N)
BENCH_DATABASE_URL=$(database_url pledge_retain_pledge) \
  "$pledge" retain bench/retain/pledge.toml --batch-size "$batch"
pledge_s=$(echo "$(date +%s.%N) - $start" | bc)

# hand-written batched DELETE, same rows, same batch size
handwritten=$(database_url pledge_retain_handwritten)
psql "$handwritten" -X -q -v ON_ERROR_STOP=1 -f bench/retain/handwritten.sql
start=$(date +%s.%N)
psql "$handwritten" -X -q -v ON_ERROR_STOP=1 \
  -c "CALL sweep($batch, localtimestamp - interval '13 months')"
handwritten_s=$(echo "$(date +%s.%N) - $start" | bc)

# Both copies must end the same.
check='SELECT count(*), coalesce(sum(id), 0) FROM sessions'
a=$(psql "$(database_url pledge_retain_pledge)" -X -qAt -c "$check; SELECT count(*) FROM session_events")
b=$(psql "$handwritten" -X -qAt -c "$check; SELECT count(*) FROM session_events")
if [ "$a" != "$b" ]; then
  echo "the copies differ after the sweeps: pledge $a, hand-written $b" >&2
  exit 1
fi
printf 'pledge retain:         %6.2f s\n' "$pledge_s"
printf 'hand-written DELETE:   %6.2f s\n' "$handwritten_s"
printf 'ratio:                 %6.2fx\n' "$(echo "$pledge_s / $handwritten_s" | bc -l)"
