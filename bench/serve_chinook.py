#!/usr/bin/env python3
"""One request at a time through a running `pledge serve`: POST to completed.

Driven by bench/serve_chinook.sh, which starts the server; this script only talks HTTP
(standard library, one keep-alive connection). Each request is posted by staff (verified,
no approval), then read with `?wait=10` (the server answers when it is no longer in
progress) until it is completed; with POLL_MS=N set, it is read every N ms instead.

    serve_chinook.py URL KEY KIND EMAILS_FILE ROUNDS WARMUP [SKIP]

(SKIP: the first SKIP addresses of the file are left for another run.)

Prints one JSON line per request ({"kind", "ms", "job_us"}) and a summary line
"SUMMARY {...}" with the median, min, max and the job's own time (the worker's
`microseconds`, claim to result), in milliseconds.
"""

import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse


def main() -> int:
    url, key, kind, emails_file, rounds, warmup = sys.argv[1:7]
    rounds, warmup = int(rounds), int(warmup)
    skip = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    poll_ms = os.environ.get("POLL_MS")
    poll = float(poll_ms) / 1000 if poll_ms else None
    read = "/v1/requests/{}" if poll is not None else "/v1/requests/{}?wait=10"
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with open(emails_file, encoding="utf-8") as f:
        emails = [line.strip() for line in f if line.strip()][skip:]
    if len(emails) < rounds + warmup:
        print(f"need {rounds + warmup} e-mail addresses, have {len(emails)}", file=sys.stderr)
        return 2

    def call(method: str, path: str, body=None):
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data)

    times, jobs, posts = [], [], []
    for i in range(warmup + rounds):
        body = {
            "kind": kind,
            "identities": {"email": emails[i]},
            "verified": True,
            "needs_approval": False,
        }
        start = time.perf_counter()
        created = call("POST", "/v1/requests", body)
        post_ms = (time.perf_counter() - start) * 1000
        rid = created["id"]
        polls = 0
        while True:
            got = call("GET", read.format(rid))
            polls += 1
            state = got["state"]
            if state == "completed":
                break
            if state in ("needs_action", "denied", "cancelled"):
                raise RuntimeError(f"request {rid} ended {state}: {json.dumps(got)[:500]}")
            if poll is not None:
                time.sleep(poll)
        ms = (time.perf_counter() - start) * 1000
        job_us = (got.get("result") or {}).get("microseconds")
        if i >= warmup:
            times.append(ms)
            posts.append(post_ms)
            if job_us is not None:
                jobs.append(job_us / 1000)
            print(json.dumps({"kind": kind, "ms": round(ms, 2), "post_ms": round(post_ms, 2), "polls": polls, "job_ms": job_us and round(job_us / 1000, 2)}))
    summary = {
        "kind": kind,
        "read": f"every {poll_ms} ms" if poll is not None else "wait",
        "n": len(times),
        "median_ms": round(statistics.median(times), 2),
        "min_ms": round(min(times), 2),
        "max_ms": round(max(times), 2),
        "job_median_ms": round(statistics.median(jobs), 2) if jobs else None,
        "post_median_ms": round(statistics.median(posts), 2),
    }
    print("SUMMARY " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
