#!/usr/bin/env python3
"""PostgreSQL beside SQLite: the same deliveries into each, in one run.

    cargo build --release --locked --bin mailroom --example pipe_floor --example pg_floor
    python3 benches/postgres.py URL [--pooler URL] [--maildir N]

URL is a PostgreSQL database the bench may create schemas in (for
instance postgres://mailroom:mailroom@127.0.0.1:5432/mailroom_test); each
row gets a fresh schema, dropped afterwards.

1. A burst: 1,600 different real messages (the shared corpus, each copy
   with its own Message-ID), 16 deliveries at a time, one `mailroom
   process` per message as a mail server runs it, into SQLite, into
   PostgreSQL, and into each floor: `pipe_floor` (SQLite) and `pg_floor`
   (examples/pg_floor.rs: connect with the same client library and
   password authentication, insert the raw message, commit). msg/s, p50,
   p99, max and failures. `--pooler [NAME=]URL` (repeatable) adds a row
   through a pooler such as pgbouncer (see docs/postgresql.md): it files
   into whatever schema the pooler's connections use (the role's
   search_path), and leaves what it filed there.
2. `--maildir N` (default 10,000): one `mailroom maildir --quiet` run
   over N corpus messages into each backend: msg/s and peak memory.

The PostgreSQL rows use `sslmode=disable` (a loopback connection, like
the floor's), and one row the default (`prefer`: TLS when offered).
"""
import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipe import CONFIG, RELEASE, corpus_messages, with_message_id  # noqa: E402


def psql(url, sql):
    subprocess.run(["psql", "-qX", "-v", "ON_ERROR_STOP=1", "-c", "SET client_min_messages = warning", "-c", sql, url], check=True, stdout=subprocess.DEVNULL)


class Schema:
    """A fresh schema on the server, and the URL that files into it."""

    n = 0

    def __init__(self, server, extra=""):
        Schema.n += 1
        self.server = server
        self.name = f"bench_{os.getpid()}_{Schema.n}"
        psql(server, f"DROP SCHEMA IF EXISTS {self.name} CASCADE; CREATE SCHEMA {self.name}")
        sep = "&" if "?" in server else "?"
        self.url = f"{server}{sep}options=-csearch_path%3D{self.name}{extra}"

    def drop(self):
        psql(self.server, f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


def burst(name, cmd_for, mails, parallel=16):
    def one(data):
        start = time.perf_counter()
        r = subprocess.run(cmd_for(), input=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return time.perf_counter() - start, r.returncode, r.stderr

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(one, mails))
    wall = time.perf_counter() - started
    lat = sorted(t for t, _, _ in results)
    failed = [e for _, rc, e in results if rc != 0]
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    rate = len(mails) / wall
    print(f"{name:>24} {len(mails):>6} {parallel:>4} {rate:>8.0f} {pct(0.5):>8.1f} {pct(0.99):>8.1f} {lat[-1] * 1000:>8.1f} {len(failed):>7}", flush=True)
    if failed:
        print(f"{'':>24} first failure: {failed[0].decode(errors='replace').strip()}")
    return rate


def maildir_run(name, mailroom, db, messages, n, tmp):
    md = os.path.join(tmp, f"Maildir-{name}")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub))
    for i in range(n):
        raw = with_message_id(messages[i % len(messages)], f"md-{i}@bench.example")
        with open(os.path.join(md, "new", f"{1_700_000_000 + i}.M{i}P1.bench"), "wb") as f:
            f.write(raw)
    cmd = ["/usr/bin/time", "-f", "%M", mailroom, "maildir", "--quiet", "--config", CONFIG, "--db", db, md]
    start = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    secs = time.perf_counter() - start
    rss = r.stderr.decode(errors="replace").strip().splitlines()[-1]
    print(f"{name:>24} {n:>7} {n / secs:>8.0f} {int(rss) / 1024:>8.1f} {r.returncode:>5}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--pooler", metavar="[NAME=]URL", action="append", default=[])
    ap.add_argument("--maildir", type=int, default=10_000)
    ap.add_argument("--total", type=int, default=1600)
    args = ap.parse_args()
    mailroom = os.path.join(RELEASE, "mailroom")
    pipe_floor = os.path.join(RELEASE, "examples", "pipe_floor")
    pg_floor = os.path.join(RELEASE, "examples", "pg_floor")
    for p in (mailroom, pipe_floor, pg_floor):
        if not os.path.exists(p):
            sys.exit("build first: cargo build --release --locked --bin mailroom --example pipe_floor --example pg_floor")
    messages = corpus_messages()
    if not messages:
        sys.exit("no corpus")
    tmp = tempfile.mkdtemp(prefix="mailroom-pg-bench-")
    try:
        # Each row gets its own copies of the mail (their Message-IDs
        # differ), so no row files a duplicate.
        def mails(tag):
            return [with_message_id(messages[i % len(messages)], f"{tag}-{i}@bench.example") for i in range(args.total)]

        print(f"{'row':>24} {'mails':>6} {'par':>4} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'failed':>7}")
        db = os.path.join(tmp, "crm.db")
        burst("sqlite mailroom", lambda: [mailroom, "process", "--config", CONFIG, "--db", db], mails("sq"))
        floor_db = os.path.join(tmp, "floor.db")
        burst("sqlite floor", lambda: [pipe_floor, floor_db], mails("sqf"))

        pg = Schema(args.url, "&sslmode=disable")
        subprocess.run([mailroom, "--db", pg.url, "records", "list", "cases"], stdout=subprocess.DEVNULL)
        ours = burst("postgres mailroom", lambda: [mailroom, "process", "--config", CONFIG, "--db", pg.url], mails("pg"))
        pg.drop()

        floor = Schema(args.url, "&sslmode=disable")
        psql(floor.url, "CREATE TABLE floor (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE);"
             "CREATE TABLE floor_chunks (id BIGINT NOT NULL, seq INT NOT NULL, raw BYTEA NOT NULL, PRIMARY KEY (id, seq))")
        least = burst("postgres floor", lambda: [pg_floor, floor.url], mails("pgf"))
        floor.drop()
        print(f"{'':>24} mailroom on PostgreSQL at {ours / least:.0%} of the floor")

        tls = Schema(args.url)
        burst("postgres mailroom, TLS", lambda: [mailroom, "process", "--config", CONFIG, "--db", tls.url], mails("tls"))
        tls.drop()

        for name, url in (p.split("=", 1) if "=" in p.split("://")[0] else ("pooler", p) for p in args.pooler):
            # Files into the schema the pooler's server connections use.
            tag = f"{name}-{os.getpid()}"
            burst(f"postgres via {name}", lambda: [mailroom, "process", "--config", CONFIG, "--db", url], mails(tag))

        if args.maildir:
            print(f"{'row':>24} {'mails':>7} {'msg/s':>8} {'RSS MiB':>8} {'exit':>5}")
            maildir_run("sqlite maildir", mailroom, os.path.join(tmp, "md.db"), messages, args.maildir, tmp)
            md = Schema(args.url, "&sslmode=disable")
            maildir_run("postgres maildir", mailroom, md.url, messages, args.maildir, tmp)
            md.drop()
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
