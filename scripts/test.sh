#!/usr/bin/env bash
# The one command that runs Pledge's whole test suite, against real servers.
#
#   scripts/test.sh                 install what is missing, start a throwaway PostgreSQL and
#                                   MariaDB on loopback, run fmt, the dependency audit, clippy,
#                                   doctests and tests
#   scripts/test.sh -- CMD [ARG...] the same servers and variables, but run CMD instead of the
#                                   suite (one test, a shell, a benchmark)
#
# Environment:
#   CI=true                      CI mode: incremental builds off, nextest's `ci` profile
#   PLEDGE_TEST_SKIP_SERVERS=1   locally: install nothing, start no server; the tests that
#                                need one print why they skip (not allowed with CI).
#                                Without it, a server that cannot be installed or started
#                                is fatal, locally as in CI.
#   PLEDGE_TEST_SERVER_TIMEOUT   seconds to wait for each server to accept connections (60)
#
# Exported to the tests:
#   PLEDGE_TEST_POSTGRES_URL   postgres://USER:PASS@127.0.0.1:PORT/postgres (a superuser)
#   PLEDGE_TEST_MYSQL_URL      mysql://USER:PASS@127.0.0.1:PORT/mysql (all privileges)
#   PLEDGE_TEST_CHROMIUM, PLEDGE_TEST_CHROMEDRIVER   /usr/bin/chromium, /usr/bin/chromedriver
#   PLEDGE_TEST_OPENAPI_SPEC_VALIDATOR, PLEDGE_TEST_REDOCLY   the OpenAPI validators, installed
#                              (pinned) under target/tools/ with pip and npm
#   PLEDGE_TEST_AXE            axe-core's axe.min.js (npm, pinned, under target/tools/), the
#                              accessibility checker the browser tests run in each page
#   PLEDGE_TEST_SMTP_URL       smtp://127.0.0.1:PORT, a real SMTP server (Debian's aiosmtpd)
#   PLEDGE_TEST_SMTP_MAILDIR   the maildir it delivers every message to, for tests to read
#   PLEDGE_TEST_OIDC_ISSUER    http://127.0.0.1:PORT, a throwaway OpenID Connect provider
#                              (npm oidc-provider, pinned, under target/tools/, run by
#                              scripts/oidc-provider.mjs) for the console's single sign-on
#
# The servers and their data live in one temporary directory that is removed on exit,
# whether the run passes, fails or is interrupted.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

STARTED=$SECONDS
SERVER_TIMEOUT=${PLEDGE_TEST_SERVER_TIMEOUT:-60}
DB_USER=pledge
APT_PACKAGES=(postgresql mariadb-server mariadb-client chromium chromium-driver fonts-liberation python3 python3-aiosmtpd unzip)
# What the OpenAPI validators run on, unless the machine has it from elsewhere (a Node.js
# whose package ships npm, a Python with its own venv): Debian's would conflict with it.
command -v node >/dev/null || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null || APT_PACKAGES+=(npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || APT_PACKAGES+=(python3-venv)
# The OpenAPI validators the suite runs on the server's document (crates/pledge-server/tests/openapi.rs),
# pinned, installed under target/ (ignored by git) rather than system-wide.
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
# Its dependencies, pinned too, so that a new release of one cannot change a run.
OPENAPI_SPEC_VALIDATOR_DEPS=(annotated-types==0.8.0 attrs==26.1.0 jsonschema==4.26.0
    jsonschema-path==0.5.0 jsonschema-specifications==2025.9.1 lazy-object-proxy==1.13.0
    openapi-schema-validator==0.9.0 pathable==0.6.0 pydantic==2.14.4 pydantic-settings==2.16.3
    pydantic_core==2.50.5 python-dotenv==1.2.4 PyYAML==6.0.4 referencing==0.37.0
    rfc3339-validator==0.1.4 rpds-py==2026.9.1 six==1.17.0 typing-inspection==0.4.5
    typing_extensions==4.16.0)
REDOCLY_CLI_VERSION=2.77.0
AXE_CORE_VERSION=4.14.1
# The OpenID Connect provider of the single sign-on tests (it warns that it prefers Node 22;
# it runs on 20).
OIDC_PROVIDER_VERSION=9.13.3
TOOLS="$ROOT/target/tools"

ci=false
case "${CI:-}" in "" | 0 | false | FALSE | False) ;; *) ci=true ;; esac
skip_servers=false
case "${PLEDGE_TEST_SKIP_SERVERS:-}" in "" | 0 | false) ;; *) skip_servers=true ;; esac

