#!/usr/bin/env python3
"""bench/noop_latency.py - does an admin command stall the daemon's event loop?

One SMTP session stays open and sends NOOP after NOOP (each waits for its
250, then the next goes out 2 ms later) while floodctl runs, one after the
other, on a store of N queued messages (default 1,000,000, built by
queue_scale.fill: one account sent 90% of them; delivery paused):

  queue top --by auth-user        (3 times; the daemon answers it)
  queue list --limit 100          (3 times; the daemon answers it: the 100
                                   oldest of the whole queue)
  queue hold --all                (floodctl changes the store in batches,
                                   then tells the daemon to look again)
  queue release --all             (the same, every recipient due again)

A NOOP touches neither disk nor store: its latency is the time the event
loop took to come back to the session, so any SQLite work the loop does
meanwhile shows in it.  For each command: its wall time and the NOOP
latencies (count, p50, p99, max) from its start until TAIL seconds after
it ended (the daemon's own work after floodctl's "look again" is part of
the command's cost), and the seconds NOOPs spent waiting longer than
10 ms: the prober sends the next NOOP only after the reply, so a loop
stalled for 5 s delays one NOOP by 5 s and the p99 of many quick ones
hides it; the max and the stalled seconds do not.  A first row has NOOPs
with nothing else running.  Every sample is kept in the JSON output.

Targets (issue 13, item 2: database work off the event loop): max < 50 ms,
p99 < 10 ms for every command.  Read by a person from the report, never
asserted; the script fails only when something cannot run (daemon, floodctl,
the NOOP session).
usage: bench/noop_latency.py [--messages N] [--quick] [--tail S] [--out FILE]"""
import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lib import percentile  # noqa: E402
from queue_scale import JACK, ctl, filled_daemon, stop_daemon  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_MAX_MS = 50
TARGET_P99_MS = 10
# (label, floodctl arguments, times run back to back)
COMMANDS = [
    ("queue top --by auth-user", ["queue", "top", "--by", "auth-user", "--json"], 3),
    ("queue list --limit 100", ["queue", "list", "--limit", "100", "--json"], 3),
    ("queue hold --all", ["queue", "hold", "--all", "--reason", "bench", "--json"], 1),
    ("queue release --all", ["queue", "release", "--all", "--reason", "bench", "--json"], 1),
]


class NoopSession(threading.Thread):
    """One SMTP session on 127.0.0.1:PORT sending NOOP every INTERVAL
    seconds after the previous reply; .samples holds (perf_counter at the
    send, seconds to the 250).  A session the server closes is opened again
    (counted in .reconnects; the connect is not a sample)."""

    def __init__(self, port, interval=0.002):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.samples, self.reconnects, self.error = [], 0, None
        self.stop = threading.Event()
        self.sock, self.buf = None, b""

    def _reply(self):
        """The next complete reply (the last line has a space after the code)."""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("the server closed the session")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if len(line) < 4 or line[3:4] != b"-":
                return line

    def _open(self):
        if self.sock:
            self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        for send in (None, b"EHLO noop.bench.test\r\n"):
            if send:
                self.sock.sendall(send)
            line = self._reply()
            if not line.startswith(b"2"):
                raise ConnectionError(f"no 2xx but {line[:100]!r}")

    def run(self):
        try:
            self._open()
            while not self.stop.is_set():
                t0 = time.perf_counter()
                try:
                    self.sock.sendall(b"NOOP\r\n")
                    line = self._reply()
                except (ConnectionError, socket.timeout, OSError):
                    self.reconnects += 1
                    self._open()
                    continue
                dt = time.perf_counter() - t0
                if not line.startswith(b"250"):
                    raise ConnectionError(f"NOOP answered {line[:100]!r}")
                self.samples.append((t0, dt))
                time.sleep(self.interval)
            self.sock.sendall(b"QUIT\r\n")
        except Exception as e:  # noqa: BLE001 - reported by main
            self.error = f"{type(e).__name__}: {e}"
        finally:
            if self.sock:
                self.sock.close()

    def between(self, t0, t1):
        return [dt for t, dt in self.samples if t0 <= t < t1]


def summary(label, lat, seconds, extra=None):
    ms = [x * 1000 for x in lat]
    row = {"command": label, "seconds": round(seconds, 3), "noops": len(ms),
           "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2),
           "max_ms": round(max(ms, default=float("nan")), 2),
           "stalled_s": round(sum(x for x in ms if x > TARGET_P99_MS) / 1000, 3),
           "samples_ms": [round(x, 3) for x in ms]}
    row["met"] = bool(ms) and row["max_ms"] < TARGET_MAX_MS and row["p99_ms"] < TARGET_P99_MS
    if extra:
        row.update(extra)
    return row


def table(rows, n):
    out = [f"NOOP latency of an open session, {n:,} queued messages "
           f"(targets: max < {TARGET_MAX_MS} ms, p99 < {TARGET_P99_MS} ms)",
           "| while | command wall time, s | NOOPs | p50 ms | p99 ms | max ms "
           f"| NOOPs waiting > {TARGET_P99_MS} ms, s | met? |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        met = "—" if r["command"] == "nothing" else ("yes" if r["met"] else "**NO**")
        out.append(f"| {r['command']} | {r['seconds']:.2f} | {r['noops']:,} | {r['p50_ms']:.1f} | "
                   f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['stalled_s']:.2f} | {met} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="20,000 messages: a smoke run")
    ap.add_argument("--tail", type=float, default=2.0,
                    help="seconds after a command ended that still count as its own")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "noop_latency.json"))
    a = ap.parse_args()
    n = 20_000 if a.quick else a.messages
    base = Path(tempfile.mkdtemp(prefix="fg-noop-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    os.chmod(base, 0o755)
    proc = noop = None
    try:
        proc, conf, state, port, fill_s = filled_daemon(base, n)
        noop = NoopSession(port)
        noop.start()
        time.sleep(1)  # the session is open and warm
        t0 = time.perf_counter()
        time.sleep(3)
        rows = [summary("nothing", noop.between(t0, time.perf_counter()), 3.0)]
        for label, args, times in COMMANDS:
            t0 = time.perf_counter()
            results = [ctl(conf, *args) for _ in range(times)]
            took = time.perf_counter() - t0
            time.sleep(a.tail)
            if noop.error or not noop.is_alive():
                raise SystemExit(f"the NOOP session failed: {noop.error}")
            out = results[-1][0].stdout
            extra = {"runs": times, "each_s": [round(dt, 3) for _, dt in results]}
            if "hold" in args or "release" in args:
                extra["messages"] = json.loads(out)["messages"]
            rows.append(summary(label, noop.between(t0, time.perf_counter()), took, extra))
            print(f"{label}: " + json.dumps({k: v for k, v in rows[-1].items()
                                             if k != "samples_ms"}), file=sys.stderr, flush=True)
        noop.stop.set()
        noop.join(30)
        if noop.error:
            raise SystemExit(f"the NOOP session failed: {noop.error}")
        held = rows[3].get("messages", 0)
        if held < n:
            raise SystemExit(f"queue hold --all held {held} messages of {n}")
        result = {"messages": n, "fill_seconds": round(fill_s, 1), "tail_seconds": a.tail,
                  "reconnects": noop.reconnects, "jack": JACK, "rows": rows,
                  "loadavg": os.getloadavg()}
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
        print(table(rows, n))
        if noop.reconnects:
            print(f"(the server closed the NOOP session {noop.reconnects} time(s); "
                  "reconnected, connects not counted)")
    finally:
        if noop and noop.is_alive():
            noop.stop.set()
        stop_daemon(proc)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
