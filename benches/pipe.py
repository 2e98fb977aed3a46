#!/usr/bin/env python3
"""Pipe speed: `mailroom process` as a mail server runs it, one whole
process per message, against procmail delivering the same message to a
Maildir and against the floor (examples/pipe_floor.rs). Medians.

    cargo build --release --locked --bin mailroom --example pipe_floor
    python3 benches/pipe.py [--runs N] [--against [NAME=]DIR]... [--burst]

Each run gets a message with its own Message-ID, so mailroom really files
it (a duplicate would be cheaper). mailroom commits durably (synchronous =
FULL, the WAL synced before exit 0).

The `floor` is a process that stores the raw message in SQLite with the
same durable commit and WAL rule and does nothing else (no configuration,
parsing, routing or JSON): the least any delivery into SQLite costs here.

`--against DIR` (repeatable, `NAME=DIR` to name it) times another build in
the same loop, interleaved run by run with this one, so all see the same
machine: DIR holds its `mailroom` and `pipe_floor` (for instance copies of
an earlier release build, or of the static recipe).

`--burst` delivers 1,600 different real messages (the shared corpus, each
copy with its own Message-ID) into one database from 16 deliveries at a
time, as a busy mail server does, and prints throughput, latency
percentiles and failures, for this build (and the `--against` one).

Programs are copied into the benchmark's temporary directory and run from
there, as an installation runs its copy.
"""
import argparse
import base64
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
CONFIG = os.path.join(ROOT, "rules.example.yaml")
CORPUS = os.path.join(ROOT, "..", "shared", "corpus")