if [ "$ci" = true ] && [ "$skip_servers" = true ]; then
    echo "error: PLEDGE_TEST_SKIP_SERVERS is not allowed in CI: CI runs every test" >&2
    exit 1
fi

command_mode=false
if [ "${1:-}" = "--" ]; then
    shift
    [ $# -gt 0 ] || { echo "usage: $0 [-- CMD [ARG...]]" >&2; exit 2; }
    command_mode=true
elif [ $# -gt 0 ]; then
    echo "usage: $0 [-- CMD [ARG...]]" >&2
    exit 2
fi

# ---------------------------------------------------------------------------------------------
# Output and bookkeeping

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
FAILURE=""
fail() {
    FAILURE="$*"
    printf 'error: %s\n' "$*" >&2
    exit 1
}

STEP_NAMES=()
STEP_RESULTS=()
STEP_SECONDS=()
record() { # name result seconds
    STEP_NAMES+=("$1")
    STEP_RESULTS+=("$2")
    STEP_SECONDS+=("$3")
}
# Runs one check of the suite; a failure is recorded and the suite goes on, so that one run
# reports everything that is wrong.
step() { # name cmd...
    local name=$1 t0=$SECONDS rc=0
    shift
    log "$name: $*"
    "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        record "$name" ok $((SECONDS - t0))
    else
        record "$name" "FAILED (exit $rc)" $((SECONDS - t0))
    fi
}
# Times one set-up phase; a failure ends the run (the EXIT trap cleans up).
phase() { # name cmd...
    local name=$1 t0=$SECONDS
    shift
    "$@"
    record "$name" ok $((SECONDS - t0))
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------------------------------------
# Packages

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
# Whether the package lists offer a version of the package.
known() { [[ "$(apt-cache policy "$1" 2>/dev/null)" =~ Candidate:\ [^\(] ]]; }

install_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "packages: all present (${APT_PACKAGES[*]})"
        return 0
    fi
    log "packages: installing ${missing[*]}"
    command -v apt-get >/dev/null || fail "apt-get not found: install ${missing[*]} by hand, or set PLEDGE_TEST_SKIP_SERVERS=1"
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null || fail "not root and no sudo: install ${missing[*]} by hand, or set PLEDGE_TEST_SKIP_SERVERS=1"
        sudo=(sudo)
    fi
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q)

    # Refresh the package lists only if they do not know a missing package (a fresh machine
    # has empty lists); a failed install on stale lists is retried once after a refresh.
    local updated=false
    for pkg in "${missing[@]}"; do
        if ! known "$pkg"; then
            "${apt[@]}" update || fail "apt-get update failed"
            updated=true
            break
        fi
    done

    # Packages' maintainer scripts would start their own system-wide servers (port 5432,
    # 3306); the suite starts its own, so forbid service starts during the install.
    local policy=/usr/sbin/policy-rc.d added_policy=false
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        added_policy=true
    fi
    local rc=0
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$updated" = false ]; then
        warn "apt-get install failed; refreshing the package lists and trying again"
        rc=0
        "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends "${missing[@]}" || rc=$?
    fi
    if [ "$added_policy" = true ]; then "${sudo[@]}" rm -f "$policy"; fi
    [ "$rc" -eq 0 ] || fail "could not install ${missing[*]} (apt-get exit $rc)"
}

# ---------------------------------------------------------------------------------------------
# Servers

TMP=""
PG_BIN=""
PG_DIR=""
PG_PORT=""
MY_DIR=""
MY_PORT=""
MY_PID=""
PG_STARTED=false
MY_STARTED=false
OIDC_PID=""

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local port _
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 30000))
        port_in_use "$port" || { echo "$port"; return 0; }
    done
    fail "no free TCP port found on 127.0.0.1"
}

