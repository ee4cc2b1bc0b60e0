#!/usr/bin/env python3
"""The crash test: requests never end stuck, run exactly once, and leave the application
database as one uninterrupted run would.

`pledge serve` runs on a PostgreSQL store against a PostgreSQL copy of Chinook. REQUESTS
(default 1,000) access and erasure requests for random customers are taken through the API;
while the workers run them, the server is killed with SIGKILL at KILLS (default 100) random
moments and restarted, and at CUTS (default 30) other moments every connection of the
application database is terminated from the database side. After the last restart every
request must reach a final state within FINAL_WAIT seconds (default 300), each must have
completed exactly once (one completion event, one completion audit record), the audit chain
must verify, and the application database must equal the one a second server leaves after
running the same requests with no fault.

Run it with the suite's PostgreSQL:

    scripts/test.sh -- bench/crash.sh

Environment: PLEDGE_TEST_POSTGRES_URL (a superuser URL, set by scripts/test.sh), PLEDGE_BIN
(default: target/debug/pledge, built first), REQUESTS, KILLS, CUTS, FINAL_WAIT, SEED.
Bounded: every wait has a deadline, and the script stops its servers on any exit.
"""

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHINOOK_SQL = os.path.join(ROOT, "crates/pledge-connect/tests/fixtures/chinook/chinook_postgres.sql")
DECLARATION = os.path.join(ROOT, "examples/chinook/pledge.toml")
FINAL_STATES = {"completed", "denied", "cancelled"}


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def env_int(name, default):
    return int(os.environ.get(name, default))


