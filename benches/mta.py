#!/usr/bin/env python3
"""A piped delivery through a real mail server, end to end: from handing
the message to Exim (`exim -odi`) or Postfix (`sendmail`) to it being
filed by `mailroom process` through the shipped recipe (contrib/exim/,
contrib/postfix/), against the same mail server delivering the same
message to a Maildir. Medians, in milliseconds. Run as root, with the
programs `.ci/run` installs (MAILROOM_TEST_EXIM names an unpacked Exim):

    cargo build --release --locked --bin mailroom
    sudo python3 benches/mta.py [--runs N]

The mail servers use the tests' configurations (tests/it/servers/) with
the shipped recipes put in, as tests/it/exim.rs and postfix.rs do, and
deliver as `nobody`. Exim with `-odi` returns once the delivery is done,
so its time is that of the command. Postfix delivers in the background:
its time runs from `sendmail` until the delivery is in its log
(`status=sent`, written when the delivery agent reports back), polled
every millisecond.
"""
import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVERS = os.path.join(ROOT, "tests", "it", "servers")
USER = "nobody"


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def recipe(path, program, config, db, user_from, user_to):
    """The shipped recipe with this bench's paths, as the tests make it."""
    return (
        read("contrib", path)
        .replace("/usr/bin/mailroom", program)
        .replace("/etc/mailroom/mailroom.yaml", config)
        .replace("/var/lib/mailroom/crm.db", db)
        .replace(user_from, user_to)
    )


def message(n):
    return (
        "From: Ann Customer <ann@customer.example>\r\n"
        "To: crm+case@example.com\r\n"
        "Subject: Printer on floor 3 is broken\r\n"
        f"Message-ID: <mta-bench-{n}-{time.time_ns()}@customer.example>\r\n"
        "Date: Fri, 27 Nov 2026 09:15:00 +0000\r\n"
        "\r\nthe printer prints blank pages.\r\n"
    ).encode()


def site(base):
    """The program, config and database directory `nobody` may use."""
    pw = pwd.getpwnam(USER)
    os.chmod(base, 0o755)
    program = os.path.join(base, "mailroom")
    shutil.copy(os.path.join(ROOT, "target", "release", "mailroom"), program)
    config = os.path.join(base, "mailroom.yaml")
    shutil.copy(os.path.join(ROOT, "rules.example.yaml"), config)
    lib = os.path.join(base, "lib")
    os.mkdir(lib)
    os.chown(lib, pw.pw_uid, pw.pw_gid)
    return program, config, os.path.join(lib, "crm.db"), pw


def exim(base, runs, program, config, db, pw):
    exim = os.environ.get("MAILROOM_TEST_EXIM") or shutil.which("exim4") or "/usr/sbin/exim4"
    d = os.path.join(base, "exim")
    for sub in ["spool", "log", "Maildir"]:
        os.makedirs(os.path.join(d, sub))
    os.chown(os.path.join(d, "Maildir"), pw.pw_uid, pw.pw_gid)
    conf = (
        read("tests", "it", "servers", "exim.conf")
        .replace("@ROUTER@", read("contrib", "exim", "router"))
        .replace("@TRANSPORT@", recipe("exim/transport", program, config, db, "user = mailroom", f"user = {USER}"))
        .replace("@EXIM@", exim)
        .replace("@DIR@", d)
        .replace("@USER@", USER)
    )
    path = os.path.join(d, "exim.conf")
    with open(path, "w") as f:
        f.write(conf)

    def send(recipient, n):
        start = time.perf_counter()
        subprocess.run([exim, "-C", path, "-odi", "-f", "sender@customer.example", "--", recipient],
                       input=message(n), check=True)
        return time.perf_counter() - start

    result = timed(runs, send, "crm+case@example.com", "bench@maildir.example")
    left = subprocess.run([exim, "-C", path, "-bpc"], capture_output=True, text=True, check=True)
    if left.stdout.strip() != "0":
        sys.exit(f"Exim deferred some deliveries; see {d}/log/mainlog")
    return result


def postfix(base, runs, program, config, db, pw):
    d = os.path.join(base, "postfix")
    conf = os.path.join(d, "conf")
    for sub in ["conf", "queue", "data"]:
        os.makedirs(os.path.join(d, sub))
    shutil.chown(os.path.join(d, "data"), "postfix")
    os.mkdir(os.path.join(d, "Maildir"))
    os.chown(os.path.join(d, "Maildir"), pw.pw_uid, pw.pw_gid)
    transport = os.path.join(conf, "transport")
    main = read("tests", "it", "servers", "postfix-main.cf").replace("@DIR@", d) \
        .replace("@UID@", str(pw.pw_uid)).replace("@GID@", str(pw.pw_gid))
    main += read("contrib", "postfix", "main.cf").replace("/etc/postfix/transport", transport)
    master = read("tests", "it", "servers", "postfix-master.cf")
    master += recipe("postfix/master.cf", program, config, db, "user=mailroom", f"user={USER}")
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(main)
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write(master)
    with open(os.path.join(conf, "virtual"), "w") as f:
        f.write("bench@maildir.example  Maildir/\n")
    with open(transport, "w") as f:
        f.write(read("contrib", "postfix", "transport"))
    subprocess.run(["postmap", "-c", conf, transport], check=True)
    subprocess.run(["postfix", "-c", conf, "start"], check=True, capture_output=True)
    log = os.path.join(d, "maillog")

    def sent():
        try:
            with open(log) as f:
                return f.read().count("status=sent")
        except FileNotFoundError:
            return 0

    def send(recipient, n):
        before = sent()
        start = time.perf_counter()
        subprocess.run(["sendmail", "-C", conf, "-i", "-f", "sender@customer.example", "--", recipient],
                       input=message(n), check=True)
        deadline = start + 60
        while sent() == before:
            if time.perf_counter() > deadline:
                sys.exit(f"Postfix did not deliver to {recipient} within 60 s; see {log}")
            time.sleep(0.001)
        return time.perf_counter() - start

    try:
        return timed(runs, send, "crm+case@example.com", "bench@maildir.example")
    finally:
        subprocess.run(["postfix", "-c", conf, "stop"], capture_output=True)


def timed(runs, send, piped, maildir):
    """Medians of `runs` deliveries to each, interleaved; one warm-up each."""
    times = {piped: [], maildir: []}
    for n in range(runs + 1):
        for recipient, seen in times.items():
            t = send(recipient, n)
            if n:
                seen.append(t)
    return [statistics.median(times[r]) * 1000 for r in (piped, maildir)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the mail servers deliver as another user")
    print(f"{'mail server':<10} {'to mailroom (ms)':>17} {'to a Maildir (ms)':>18}")
    for name, bench in [("Exim", exim), ("Postfix", postfix)]:
        with tempfile.TemporaryDirectory(prefix="mailroom-mta-bench-") as base:
            piped, maildir = bench(base, args.runs, *site(base))
            print(f"{name:<10} {piped:>17.1f} {maildir:>18.1f}")


if __name__ == "__main__":
    main()