# Runs a command as the owner of a server's files: the system user when we are root
# (PostgreSQL refuses to run as root), ourselves otherwise.
as_user() { # user cmd...
    local user=$1
    shift
    if is_root; then runuser -u "$user" -- "$@"; else "$@"; fi
}

make_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/pledge-test.XXXXXX")
    chmod 711 "$TMP" # the server users traverse it to reach their own subdirectory
    echo $$ >"$TMP/owner"
}

# Leftovers of a run that was killed without a chance to clean up (SIGKILL, power loss):
# temporary directories whose owning script is gone. Servers found there are stopped
# (SIGQUIT is PostgreSQL's immediate shutdown, which also frees its shared memory).
reap_stale_runs() {
    local dir owner pg my oidc pid _
    for dir in "${TMPDIR:-/tmp}"/pledge-test.*; do
        [ -d "$dir" ] || continue
        owner=$(cat "$dir/owner" 2>/dev/null || true)
        if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then continue; fi
        # No owner yet: a run being set up right now, unless the directory is old.
        if [ -z "$owner" ] && [ -z "$(find "$dir" -maxdepth 0 -mmin +1)" ]; then continue; fi
        log "removing the leftovers of an earlier run: $dir"
        pg=$(head -n1 "$dir/pg/data/postmaster.pid" 2>/dev/null || true)
        my=$(cat "$dir/my/mariadb.pid" 2>/dev/null || true)
        kill "$(cat "$dir/smtp.pid" 2>/dev/null || echo 0)" 2>/dev/null || true
        oidc=$(cat "$dir/oidc/pid" 2>/dev/null || true)
        [ -z "$pg" ] || kill -QUIT "$pg" 2>/dev/null || true
        [ -z "$my" ] || kill -TERM "$my" 2>/dev/null || true
        [ -z "$oidc" ] || kill -TERM "$oidc" 2>/dev/null || true
        for _ in $(seq 1 100); do
            { [ -n "$pg" ] && kill -0 "$pg" 2>/dev/null; } || { [ -n "$my" ] && kill -0 "$my" 2>/dev/null; } || break
            sleep 0.1
        done
        for pid in $pg $my; do kill -9 "$pid" 2>/dev/null || true; done
        rm -rf "$dir"
    done
}

