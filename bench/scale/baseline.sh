#!/usr/bin/env bash
# Times the hand-written erasure (handwritten.sql) of one batch of people in the scale data
# set made by generate.sh.
#
#   bench/scale/baseline.sh DATABASE_URL [BATCH] [OFFSET]
#
# The batch is BATCH people (default 10,000) spread evenly over the table, starting at id
# OFFSET (default 1), among those not erased yet; each run erases for good, so later runs
# take the next people. The HMAC key is a fixed test key. Prints what each statement changed
# and the time of the transaction.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 3 ] || { echo "usage: $0 DATABASE_URL [BATCH] [OFFSET]" >&2; exit 2; }
url=$1
batch=${2:-10000}
offset=${3:-1}
cd "$(dirname "$0")"
psql "$url" -X -v ON_ERROR_STOP=1 -v batch="$batch" -v offset="$offset" <<'SQL'
\set QUIET on
SET bench.hmac_key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SELECT greatest(1, (SELECT max(id) FROM person) / :batch) AS stride \gset
CREATE TEMPORARY TABLE batch AS
SELECT email FROM person
WHERE id % :stride = :offset % :stride AND name <> 'erased'
ORDER BY id
LIMIT :batch;
SELECT count(*) AS people FROM batch \gset
\echo batch: :people people
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\set QUIET off
\i handwritten.sql
\set QUIET on
SELECT round(1000 * (extract(epoch FROM clock_timestamp()) - :t0)) AS ms \gset
SELECT round(:people * 1000.0 / greatest(:ms, 1)) AS rate \gset
\echo handwritten erasure: :ms ms for :people people (:rate people/s)
SQL
