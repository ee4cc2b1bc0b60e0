#!/usr/bin/env bash
# Creates the scale data set in an existing, empty PostgreSQL database.
#
#   bench/scale/generate.sh DATABASE_URL [PEOPLE]
#
# PEOPLE defaults to 1,000,000 (10M rows in all: 1M people, 3M orders, 5M order items,
# 1M sessions). Needs psql. Prints the time of each step and the row counts.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 DATABASE_URL [PEOPLE]" >&2; exit 2; }
url=$1
people=${2:-1000000}
[[ "$people" =~ ^[1-9][0-9]*$ ]] || { echo "PEOPLE must be a positive integer" >&2; exit 2; }
cd "$(dirname "$0")"
start=$SECONDS
psql "$url" -X -q -v ON_ERROR_STOP=1 -v people="$people" -f generate.sql
echo "generated $people people in $((SECONDS - start)) s"