start_postgres() {
    local initdb
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$initdb" ] || fail "PostgreSQL not found under /usr/lib/postgresql/*/bin (package postgresql)"
    PG_BIN=$(dirname "$initdb")
    PG_DIR="$TMP/pg"
    mkdir -m 700 "$PG_DIR"
    if is_root; then chown postgres:postgres "$PG_DIR"; fi

    local password
    password=$(random_hex 12)
    as_user postgres sh -c 'umask 077; cat >"$1"' sh "$PG_DIR/pwfile" <<<"$password"
    log "postgres: initdb ($PG_BIN)"
    if ! as_user postgres "$PG_BIN/initdb" --pgdata="$PG_DIR/data" --username="$DB_USER" \
        --pwfile="$PG_DIR/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1; then
        tail -n 20 "$PG_DIR/initdb.log" >&2
        fail "postgres: initdb failed (log above)"
    fi
    rm -f "$PG_DIR/pwfile"

    # Durability is pointless for a throwaway server; the rest is PostgreSQL as shipped.
    local attempt
    for attempt in 1 2 3; do
        PG_PORT=$(free_port)
        log "postgres: starting on 127.0.0.1:$PG_PORT"
        if as_user postgres "$PG_BIN/pg_ctl" --pgdata="$PG_DIR/data" --log="$PG_DIR/server.log" \
            --wait --timeout="$SERVER_TIMEOUT" start \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >"$PG_DIR/pg_ctl.log" 2>&1; then
            PG_STARTED=true
            break
        fi
        PG_STARTED=true # pg_ctl may have left a server behind; stop_postgres will look
        stop_postgres
        if grep -q 'could not bind\|already in use' "$PG_DIR/server.log" 2>/dev/null && [ "$attempt" -lt 3 ]; then
            warn "postgres: port $PG_PORT was taken, trying another"
            continue
        fi
        cat "$PG_DIR/pg_ctl.log" >&2
        tail -n 20 "$PG_DIR/server.log" >&2 || true
        fail "postgres: the server did not start (log above)"
    done

    local deadline=$((SECONDS + SERVER_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
        [ $SECONDS -lt $deadline ] || fail "postgres: not accepting connections on 127.0.0.1:$PG_PORT after ${SERVER_TIMEOUT}s"
        sleep 0.2
    done
    export PLEDGE_TEST_POSTGRES_URL="postgres://$DB_USER:$password@127.0.0.1:$PG_PORT/postgres"
    # The exact URL the tests get: password authentication over TCP.
    "$PG_BIN/psql" "$PLEDGE_TEST_POSTGRES_URL" -XAtqc 'select 1' >/dev/null ||
        fail "postgres: up, but the test user cannot log in over TCP"
    log "postgres: ready ($("$PG_BIN/postgres" --version))"
}

stop_postgres() {
    [ "$PG_STARTED" = true ] || return 0
    PG_STARTED=false
    [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
    # Throwaway data: an immediate shutdown skips the checkpoint.
    as_user postgres "$PG_BIN/pg_ctl" --pgdata="$PG_DIR/data" --mode=immediate --wait --timeout=30 stop \
        >/dev/null 2>&1 && return 0
    local pid
    pid=$(head -n1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) && kill -9 "$pid" 2>/dev/null
    warn "postgres: pg_ctl stop failed; killed the server"
}

mariadb_root() { # SQL or client args
    mariadb --no-defaults --socket="$MY_DIR/mariadb.sock" --user=root "$@"
}

start_mariadb() {
    command -v mariadbd >/dev/null || fail "mariadbd not found (package mariadb-server)"
    command -v mariadb-install-db >/dev/null || fail "mariadb-install-db not found (package mariadb-server)"
    MY_DIR="$TMP/my"
    mkdir -m 700 "$MY_DIR"
    local user_opt=()
    if is_root; then
        chown mysql:mysql "$MY_DIR"
        user_opt=(--user=mysql)
    fi

    log "mariadb: mariadb-install-db"
    # root@localhost gets no password; it is reachable only through the socket in our
    # private directory. The tests log in as a separate user with a password.
    if ! mariadb-install-db --no-defaults "${user_opt[@]}" --datadir="$MY_DIR/data" \
        --auth-root-authentication-method=normal --skip-test-db \
        >"$MY_DIR/install.log" 2>&1; then
        tail -n 20 "$MY_DIR/install.log" >&2
        fail "mariadb: mariadb-install-db failed (log above)"
    fi

    local attempt deadline
    for attempt in 1 2 3; do
        MY_PORT=$(free_port)
        log "mariadb: starting on 127.0.0.1:$MY_PORT"
        : >"$MY_DIR/error.log"
        [ -z "${user_opt[*]}" ] || chown mysql:mysql "$MY_DIR/error.log"
        # setsid: a Ctrl-C in the terminal goes to the suite, which then stops the server.
        setsid mariadbd --no-defaults "${user_opt[@]}" --datadir="$MY_DIR/data" \
            --socket="$MY_DIR/mariadb.sock" --port="$MY_PORT" --bind-address=127.0.0.1 \
            --pid-file="$MY_DIR/mariadb.pid" --log-error="$MY_DIR/error.log" --tmpdir="$MY_DIR" \
            --skip-name-resolve --skip-log-bin --max-connections=200 \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
            --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
            </dev/null >/dev/null 2>&1 &
        MY_PID=$!
        MY_STARTED=true
        deadline=$((SECONDS + SERVER_TIMEOUT))
        until mariadb-admin --no-defaults --socket="$MY_DIR/mariadb.sock" --user=root \
            --connect-timeout=2 ping >/dev/null 2>&1; do
            if ! kill -0 "$MY_PID" 2>/dev/null; then break; fi
            if [ $SECONDS -ge $deadline ]; then
                tail -n 20 "$MY_DIR/error.log" >&2 || true
                fail "mariadb: not accepting connections after ${SERVER_TIMEOUT}s (log above)"
            fi
            sleep 0.2
        done
        if kill -0 "$MY_PID" 2>/dev/null; then
            MY_PID=$(cat "$MY_DIR/mariadb.pid" 2>/dev/null || echo "$MY_PID")
            break
        fi
        MY_STARTED=false
        if grep -q 'Address already in use' "$MY_DIR/error.log" && [ "$attempt" -lt 3 ]; then
            warn "mariadb: port $MY_PORT was taken, trying another"
            continue
        fi
        tail -n 20 "$MY_DIR/error.log" >&2 || true
        fail "mariadb: the server exited during start-up (log above)"
    done

    # mariadb-install-db also made password-less root accounts for 127.0.0.1, ::1 and the
    # host name: drop them, so that nothing logs in over TCP without a password.
    local account
    for account in $(mariadb_root -Nse "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost'"); do
        mariadb_root -e "DROP USER $account" || fail "mariadb: could not drop $account"
    done
    local password
    password=$(random_hex 12)
    mariadb_root -e "
        CREATE USER '$DB_USER'@'%' IDENTIFIED BY '$password';
        CREATE USER '$DB_USER'@'localhost' IDENTIFIED BY '$password';
        GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%' WITH GRANT OPTION;
        GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;" ||
        fail "mariadb: could not create the test user"
    export PLEDGE_TEST_MYSQL_URL="mysql://$DB_USER:$password@127.0.0.1:$MY_PORT/mysql"
    # The exact credentials the tests get, over TCP.
    mariadb --no-defaults --protocol=TCP --host=127.0.0.1 --port="$MY_PORT" --user="$DB_USER" \
        --password="$password" --database=mysql -Nse 'select 1' >/dev/null ||
        fail "mariadb: up, but the test user cannot log in over TCP"
    log "mariadb: ready ($(mariadbd --version | sed 's/^[^ ]* *//'))"
}

