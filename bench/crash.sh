#!/usr/bin/env bash
# The crash test (see bench/crash.py): 1,000 requests, 100 SIGKILLs of the server and 30 cuts
# of the application database's connections while they run; every request must end, once,
# and the database must equal an uninterrupted run. Needs the suite's PostgreSQL:
#
#   scripts/test.sh -- bench/crash.sh
#   REQUESTS=200 KILLS=20 CUTS=5 scripts/test.sh -- bench/crash.sh     # a shorter run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PLEDGE_BIN:-}" ]; then
    echo "==> building target/debug/pledge" >&2
    cargo build -q -p pledge
fi
exec python3 bench/crash.py
