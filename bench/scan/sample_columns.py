#!/usr/bin/env python3
"""Samples every column of the Chinook (SQLite) and Pagila (SQL dump) sample databases
into JSON lines for the column classifier (crates/pledge-scan/examples/columns.rs).

    python3 bench/scan/sample_columns.py --chinook DATA/chinook/Chinook_Sqlite.sqlite \
        --pagila DATA/pagila --sample 50 > columns.jsonl

Each line: {"db", "table", "column", "type", "rows", "samples": [...]}: the column's
declared type, its number of non-null values, and up to --sample distinct non-empty
values drawn with a fixed seed (what `pledge scan` will do with a bounded sample per
column). Standard library only; reads the files, writes nothing else.
"""
import argparse
import json
import random
import re
import sqlite3
import sys
from pathlib import Path


def sample(values, n, seed):
    distinct = sorted({v for v in values if v not in (None, "")})
    random.Random(seed).shuffle(distinct)
    return distinct[:n]


def chinook(path: Path, n: int):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables = [r[0] for r in db.execute("select name from sqlite_master where type='table' order by name")]
    for table in tables:
        cols = [(r[1], r[2]) for r in db.execute(f'pragma table_info("{table}")')]
        for name, ty in cols:
            rows = [r[0] for r in db.execute(f'select "{name}" from "{table}" where "{name}" is not null')]
            values = [v if isinstance(v, str) else str(v) for v in rows if not isinstance(v, bytes)]
            yield {"db": "chinook", "table": table, "column": name, "type": ty,
                   "rows": len(rows), "samples": sample(values, n, f"chinook.{table}.{name}")}


CREATE = re.compile(r"^CREATE TABLE (?:public\.)?(\w+) \($")
COPY = re.compile(r"^COPY (?:public\.)?(\w+) \(([^)]*)\) FROM stdin;$")


def unescape(v: str):
    if v == r"\N":
        return None
    return v.replace(r"\t", "\t").replace(r"\n", "\n").replace("\\\\", "\\")


def pagila(folder: Path, n: int):
    types = {}
    table = None
    for line in (folder / "pagila-schema.sql").read_text(encoding="utf-8").splitlines():
        m = CREATE.match(line)
        if m:
            table = m.group(1)
            types[table] = {}
            continue
        if table and line.startswith(");"):
            table = None
            continue
        if table and line.startswith("    ") and not line.strip().startswith("CONSTRAINT"):
            parts = line.strip().rstrip(",").split()
            if len(parts) >= 2:
                types[table][parts[0]] = parts[1]
    values = {t: {c: [] for c in cols} for t, cols in types.items()}
    current = None
    with open(folder / "pagila-data.sql", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if current is None:
                m = COPY.match(line)
                if m:
                    current = (m.group(1), [c.strip() for c in m.group(2).split(",")])
                continue
            if line == r"\.":
                current = None
                continue
            t, cols = current
            for c, v in zip(cols, line.split("\t")):
                values.setdefault(t, {}).setdefault(c, []).append(unescape(v))
    for t in sorted(types):
        for c, ty in types[t].items():
            vs = [v for v in values.get(t, {}).get(c, []) if v is not None]
            yield {"db": "pagila", "table": t, "column": c, "type": ty,
                   "rows": len(vs), "samples": sample(vs, n, f"pagila.{t}.{c}")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chinook", type=Path, required=True)
    ap.add_argument("--pagila", type=Path, required=True, help="folder with pagila-schema.sql and pagila-data.sql")
    ap.add_argument("--sample", type=int, default=50)
    args = ap.parse_args()
    for item in list(chinook(args.chinook, args.sample)) + list(pagila(args.pagila, args.sample)):
        sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