stop_mariadb() {
    [ "$MY_STARTED" = true ] || return 0
    MY_STARTED=false
    kill -0 "$MY_PID" 2>/dev/null || return 0
    # Throwaway data: no need for a slow clean shutdown; SIGTERM is enough, SIGKILL if not.
    mariadb-admin --no-defaults --socket="$MY_DIR/mariadb.sock" --user=root \
        --connect-timeout=2 --shutdown-timeout=10 shutdown >/dev/null 2>&1 || kill "$MY_PID" 2>/dev/null
    local i
    for i in $(seq 1 100); do
        kill -0 "$MY_PID" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$MY_PID" 2>/dev/null
    warn "mariadb: did not stop in 10s; killed the server"
}

# A real SMTP server on loopback (aiosmtpd, the Debian package, run by Debian's own Python:
# another python3 on PATH may lack the module) that delivers every message to a maildir.
SMTP_PID=""
start_smtp() {
    local port python=/usr/bin/python3 t0=$SECONDS
    [ -x "$python" ] || python=$(command -v python3)
    "$python" -c 'import aiosmtpd' 2>/dev/null || fail "aiosmtpd not found (Debian package python3-aiosmtpd)"
    port=$(free_port)
    mkdir -p "$TMP/mail/tmp" "$TMP/mail/new" "$TMP/mail/cur" # a maildir
    "$python" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$TMP/mail" \
        >"$TMP/smtp.log" 2>&1 &
    SMTP_PID=$!
    echo "$SMTP_PID" >"$TMP/smtp.pid"
    until port_in_use "$port"; do
        kill -0 "$SMTP_PID" 2>/dev/null || fail "the SMTP server did not start: $(cat "$TMP/smtp.log")"
        [ $((SECONDS - t0)) -lt "$SERVER_TIMEOUT" ] || fail "the SMTP server did not accept connections within ${SERVER_TIMEOUT}s"
        sleep 0.1
    done
    export PLEDGE_TEST_SMTP_URL="smtp://127.0.0.1:$port" PLEDGE_TEST_SMTP_MAILDIR="$TMP/mail"
    log "smtp: ready (aiosmtpd $("$python" -c 'import aiosmtpd; print(aiosmtpd.__version__)'), maildir $TMP/mail)"
}

