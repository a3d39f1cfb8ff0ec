#!/usr/bin/python3
"""bench/alias_expansion.py - one message to a list of N local users.

A fresh Floodgate (bench/lib.py) with N users u00000..@example.test (made
straight in the store with one password hash: floodctl would spend an
argon2id hash on each) and an alias all@example.test of all of them, made
with 'floodctl alias add --from-file'.  Then, timed:

  alias_add   floodctl alias add all@... --from-file (N targets, one transaction)
  rcpt        RCPT TO:<all@...>: the expansion (one query, dedup), on a lookup
              thread (smtp/lookup.c; on the event loop before issue 13 item 2)
  data        DATA to 250: the committer writing the envelope and N recipients
  deliver     250 to the last of the N Maildirs written (the scheduler's local jobs)
  noop_max    the slowest NOOP of a second, idle session during RCPT and DATA:
              what the expansion costs everyone else on the event loop

Figures are for a person to read; nothing is asserted.
usage: bench/alias_expansion.py [--users N] [--runs R] [--out FILE]"""
import argparse
import json
import shutil
import smtplib
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lib import Floodgate, log, make_tmpdir  # noqa: E402

DOMAIN = "example.test"


def add_users(fg, n):
    """N users in the store with one hash (the daemon is running: WAL)."""
    fg.ctl("domain", "add", DOMAIN)
    fg.ctl("user", "add", f"seed@{DOMAIN}", input="Qv7-Harbor-Lantern-93\n")
    db = sqlite3.connect(str(fg.state / "store.db"), timeout=30)
    with db:
        h = db.execute("SELECT password FROM users WHERE address = ?",
                       (f"seed@{DOMAIN}",)).fetchone()[0]
        now = int(time.time())
        db.executemany("INSERT INTO users(address, domain, password, created) VALUES(?,?,?,?)",
                       ((f"u{i:05d}@{DOMAIN}", DOMAIN, h, now) for i in range(n)))
    db.close()
    return [f"u{i:05d}@{DOMAIN}" for i in range(n)]


def new_dir(fg, user):
    """USER's Maildir/new."""
    return fg.state / "mail" / DOMAIN / user.split("@")[0] / "Maildir" / "new"


class NoopProbe(threading.Thread):
    """An idle session sending NOOP back to back; the slowest reply seen."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.c = smtplib.SMTP("127.0.0.1", port, timeout=120)
        self.c.ehlo("probe.test")
        self.worst = 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.perf_counter()
            self.c.noop()
            self.worst = max(self.worst, time.perf_counter() - t0)
            time.sleep(0.002)


def one_run(fg, users, tag):
    """Send one message to all@, return the timings."""
    probe = NoopProbe(fg.port)
    probe.start()
    body = (f"From: boss@{DOMAIN}\r\nTo: all@{DOMAIN}\r\nSubject: {tag}\r\n\r\n"
            + "Staff meeting at ten.\r\n" * 40).encode()
    with smtplib.SMTP("127.0.0.1", fg.port, timeout=600) as c:
        c.ehlo("bench.test")
        c.mail(f"boss@{DOMAIN}")
        t0 = time.perf_counter()
        code, _ = c.rcpt(f"all@{DOMAIN}")
        t1 = time.perf_counter()
        code2, _ = c.data(body)
        t2 = time.perf_counter()
    probe.stop.set()
    probe.join()
    if code != 250 or code2 != 250:
        raise SystemExit(f"RCPT {code} / DATA {code2}")
    deadline = time.time() + 1800
    pending = list(users)
    while pending and time.time() < deadline:
        pending = [u for u in pending if not any(new_dir(fg, u).glob("*"))]
        if pending:
            time.sleep(0.5)
    t3 = time.perf_counter()
    if pending:
        raise SystemExit(f"{len(pending)} Maildirs never got the message (first {pending[0]})")
    return {"rcpt": t1 - t0, "data": t2 - t1, "deliver": t3 - t2, "noop_max": probe.worst}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args()
    tmp = make_tmpdir()
    fg = Floodgate(tmp, tag="alias", extra="").start()
    try:
        users = add_users(fg, a.users)
        lst = Path(tmp) / "all.txt"
        lst.write_text("\n".join(users) + "\n")
        t0 = time.perf_counter()
        fg.ctl("alias", "add", f"all@{DOMAIN}", "--from-file", str(lst))
        alias_add = time.perf_counter() - t0
        log(f"{a.users} users, alias made in {alias_add:.2f} s")
        runs = []
        for r in range(a.runs):
            res = one_run(fg, users, f"run {r}")
            log(f"run {r}: " + ", ".join(f"{k} {v:.3f} s" for k, v in res.items()))
            runs.append(res)
            # the next run starts from empty Maildirs' worth of work again
            for u in users:
                for f in new_dir(fg, u).glob("*"):
                    f.unlink()
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        report = {"users": a.users, "runs": a.runs, "alias_add": alias_add, "median": med,
                  "all": runs}
        print(json.dumps(report, indent=2))
        if a.out:
            Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    finally:
        fg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
