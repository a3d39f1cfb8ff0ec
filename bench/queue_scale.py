#!/usr/bin/env python3
"""bench/queue_scale.py - the admin tools on an outbreak-sized queue.

Fills a fresh store with N queued messages (default 1,000,000): one account,
jack, sent 90% of them with ever-changing From addresses from a few outside
IPs; the rest is legitimate mail from 50 other users.  Outbound delivery is
paused, as an admin would have it.  Then, with the real daemon running:

  - `floodctl queue top --by auth-user`              (target: < 1 s)
  - `floodctl queue list --auth-user jack --limit 100` (target: < 1 s)
  - `floodctl queue quarantine --auth-user jack`     (target: < 60 s for 90%)
    while a client keeps submitting other mail to a local user; its
    per-message latency (connect to 250) is reported.

Before the quarantine the filesystem is flushed and left alone for
--settle seconds (65 by default, 0 with --quick): ext4 without a journal
(as on this machine) will not reuse an inode freed in the last minute (five
while its inode table is not yet written back), and a creation walks past
every such inode, so a million files deleted just before (the previous
run's) would be measured instead of the quarantine.

Targets are read by a person from the report, never asserted.
usage: bench/queue_scale.py [--messages N] [--quick] [--settle S] [--out FILE]"""
import argparse
import json
import os
import random
import shutil
import signal
import smtplib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from lib import free_port

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / os.environ.get("FLOODGATE_BUILD", "build")
JACK = "jack@example.test"


def write_config(base, port, extra=""):
    state = base / "state"
    user = 'user = "nobody";' if os.geteuid() == 0 else ""
    conf = base / "floodgate.conf"
    conf.write_text(f"""
hostname = "mail.example.test";
state_dir = "{state}";
{user}
listeners = ( {{ name = "mx"; address = "127.0.0.1:{port}"; tls = "none"; auth = "off"; }} );
limits = {{ max_connections = 1000; }};
dns = {{ servers = [ "127.0.0.1:{free_port()}" ]; }};
{extra}
""")
    return conf, state