stop_smtp() {
    [ -n "$SMTP_PID" ] || return 0
    kill "$SMTP_PID" 2>/dev/null || true
    wait "$SMTP_PID" 2>/dev/null || true
    SMTP_PID=""
}

# The OpenID Connect provider: scripts/oidc-provider.mjs on a free loopback port, its issuer
# http://127.0.0.1:PORT, ready once its discovery document answers.
start_oidc_provider() {
    local dir="$TMP/oidc" attempt deadline port
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        port=$(free_port)
        log "oidc-provider: starting on 127.0.0.1:$port"
        # setsid: a Ctrl-C in the terminal goes to the suite, which then stops the provider.
        PLEDGE_OIDC_PROVIDER_PREFIX="$TOOLS/oidc" setsid node "$ROOT/scripts/oidc-provider.mjs" "$port" \
            </dev/null >"$dir/provider.log" 2>&1 &
        OIDC_PID=$!
        echo "$OIDC_PID" >"$dir/pid"
        deadline=$((SECONDS + SERVER_TIMEOUT))
        until node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
            "http://127.0.0.1:$port/.well-known/openid-configuration" 2>/dev/null; do
            kill -0 "$OIDC_PID" 2>/dev/null || break
            [ $SECONDS -lt $deadline ] || { tail -n 20 "$dir/provider.log" >&2; fail "oidc-provider: not answering after ${SERVER_TIMEOUT}s (log above)"; }
            sleep 0.2
        done
        if kill -0 "$OIDC_PID" 2>/dev/null; then
            export PLEDGE_TEST_OIDC_ISSUER="http://127.0.0.1:$port"
            log "oidc-provider: ready ($OIDC_PROVIDER_VERSION, node $(node --version))"
            return 0
        fi
        OIDC_PID=""
        if grep -q 'EADDRINUSE' "$dir/provider.log" && [ "$attempt" -lt 3 ]; then
            warn "oidc-provider: port $port was taken, trying another"
            continue
        fi
        tail -n 20 "$dir/provider.log" >&2 || true
        fail "oidc-provider: the provider exited during start-up (log above)"
    done
}

stop_oidc_provider() {
    [ -n "$OIDC_PID" ] || return 0
    kill -TERM "$OIDC_PID" 2>/dev/null || true
    OIDC_PID=""
}

export_browser() {
    local chromium=/usr/bin/chromium driver=/usr/bin/chromedriver
    if [ -x "$chromium" ] && [ -x "$driver" ]; then
        export PLEDGE_TEST_CHROMIUM=$chromium PLEDGE_TEST_CHROMEDRIVER=$driver
        log "browser: $("$chromium" --version 2>/dev/null | head -n1); $("$driver" --version 2>/dev/null | cut -d' ' -f1-2)"
    elif [ "$skip_servers" = true ]; then
        log "browser: Chromium/ChromeDriver not installed; the browser tests will skip"
    else
        fail "browser: $chromium or $driver is missing (packages chromium, chromium-driver)"
    fi
}

