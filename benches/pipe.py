#!/usr/bin/env python3
"""Pipe speed: `mailroom process` against procmail delivering the same
message to a Maildir, whole processes, many runs, medians.

    cargo build --release --locked --bin mailroom --example pipe_floor
    python3 benches/pipe.py [--runs N]

Each run gets a message with its own Message-ID, so mailroom really files
it (a duplicate would be cheaper). mailroom commits durably (synchronous =
FULL, the WAL fsynced before exit 0). Times are medians; mailroom's mean
is printed too, because every other 1 MB delivery also checkpoints the
WAL, which makes those times two-humped and their median jumpy. Peak
memory (max RSS) of the 10 MB case comes from /usr/bin/time when it is
installed.

The `floor` column is examples/pipe_floor.rs: a process that stores the
raw message in SQLite with the same durable commit and WAL policy and does
nothing else (no configuration, parsing, routing or JSON). Its ratio to
procmail is the least any delivery into SQLite can reach on this machine.

Both programs are copied into the benchmark's temporary directory and run
from there, as an installation runs its copy: on the development machine
the file the linker wrote started 0.5 to 0.9 ms slower per process than
the same bytes copied (interleaved rounds of 300), for reasons of how the
kernel caches each file, not of the program.
"""
import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def built(*path):
    """A release build's output: under target/<host triple>/ (the
    project builds for the host as if cross-compiling, .cargo/config.toml),
    or under target/ for a build that overrode that."""
    try:
        out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True).stdout
        host = next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("host:"))
    except (OSError, StopIteration):
        host = ""
    places = [os.path.join(ROOT, "target", host, "release", *path), os.path.join(ROOT, "target", "release", *path)]
    return next((p for p in places if os.path.exists(p)), places[0])


MAILROOM = built("mailroom")
FLOOR = built("examples", "pipe_floor")


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
    if not shutil.which("time") and not os.path.exists("/usr/bin/time"):
        return None
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        return int(r.stderr.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    if not os.path.exists(MAILROOM):
        sys.exit("build first: cargo build --release --locked")
    procmail = shutil.which("procmail")
    tmp = tempfile.mkdtemp(prefix="mailroom-bench-")
    env = dict(os.environ, HOME=tmp)
    env.pop("MAILROOM_CONFIG", None)
    db = os.path.join(tmp, "crm.db")
    maildir = os.path.join(tmp, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    rc = os.path.join(tmp, "procmailrc")
    with open(rc, "w") as f:
        f.write(f"DEFAULT={maildir}/\n:0\n{maildir}/\n")
    config = os.path.join(ROOT, "rules.example.yaml")
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}")
    floor = os.path.exists(FLOOR)
    mailroom = os.path.join(tmp, "mailroom")
    shutil.copy(MAILROOM, mailroom)
    if floor:
        shutil.copy(FLOOR, os.path.join(tmp, "pipe_floor"))
    if not floor:
        print("examples/pipe_floor is not built: no floor column (cargo build --release --example pipe_floor)")
    floor_db = os.path.join(tmp, "floor.db")
    print(f"{'message':>8} {'runs':>5} {'mailroom ms':>12} {'procmail ms':>12} {'ratio':>6} {'floor ms':>9} {'floor ratio':>11} {'mailroom mean':>14}")
    for label, size, runs in (("small", 600, args.runs), ("1 MB", 1 << 20, args.runs), ("10 MB", 10 << 20, max(10, args.runs // 4))):
        ours, theirs, least = [], [], []
        for n in range(runs):
            data = message(size, n)
            ours.append(timed([mailroom, "process", "--config", config, "--db", db], data, env))
            if procmail:
                theirs.append(timed([procmail, "-m", rc], data, env))
            if floor:
                least.append(timed([os.path.join(tmp, "pipe_floor"), floor_db], data, env))
        m = statistics.median(ours) * 1000
        p = statistics.median(theirs) * 1000 if theirs else float("nan")
        f = statistics.median(least) * 1000 if least else float("nan")
        mean = statistics.mean(ours) * 1000
        print(f"{label:>8} {runs:>5} {m:>12.2f} {p:>12.2f} {m / p:>6.2f} {f:>9.2f} {f / p:>11.2f} {mean:>14.2f}")
    big = message(10 << 20, 10**6)
    rss = max_rss_kb([mailroom, "process", "--config", config, "--db", db], big, env)
    if rss:
        print(f"peak RSS for a {len(big) / 1e6:.1f} MB message: {rss / 1024:.1f} MiB ({rss * 1024 / len(big):.2f}x the message)")
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