def run_daemon(conf):
    proc = subprocess.Popen([str(BUILD / "floodgated"), "-d", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def wait_socket(state, timeout=60):
    deadline = time.time() + timeout
    while not (state / "control.sock").exists():
        if time.time() > deadline:
            raise SystemExit("floodgated did not start")
        time.sleep(0.05)


def ctl(conf, *args, check=True):
    env = dict(os.environ, FLOODGATE_CONFIG=str(conf))
    t0 = time.monotonic()
    r = subprocess.run([str(BUILD / "floodctl"), *args], env=env, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if check and r.returncode != 0:
        raise SystemExit(f"floodctl {' '.join(args)}: {r.stdout}{r.stderr}")
    return r, dt


def fill(db_path, n, seed=7):
    """N queued messages straight into the store, in the daemon's schema."""
    rnd = random.Random(seed)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # filling a test store, not taking mail
    now = int(time.time())
    body = ("Subject: x\r\nFrom: x\r\n\r\n" + "lorem ipsum dolor sit amet " * 36 + "\r\n").encode()
    spam_ips = ["203.0.113.7", "203.0.113.8", "198.51.100.23"]
    rcpt_domains = ["yahoo.test", "aol.test", "hotmail.test"] + [f"d{i}.test" for i in range(200)]
    others = [f"user{i}@example.test" for i in range(50)]
    db.execute("INSERT OR IGNORE INTO domains(name, created) VALUES('example.test', ?)", (now,))
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('pause:delivery', '1')")
    batch_m, batch_r, batch_b = [], [], []
    for i in range(n):
        qid = f"{now - n + i:09X}{i:07X}"[-16:]
        spam = rnd.random() < 0.9
        user = JACK if spam else rnd.choice(others)
        hfrom = f"{rnd.getrandbits(40):x}@{rnd.choice(rcpt_domains)}" if spam else user
        ip = rnd.choice(spam_ips) if spam else f"192.168.1.{rnd.randint(2, 250)}"
        dom = rnd.choice(rcpt_domains)
        created = now - (n - i) // 20
        batch_m.append((qid, created, len(body), hfrom, user, ip, 40000 + i % 20000, "pc",
                        "submission", hfrom, f"offer {rnd.getrandbits(16)}" if spam else "minutes",
                        f"<{qid}@example.test>"))
        batch_r.append((qid, f"r{rnd.getrandbits(32):x}@{dom}", dom, f"r@{dom}", 0, "deferred",
                        now + 3600, 1, "451 4.7.1 try again later", now))
        batch_b.append((qid, body))
        if len(batch_m) == 20000 or i == n - 1:
            db.executemany("INSERT INTO messages(id, created, size, sender, auth_user, client_ip,"
                           " client_port, helo, listener, header_from, subject, message_id)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", batch_m)
            db.executemany("INSERT INTO recipients(message, address, domain, orig, local, state,"
                           " next_try, attempts, last_error, updated) VALUES(?,?,?,?,?,?,?,?,?,?)",
                           batch_r)
            db.executemany("INSERT INTO bodies(message, data) VALUES(?,?)", batch_b)
            db.commit()
            batch_m, batch_r, batch_b = [], [], []
            print(f"\rfilled {i + 1}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def filled_daemon(base, n, extra=""):
    """A daemon on a free port whose store holds N queued messages (fill),
    in BASE (EXTRA: more config, e.g. a web section); returns (process,
    config, state dir, port, seconds to fill)."""
    port = free_port()
    conf, state = write_config(base, port, extra)
    proc = run_daemon(conf)  # creates the store and its schema
    try:
        wait_socket(state)
        ctl(conf, "domain", "add", "example.test")
    finally:
        stop_daemon(proc)
    t0 = time.monotonic()
    fill(state / "store.db", n)
    fill_s = time.monotonic() - t0
    if os.geteuid() == 0:
        shutil.chown(state / "store.db", "nobody")
    proc = run_daemon(conf)
    try:
        wait_socket(state)
    except BaseException:
        stop_daemon(proc)
        raise
    return proc, conf, state, port, fill_s


def stop_daemon(proc):
    """SIGTERM, then SIGKILL after 60 s."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Prober(threading.Thread):
    """Submits one message every INTERVAL seconds to a local user and
    records each one's latency (connect to 250)."""

    def __init__(self, port, interval=0.05):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.latencies, self.failures = [], 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
                    s.sendmail("probe@remote.test", ["postmaster@example.test"],
                               b"Subject: probe\r\n\r\nprobe\r\n")
                self.latencies.append(time.monotonic() - t0)
            except (OSError, smtplib.SMTPException):
                self.failures += 1
            self.stop.wait(self.interval)


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="20,000 messages: a smoke run")
    ap.add_argument("--settle", type=float, help="seconds of quiet before the quarantine")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "queue_scale.json"))
    a = ap.parse_args()
    settle = a.settle if a.settle is not None else 0 if a.quick else 65
    n = 20_000 if a.quick else a.messages
    base = Path(tempfile.mkdtemp(prefix="fg-qscale-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    os.chmod(base, 0o755)
    proc = None
    try:
        proc, conf, state, port, fill_s = filled_daemon(base, n)
        # a local recipient for the probe traffic
        subprocess.run([str(BUILD / "floodctl"), "user", "add", "postmaster@example.test"],
                       input="probe-Password-2026\n", text=True, check=True, capture_output=True,
                       env=dict(os.environ, FLOODGATE_CONFIG=str(conf)))
        top = [ctl(conf, "queue", "top", "--by", "auth-user", "--json")[1] for _ in range(3)]
        lst = [ctl(conf, "queue", "list", "--auth-user", JACK, "--limit", "100", "--json")[1]
               for _ in range(3)]
        jack = json.loads(ctl(conf, "queue", "top", "--by", "auth-user", "--json")[0].stdout)[0]
        os.sync()
        time.sleep(settle)
        idle = Prober(port)
        idle.start()
        time.sleep(2)
        idle.stop.set()
        idle.join()
        probe = Prober(port)
        probe.start()
        r, quarantine_s = ctl(conf, "queue", "quarantine", "--auth-user", JACK, "--reason",
                              "bench: compromised account", "--json")
        probe.stop.set()
        probe.join()
        moved = json.loads(r.stdout)["messages"]
        files = sum(len(os.listdir(d)) for d in (state / "quarantine").iterdir())
        result = {
            "messages": n, "fill_seconds": round(fill_s, 1), "settle_seconds": settle,
            "top_seconds_median": round(statistics.median(top), 3),
            "list_seconds_median": round(statistics.median(lst), 3),
            "top_first_group": jack,
            "quarantined": moved, "quarantine_files": files,
            "quarantine_seconds": round(quarantine_s, 1),
            "quarantine_rate": round(moved / quarantine_s) if quarantine_s else None,
            "probe_idle_ms": {"p50": round(pct(idle.latencies, 50) * 1000, 1),
                              "p99": round(pct(idle.latencies, 99) * 1000, 1)},
            "probe_during_ms": {"n": len(probe.latencies), "failures": probe.failures,
                                "p50": round(pct(probe.latencies, 50) * 1000, 1),
                                "p99": round(pct(probe.latencies, 99) * 1000, 1),
                                "max": round(max(probe.latencies, default=0) * 1000, 1)},
        }
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        if moved != files or moved < 0.85 * n:
            raise SystemExit(f"quarantine moved {moved} messages, {files} files: expected ~{int(0.9 * n)}")
    finally:
        stop_daemon(proc)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