def message(size, n):
    """A message of about `size` bytes with a unique Message-ID."""
    head = (
        "From: Ann Customer <ann@customer.example>\r\n"
        "To: crm+case@example.com\r\n"
        "Subject: Printer on floor 3 is broken\r\n"
        f"Message-ID: <bench-{size}-{n}@customer.example>\r\n"
        "Date: Fri, 27 Nov 2026 09:15:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if size < 4096:
        return (head + "Content-Type: text/plain\r\n\r\nthe printer prints blank pages.\r\n").encode()
    payload = base64.encodebytes(os.urandom(size * 3 // 4)).decode().replace("\n", "\r\n")
    return (
        head
        + 'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n'
        + '--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="scan.bin"\r\n'
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + payload
        + "\r\n--B--\r\n"
    ).encode()


def timed(cmd, data, env):
    start = time.perf_counter()
    r = subprocess.run(cmd, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return elapsed


def max_rss_kb(cmd, data, env):
    if not os.path.exists("/usr/bin/time"):
        return None
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        return int(r.stderr.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


class Build:
    """One build's programs, copied into `tmp/name/`, with its own
    database and floor database."""

    def __init__(self, name, mailroom, floor, tmp):
        self.name = name
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.mailroom = os.path.join(self.dir, "mailroom")
        shutil.copy(mailroom, self.mailroom)
        self.floor = None
        if floor and os.path.exists(floor):
            self.floor = os.path.join(self.dir, "pipe_floor")
            shutil.copy(floor, self.floor)
        self.db = os.path.join(self.dir, "crm.db")
        self.floor_db = os.path.join(self.dir, "floor.db")

    def process(self, db=None):
        return [self.mailroom, "process", "--config", CONFIG, "--db", db or self.db]


def corpus_messages():
    out = []
    for root, dirs, files in os.walk(CORPUS):
        dirs.sort()
        for f in sorted(files):
            if f.startswith("MANIFEST"):
                continue
            with open(os.path.join(root, f), "rb") as fh:
                raw = fh.read()
            if raw.strip():
                out.append(raw)
    return out


def with_message_id(raw, mid):
    """`raw` with its Message-ID replaced by `<mid>`, so copies are distinct mail."""
    eol = b"\r\n" if b"\r\n" in raw else b"\n"
    end = raw.find(eol + eol)
    head, body = (raw, b"") if end < 0 else (raw[: end + len(eol)], raw[end + len(eol):])
    kept, skipping = [], False
    for line in head.splitlines(keepends=True):
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = line.split(b":", 1)[0].strip().lower() == b"message-id" and b":" in line
        if not skipping:
            kept.append(line)
    return b"Message-ID: <" + mid.encode() + b">" + eol + b"".join(kept) + body


def burst(build, env, messages, parallel, total):
    """`total` deliveries, `parallel` at a time, into one fresh database."""
    db = os.path.join(build.dir, "burst.db")
    mails = [with_message_id(messages[i % len(messages)], f"burst-{i}@bench.example") for i in range(total)]

    def one(data):
        start = time.perf_counter()
        r = subprocess.run(build.process(db), input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        return time.perf_counter() - start, r.returncode

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(one, mails))
    wall = time.perf_counter() - started
    lat = sorted(t for t, _ in results)
    failed = sum(1 for _, rc in results if rc != 0)
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(f"{build.name:>8} {total:>6} {parallel:>4} {total / wall:>9.0f} {pct(0.5):>8.1f} {pct(0.99):>8.1f} {lat[-1] * 1000:>8.1f} {failed:>7}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--against", metavar="[NAME=]DIR", action="append", default=[], help="another build's mailroom and pipe_floor, timed interleaved")
    ap.add_argument("--burst", action="store_true", help="also 1,600 real messages, 16 deliveries at a time")
    args = ap.parse_args()
    mailroom = os.path.join(RELEASE, "mailroom")
    if not os.path.exists(mailroom):
        sys.exit("build first: cargo build --release --locked --bin mailroom --example pipe_floor")
    tmp = tempfile.mkdtemp(prefix="mailroom-bench-")
    env = dict(os.environ, HOME=tmp)
    env.pop("MAILROOM_CONFIG", None)
    builds = [Build("this", mailroom, os.path.join(RELEASE, "examples", "pipe_floor"), tmp)]
    for other in args.against:
        name, _, path = other.rpartition("=")
        name = name or os.path.basename(os.path.normpath(path))
        builds.append(Build(name, os.path.join(path, "mailroom"), os.path.join(path, "pipe_floor"), tmp))
    procmail = shutil.which("procmail")
    maildir = os.path.join(tmp, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    rc = os.path.join(tmp, "procmailrc")
    with open(rc, "w") as f:
        f.write(f"DEFAULT={maildir}/\n:0\n{maildir}/\n")
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}")
    if not procmail:
        print("procmail is not installed: no procmail column (apt-get install procmail)")
    print(f"{'build':>8} {'message':>8} {'runs':>5} {'ms':>8} {'procmail':>9} {'ratio':>6} {'floor ms':>9} {'x floor':>8} {'mean ms':>8}")
    for label, size, runs in (("small", 600, args.runs), ("1 MB", 1 << 20, args.runs), ("10 MB", 10 << 20, max(10, args.runs // 4))):
        ours = {b.name: [] for b in builds}
        least = {b.name: [] for b in builds}
        theirs = []
        for n in range(runs):
            data = message(size, n)
            for b in builds:
                ours[b.name].append(timed(b.process(), data, env))
                if b.floor:
                    least[b.name].append(timed([b.floor, b.floor_db], data, env))
            if procmail:
                theirs.append(timed([procmail, "-m", rc], data, env))
        p = statistics.median(theirs) * 1000 if theirs else float("nan")
        for b in builds:
            m = statistics.median(ours[b.name]) * 1000
            f = statistics.median(least[b.name]) * 1000 if least[b.name] else float("nan")
            mean = statistics.mean(ours[b.name]) * 1000
            print(f"{b.name:>8} {label:>8} {runs:>5} {m:>8.2f} {p:>9.2f} {m / p:>6.2f} {f:>9.2f} {m / f:>8.2f} {mean:>8.2f}")
    big = message(10 << 20, 10**6)
    for b in builds:
        rss = max_rss_kb(b.process(), big, env)
        if rss:
            print(f"{b.name:>8}: peak RSS for a {len(big) / 1e6:.1f} MB message: {rss / 1024:.1f} MiB ({rss * 1024 / len(big):.2f}x the message)")
    if args.burst:
        messages = corpus_messages()
        if not messages:
            sys.exit(f"no corpus at {CORPUS}")
        print(f"{'build':>8} {'mails':>6} {'par':>4} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'failed':>7}")
        for b in builds:
            burst(b, env, messages, 16, 1600)
    shutil.rmtree(tmp)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
