#!/usr/bin/env python3
"""Two builds of `pledge` timed against each other on one Chinook customer's requests.

    bench/requests_ab.py BEFORE_BIN BEFORE_DECLARATION AFTER_BIN AFTER_DECLARATION [RUNS]
    scripts/test.sh -- bench/requests_ab.py ...     # PostgreSQL from PLEDGE_TEST_POSTGRES_URL

`bench/requests.sh` gives one build's medians; on a shared machine two such runs minutes apart
see different loads. Here the two builds alternate, run by run (before, after; then after,
before), so a change of load hits both alike. Each build gets its own copy of the Chinook
database per engine (SQLite in a temporary file; PostgreSQL, if PLEDGE_TEST_POSTGRES_URL is
set, in a fresh database dropped at the end). Per run: an access of customer 1 (export to a
temporary zip), and the erasure of the next customer (2, 3, ...: each run erases someone not
erased yet, 7 held invoices pseudonymised, as in requests.sh). RUNS defaults to 30 (at most
56). Prints, per engine and request, the median wall time and the median CPU time of the
process (user + system) of each build, the first two runs left out as warm-up.
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FIXTURES = "crates/pledge-connect/tests/fixtures/chinook"


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    builds = {"before": (sys.argv[1], sys.argv[2]), "after": (sys.argv[3], sys.argv[4])}
    runs = int(sys.argv[5]) if len(sys.argv) == 6 else 30
    if not 3 <= runs <= 56:
        sys.exit("RUNS: 3 to 56 (Chinook's first 58 customers have 7 invoices each)")
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    work = tempfile.mkdtemp()
    env = dict(os.environ, PLEDGE_HMAC_KEY="benchmark-key-0123456789abcdef")
    server = os.environ.get("PLEDGE_TEST_POSTGRES_URL", "")
    databases = []
    try:
        sqlite = os.path.join(work, "chinook.sqlite")
        script = open(os.path.join(FIXTURES, "chinook_sqlite.sql")).read()
        subprocess.run(["sqlite3", sqlite], input=f"PRAGMA foreign_keys = ON; BEGIN;\n{script}\nCOMMIT;",
                       text=True, check=True)
        emails = subprocess.run(["sqlite3", sqlite, "SELECT email FROM customer ORDER BY customer_id"],
                                capture_output=True, text=True, check=True).stdout.split()
        urls = {"sqlite": {}}
        for b in builds:
            copy = os.path.join(work, f"{b}.sqlite")
            shutil.copy(sqlite, copy)
            urls["sqlite"][b] = f"sqlite:{copy}"
        if server:
            base, _, _ = server.rpartition("/")
            urls["postgres"] = {}
            for b in builds:
                db = f"pledge_ab_{os.getpid()}_{b}"
                subprocess.run(["psql", server, "-XAtqc", f"CREATE DATABASE {db}"], check=True)
                databases.append(db)
                url = f"{base}/{db}"
                subprocess.run(["psql", url, "-Xq", "-v", "ON_ERROR_STOP=1", "-1", "-f",
                                os.path.join(FIXTURES, "chinook_postgres.sql")],
                               check=True, stdout=subprocess.DEVNULL)
                subprocess.run(["psql", url, "-XAtqc", "VACUUM ANALYZE"], check=True)
                urls["postgres"][b] = url
        else:
            print("no PLEDGE_TEST_POSTGRES_URL: PostgreSQL skipped", file=sys.stderr)
        print(f"load average at the start: {' '.join(open('/proc/loadavg').read().split()[:3])}")
        for engine, by_build in urls.items():
            wall = {(b, k): [] for b in builds for k in ("access", "erase")}
            cpu = {key: [] for key in wall}
            for i in range(runs):
                for kind in ("access", "erase"):
                    order = list(builds) if i % 2 == 0 else list(reversed(builds))
                    for b in order:
                        binary, declaration = builds[b]
                        if kind == "access":
                            cmd = [binary, "request", "access", declaration, "-i", f"email={emails[0]}",
                                   "-o", os.path.join(work, f"{b}.zip")]
                        else:
                            ident = os.path.join(work, f"{b}.identity")
                            with open(ident, "w") as f:
                                f.write(f"email={emails[i + 1]}\n")
                            cmd = [binary, "request", "erase", declaration, "--identities", ident]
                        before = resource.getrusage(resource.RUSAGE_CHILDREN)
                        start = time.perf_counter()
                        subprocess.run(cmd, env=dict(env, CHINOOK_DATABASE_URL=by_build[b]),
                                       check=True, stdout=subprocess.DEVNULL)
                        wall[(b, kind)].append(time.perf_counter() - start)
                        after = resource.getrusage(resource.RUSAGE_CHILDREN)
                        cpu[(b, kind)].append(after.ru_utime + after.ru_stime
                                              - before.ru_utime - before.ru_stime)
            for kind in ("access", "erase"):
                w = {b: statistics.median(wall[(b, kind)][2:]) * 1000 for b in builds}
                c = {b: statistics.median(cpu[(b, kind)][2:]) * 1000 for b in builds}
                print(f"| {engine} | {kind} | {w['before']:.1f} ms | {w['after']:.1f} ms | "
                      f"{100 * (w['after'] - w['before']) / w['before']:+.0f}% | "
                      f"{c['before']:.1f} → {c['after']:.1f} ms | {runs - 2} |")
        print(f"load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    finally:
        for db in databases:
            subprocess.run(["psql", server, "-XAtqc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