# The OpenAPI validators: openapi-spec-validator in a virtual environment, @redocly/cli in an
# npm prefix, both under target/tools, reinstalled only when the pinned version changes.
install_openapi_tools() {
    local venv="$TOOLS/venv" npm_dir="$TOOLS/npm"
    local validator="$venv/bin/openapi-spec-validator" redocly="$npm_dir/node_modules/.bin/redocly"
    mkdir -p "$TOOLS"
    local pins="openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION ${OPENAPI_SPEC_VALIDATOR_DEPS[*]}"
    if [ "$(cat "$venv/.pinned" 2>/dev/null)" != "$pins" ] || [ ! -x "$validator" ]; then
        log "openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION: installing into $venv"
        command -v python3 >/dev/null || fail "python3 not found (needed for openapi-spec-validator)"
        rm -rf "$venv"
        python3 -m venv "$venv" || fail "cannot make a Python virtual environment (package python3-venv)"
        # --no-deps: exactly the pinned set, nothing resolved anew.
        # shellcheck disable=SC2086 # $pins is a list of words
        "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps $pins ||
            fail "pip could not install openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION"
        echo "$pins" >"$venv/.pinned"
    fi
    if [ "$(cat "$npm_dir/.pinned" 2>/dev/null)" != "$REDOCLY_CLI_VERSION" ] || [ ! -x "$redocly" ]; then
        log "@redocly/cli $REDOCLY_CLI_VERSION: installing into $npm_dir"
        command -v npm >/dev/null || fail "npm not found (needed for @redocly/cli)"
        rm -rf "$npm_dir"
        npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error --save-exact \
            --cache "$TOOLS/npm-cache" "@redocly/cli@$REDOCLY_CLI_VERSION" ||
            fail "npm could not install @redocly/cli $REDOCLY_CLI_VERSION"
        echo "$REDOCLY_CLI_VERSION" >"$npm_dir/.pinned"
    fi
    export PLEDGE_TEST_OPENAPI_SPEC_VALIDATOR=$validator PLEDGE_TEST_REDOCLY=$redocly
    log "openapi: openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION, @redocly/cli $REDOCLY_CLI_VERSION"
    local axe_dir="$TOOLS/axe" axe="$TOOLS/axe/node_modules/axe-core/axe.min.js"
    if [ "$(cat "$axe_dir/.pinned" 2>/dev/null)" != "$AXE_CORE_VERSION" ] || [ ! -f "$axe" ]; then
        log "axe-core $AXE_CORE_VERSION: installing into $axe_dir"
        command -v npm >/dev/null || fail "npm not found (needed for axe-core)"
        rm -rf "$axe_dir"
        npm install --prefix "$axe_dir" --no-audit --no-fund --loglevel=error --save-exact \
            --cache "$TOOLS/npm-cache" "axe-core@$AXE_CORE_VERSION" ||
            fail "npm could not install axe-core $AXE_CORE_VERSION"
        echo "$AXE_CORE_VERSION" >"$axe_dir/.pinned"
    fi
    export PLEDGE_TEST_AXE=$axe
    log "accessibility: axe-core $AXE_CORE_VERSION"
    local oidc_dir="$TOOLS/oidc"
    if [ "$(cat "$oidc_dir/.pinned" 2>/dev/null)" != "$OIDC_PROVIDER_VERSION" ] ||
        [ ! -f "$oidc_dir/node_modules/oidc-provider/package.json" ]; then
        log "oidc-provider $OIDC_PROVIDER_VERSION: installing into $oidc_dir"
        command -v npm >/dev/null || fail "npm not found (needed for oidc-provider)"
        rm -rf "$oidc_dir"
        npm install --prefix "$oidc_dir" --no-audit --no-fund --loglevel=error --save-exact \
            --cache "$TOOLS/npm-cache" "oidc-provider@$OIDC_PROVIDER_VERSION" ||
            fail "npm could not install oidc-provider $OIDC_PROVIDER_VERSION"
        echo "$OIDC_PROVIDER_VERSION" >"$oidc_dir/.pinned"
    fi
}

# With PLEDGE_TEST_SKIP_SERVERS nothing is installed, but validators installed by an earlier
# run are used.
export_openapi_tools() {
    local validator="$TOOLS/venv/bin/openapi-spec-validator" redocly="$TOOLS/npm/node_modules/.bin/redocly"
    if [ -x "$validator" ] && [ -x "$redocly" ]; then
        export PLEDGE_TEST_OPENAPI_SPEC_VALIDATOR=$validator PLEDGE_TEST_REDOCLY=$redocly
        log "openapi: using the validators in $TOOLS"
    else
        log "openapi: validators not installed; the OpenAPI validation tests will skip"
    fi
    if [ -f "$TOOLS/axe/node_modules/axe-core/axe.min.js" ]; then
        export PLEDGE_TEST_AXE="$TOOLS/axe/node_modules/axe-core/axe.min.js"
    fi
}