class Postgres:
    """psql against the suite's server; `db` URLs for the databases the test makes."""

    def __init__(self, url):
        self.url = url
        parts = urllib.parse.urlsplit(url)
        self.base = parts

    def db_url(self, name):
        return urllib.parse.urlunsplit(self.base._replace(path="/" + name))

    def psql(self, sql, db="postgres", capture=True):
        out = subprocess.run(
            ["psql", self.db_url(db), "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True,
            capture_output=capture,
            text=True,
        )
        return out.stdout if capture else ""

    def fresh(self, name):
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')

    def load(self, name, path):
        subprocess.run(
            ["psql", self.db_url(name), "-XAtq", "-v", "ON_ERROR_STOP=1", "-f", path],
            check=True,
            capture_output=True,
            text=True,
        )

    def digest(self, name):
        """A digest of every row of every table, in key order: equal databases, equal digests."""
        tables = self.psql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", db=name
        ).split()
        result = {}
        for t in tables:
            rows = self.psql(f'SELECT md5(string_agg(x::text, \'|\' ORDER BY x::text)) FROM "{t}" x', db=name)
            count = self.psql(f'SELECT count(*) FROM "{t}"', db=name).strip()
            result[t] = (count, rows.strip())
        return result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `pledge serve` process on a store and an application database."""

    def __init__(self, pledge, store_url, app_url, workdir, name):
        self.pledge = pledge
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.env = dict(
            os.environ,
            PLEDGE_STORE_URL=store_url,
            CHINOOK_DATABASE_URL=app_url,
            PLEDGE_HMAC_KEY="crash-test-pseudonym-key",
            PLEDGE_EXPORT_KEY="00" * 32,
            PLEDGE_LEASE_SECS="5",
            PLEDGE_WORKERS="2",
        )
        self.proc = None
        self.key = None

    def create_key(self):
        out = subprocess.run(
            [self.pledge, "keys", "create", "--role", "admin", "--label", "crash test"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        self.key = out.stdout.strip()

    def start(self):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.pledge, "serve", DECLARATION, "--listen", f"127.0.0.1:{self.port}"],
            env=self.env,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pledge serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pledge serve did not answer within 60 s; see {self.log_path}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def call(self, method, path, body=None, timeout=10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")


def intake(server, requests):
    """Takes every request through the API; returns their ids in order."""
    ids = []
    for kind, customer in requests:
        body = {"kind": kind, "identities": {"customer_id": str(customer)}, "verified": True}
        ids.append(server.call("POST", "/v1/requests", body)["id"])
    return ids


def approve_all(server, ids):
    """Requests that wait for an approver are approved (staff intake may still ask for one)."""
    for rid in ids:
        r = server.call("GET", f"/v1/requests/{rid}")
        if r["state"] == "awaiting_approval":
            server.call("POST", f"/v1/requests/{rid}/approve", {})


def states(server, ids):
    out = {}
    for rid in ids:
        try:
            out[rid] = server.call("GET", f"/v1/requests/{rid}")["state"]
        except (OSError, urllib.error.URLError):
            out[rid] = "unreachable"
    return out


def wait_final(server, ids, seconds):
    deadline = time.monotonic() + seconds
    while True:
        s = states(server, ids)
        open_ = [r for r, st in s.items() if st not in FINAL_STATES]
        if not open_ or time.monotonic() > deadline:
            return s
        time.sleep(1)


def main():
    pg_url = os.environ.get("PLEDGE_TEST_POSTGRES_URL")
    if not pg_url:
        sys.exit("PLEDGE_TEST_POSTGRES_URL is not set: run this as `scripts/test.sh -- bench/crash.sh`")
    pledge = os.environ.get("PLEDGE_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "pledge"
    )
    n_requests = env_int("REQUESTS", 1000)
    kills = env_int("KILLS", 100)
    cuts = env_int("CUTS", 30)
    final_wait = env_int("FINAL_WAIT", 300)
    seed = env_int("SEED", 20261203)
    rng = random.Random(seed)
    pg = Postgres(pg_url)
    workdir = tempfile.mkdtemp(prefix="pledge-crash.")
    log(f"work directory {workdir}; seed {seed}; {n_requests} requests, {kills} kills, {cuts} connection cuts")

    customers = list(range(1, 60))
    requests = [("erasure" if rng.random() < 0.3 else "access", rng.choice(customers)) for _ in range(n_requests)]

    for name in ["crash_app", "crash_store", "crash_ref_app", "crash_ref_store"]:
        pg.fresh(name)
    for name in ["crash_app", "crash_ref_app"]:
        pg.load(name, CHINOOK_SQL)

    faulty = Server(pledge, pg.db_url("crash_store"), pg.db_url("crash_app"), workdir, "faulty")
    reference = Server(pledge, pg.db_url("crash_ref_store"), pg.db_url("crash_ref_app"), workdir, "reference")
    servers = [faulty, reference]
    try:
        # The reference: the same requests, no fault.
        reference.create_key()
        reference.start()
        t0 = time.monotonic()
        ref_ids = intake(reference, requests)
        approve_all(reference, ref_ids)
        ref_states = wait_final(reference, ref_ids, final_wait + 600)
        log(f"reference run: {len(ref_ids)} requests in {time.monotonic() - t0:.1f} s: "
            f"{sorted(set(ref_states.values()))}")
        reference.stop()

        faulty.create_key()
        faulty.start()
        ids = intake(faulty, requests)
        approve_all(faulty, ids)
        t0 = time.monotonic()
        faults = ["kill"] * kills + ["cut"] * cuts
        rng.shuffle(faults)
        for i, fault in enumerate(faults):
            time.sleep(rng.uniform(0.05, 1.5))
            if fault == "kill":
                faulty.kill()
                faulty.start()
            else:
                pg.psql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = 'crash_app' AND pid <> pg_backend_pid()"
                )
            if (i + 1) % 20 == 0:
                done = sum(1 for st in states(faulty, ids).values() if st in FINAL_STATES)
                log(f"{i + 1} faults, {done}/{len(ids)} requests final")
        log(f"faults over in {time.monotonic() - t0:.1f} s; waiting up to {final_wait} s for every request")
        t1 = time.monotonic()
        final = wait_final(faulty, ids, final_wait)
        settle = time.monotonic() - t1
        faulty.stop()

        failures = []
        by_state = {}
        for rid, st in final.items():
            by_state[st] = by_state.get(st, 0) + 1
        log(f"final states after {settle:.1f} s: {by_state}")
        open_ = [r for r, st in final.items() if st not in FINAL_STATES]
        if open_:
            failures.append(f"{len(open_)} requests not final after {final_wait} s, e.g. {open_[:3]}")
        not_done = [r for r, st in final.items() if st != "completed"]
        if not_done:
            failures.append(f"{len(not_done)} requests did not complete, e.g. {not_done[:3]}")

        # Exactly once: one completion event and one completion audit record per request.
        events = pg.psql(
            "SELECT request_id, count(*) FROM request_events WHERE to_state = 'completed' GROUP BY 1",
            db="crash_store",
        ).split()
        counts = dict(e.split("|") for e in events)
        twice = [r for r, c in counts.items() if int(c) != 1]
        if twice:
            failures.append(f"{len(twice)} requests completed more than once, e.g. {twice[:3]}")
        missing = [r for r in ids if r not in counts]
        if missing and not open_:
            failures.append(f"{len(missing)} requests have no completion event")
        audit_dupes = pg.psql(
            "SELECT request_id FROM audit_log WHERE action = 'job.completed' "
            "GROUP BY request_id HAVING count(*) > 1",
            db="crash_store",
        ).split()
        if audit_dupes:
            failures.append(f"{len(audit_dupes)} requests have more than one completion audit record")
        verify = subprocess.run(
            [pledge, "audit", "verify", "--store", pg.db_url("crash_store")],
            capture_output=True,
            text=True,
        )
        if verify.returncode != 0:
            failures.append(f"the audit chain does not verify: {verify.stdout.strip()} {verify.stderr.strip()}")

        ours, theirs = pg.digest("crash_app"), pg.digest("crash_ref_app")
        differ = [t for t in ours if ours[t] != theirs.get(t)]
        if differ:
            failures.append(f"the application database differs from the uninterrupted run in {differ}")
        else:
            log(f"application database equal to the uninterrupted run ({len(ours)} tables)")

        summary = {
            "requests": n_requests,
            "kills": kills,
            "connection_cuts": cuts,
            "seed": seed,
            "final_states": by_state,
            "seconds_to_final_after_last_fault": round(settle, 1),
            "failures": failures,
        }
        print(json.dumps(summary, indent=2))
        if failures:
            for f in failures:
                print(f"FAILED: {f}", file=sys.stderr)
            print(f"server logs in {workdir}", file=sys.stderr)
            sys.exit(1)
        print("crash test passed", file=sys.stderr)
    finally:
        for s in servers:
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - best effort on the way out
                s.kill()


if __name__ == "__main__":
    main()