# ---------------------------------------------------------------------------------------------
# Clean-up and summary

summary() {
    local rc=$1 i
    echo
    echo "==================== Pledge test summary ===================="
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %-12s %-18s %5ss\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}"
    done
    if [ "$skip_servers" = true ]; then
        echo "  servers: not started (PLEDGE_TEST_SKIP_SERVERS=1)"
    fi
    if [ -n "$FAILURE" ]; then
        echo "  error: $FAILURE"
    fi
    if [ "$rc" -eq 0 ]; then
        echo "  result: PASSED in $((SECONDS - STARTED))s"
    else
        echo "  result: FAILED (exit $rc) in $((SECONDS - STARTED))s"
    fi
    echo "============================================================="
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    if [ -n "$TMP" ]; then
        local t0=$SECONDS
        stop_smtp
        stop_oidc_provider
        stop_mariadb
        stop_postgres
        rm -rf "$TMP"
        record "stop" done $((SECONDS - t0))
    fi
    summary "$rc"
    exit "$rc"
}
# Any command that fails unexpectedly (set -e) says where, once.
on_error() {
    [ -z "$FAILURE" ] || return 0
    FAILURE="line $1: '$2' failed (exit $3)"
    printf 'error: %s\n' "$FAILURE" >&2
}
trap 'on_error "$LINENO" "$BASH_COMMAND" "$?"' ERR
trap cleanup EXIT
trap 'echo >&2; log "interrupted"; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------------------------------------
# Main

if [ "$ci" = true ]; then
    # Incremental compilation only pays off across local edit-compile cycles.
    export CARGO_INCREMENTAL=0
fi

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
[ "$command_mode" = true ] || command -v cargo >/dev/null || fail "cargo not found (install Rust with rustup)"

if [ "$skip_servers" = true ]; then
    log "PLEDGE_TEST_SKIP_SERVERS=1: no installs and no servers; the tests that need PostgreSQL or MariaDB will skip (unless you set their PLEDGE_TEST_*_URL yourself)"
    export_browser
    export_openapi_tools
else
    phase install install_packages
    phase tools install_openapi_tools
    t0=$SECONDS
    reap_stale_runs
    make_tmp
    start_postgres
    start_mariadb
    start_smtp
    start_oidc_provider
    export_browser
    record servers ok $((SECONDS - t0))
fi

if [ "$command_mode" = true ]; then
    t0=$SECONDS
    rc=0
    log "command: $*"
    "$@" || rc=$?
    record command "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED (exit $rc)")" $((SECONDS - t0))
    exit "$rc"
else
    locked=()
    [ -f Cargo.lock ] && locked=(--locked)
    # The same profile, features and flags for every cargo step, so that clippy, the
    # doctests and the tests reuse each other's build-script and proc-macro artifacts.
    step fmt cargo fmt --all -- --check
    step audit scripts/audit.sh
    step clippy cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings
    if cargo nextest --version >/dev/null 2>&1; then
        nextest_profile=()
        [ "$ci" = true ] && nextest_profile=(--profile ci)
        # The build of the test profile is a step of its own, so that the time of each
        # step says what it is: compiling, or running. nextest does not run doctests: they
        # run next (on the libraries just built), so that the suite's last words are
        # nextest's summary of all the other tests.
        step build cargo nextest run --workspace --no-run "${locked[@]}" "${nextest_profile[@]}"
        step doctests cargo test --doc --workspace "${locked[@]}"
        step tests cargo nextest run --workspace "${locked[@]}" "${nextest_profile[@]}"
    else
        warn "cargo-nextest not found; running the tests with cargo test"
        step tests cargo test --workspace "${locked[@]}"
    fi
fi

for result in "${STEP_RESULTS[@]}"; do
    case "$result" in ok | done) ;; *) exit 1 ;; esac
done
exit 0
