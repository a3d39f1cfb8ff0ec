#!/usr/bin/python3
"""bench/eod_latency.py - where a message's time goes at acceptance.

A loopback client in one thread drives SESSIONS sessions at once, as
smtp-source does (no pipelining, one message per connection, one recipient
at rcpt@bench.invalid, SIZE octets of body), and times each step of each
message: connect to 220, EHLO, MAIL, RCPT, DATA, the body with its final
dot to the 250 (end of DATA to 250: what the store costs, the figure the
acceptance target hangs on), QUIT.  Each server it is given is started
fresh (Floodgate builds: build/floodgated with bench/lib.py's config, as in
bench/run; optionally Postfix's smtp-sink, which stores nothing), in turn,
REPS times, rotating who goes first.  Per server: msg/s, the median and p90
of each step and p99 of end of DATA, server CPU (user + system of all its
threads) per message, and Floodgate's store jobs per commit.

The client's own CPU shows in every step alike; compare servers within one
run.  Figures only: nothing is asserted.

usage: bench/eod_latency.py [--sessions 10] [--messages 3000] [--size 10240]
         [--reps 3] [--sink] [--tmp DIR] [--json FILE] BUILD_DIR...
e.g.   bench/eod_latency.py --sink build /tmp/old/build"""
import argparse
import json
import os
import selectors
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402

STEPS = ("connect", "ehlo", "mail", "rcpt", "data", "eod", "quit")


class Session:
    """One connection of the client: its step, what it read, when the step began."""

    def __init__(self, port, commands):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.commands = commands
        self.step = 0
        self.buf = b""
        self.t0 = time.perf_counter()

    def reply(self):
        """The last line of a complete reply, or None while it is incomplete."""
        while b"\r\n" in self.buf:
            line, _, rest = self.buf.partition(b"\r\n")
            if line[3:4] == b"-":
                self.buf = rest
                continue
            self.buf = rest
            return line
        return None


def drive(port, sessions, count, size):
    """COUNT messages over SESSIONS parallel sessions; returns (seconds,
    {step: [seconds...]})."""
    body = b"Subject: eod latency\r\n\r\n"
    line = b"x" * 78 + b"\r\n"
    body += line * max(1, size // len(line)) + b".\r\n"
    commands = (b"EHLO client.bench.test\r\n", b"MAIL FROM:<sender@client.bench.test>\r\n",
                f"RCPT TO:<rcpt@{lib.BENCH_DOMAIN}>\r\n".encode(), b"DATA\r\n", body,
                b"QUIT\r\n")
    times = {k: [] for k in STEPS}
    sel = selectors.DefaultSelector()
    started = done = 0
    t_start = time.perf_counter()

    def open_one():
        nonlocal started
        s = Session(port, commands)
        sel.register(s.sock, selectors.EVENT_READ, s)
        started += 1

    for _ in range(min(sessions, count)):
        open_one()
    while done < count:
        for key, _ in sel.select(timeout=60):
            s = key.data
            chunk = s.sock.recv(65536)
            if not chunk:
                raise lib.BenchError(f"server closed a session at step {STEPS[s.step]}")
            s.buf += chunk
            r = s.reply()
            if r is None:
                continue
            now = time.perf_counter()
            if r[:1] not in b"23":
                raise lib.BenchError(f"step {STEPS[s.step]}: {r.decode(errors='replace')}")
            times[STEPS[s.step]].append(now - s.t0)
            s.step += 1
            if s.step == len(STEPS):
                sel.unregister(s.sock)
                s.sock.close()
                done += 1
                if started < count:
                    open_one()
                continue
            s.t0 = time.perf_counter()
            s.sock.sendall(s.commands[s.step - 1])
    return time.perf_counter() - t_start, times


def quantile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def run_floodgate(build, tmp, args):
    lib.Floodgate.binary = str(Path(build).resolve() / "floodgated")
    fg = lib.Floodgate(tmp)
    try:
        fg.start()
        cpu0 = lib.proc_cpu_seconds(fg.pid)
        elapsed, times = drive(fg.port, args.sessions, args.messages, args.size)
        cpu = lib.proc_cpu_seconds(fg.pid) - cpu0
        st = fg.status()
        batch = st["store_jobs"] / st["store_commits"] if st.get("store_commits") else 0.0
        return elapsed, times, cpu, batch
    finally:
        fg.stop(grace=3)
        fg.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builds", nargs="+", help="build directories holding floodgated")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--size", type=int, default=10 * 1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sink", action="store_true", help="also Postfix's smtp-sink")
    ap.add_argument("--tmp", help="directory for the state dirs (default: /tmp)")
    ap.add_argument("--json", help="write every sample's summary here")
    args = ap.parse_args()
    tmp = lib.make_tmpdir(args.tmp)
    names = list(args.builds) + (["smtp-sink"] if args.sink else [])
    res = {n: {"rates": [], "cpu": [], "batch": [], "times": {k: [] for k in STEPS}}
           for n in names}
    sink = lib.SmtpSink().start() if args.sink else None
    try:
        for rep in range(args.reps):
            k = rep % len(names)
            for name in names[k:] + names[:k]:
                if name == "smtp-sink":
                    cpu0 = lib.proc_cpu_seconds(sink.proc.pid)
                    elapsed, times = drive(sink.port, args.sessions, args.messages, args.size)
                    cpu, batch = lib.proc_cpu_seconds(sink.proc.pid) - cpu0, 0.0
                else:
                    elapsed, times, cpu, batch = run_floodgate(name, tmp, args)
                r = res[name]
                r["rates"].append(args.messages / elapsed)
                r["cpu"].append(cpu / args.messages)
                r["batch"].append(batch)
                for step in STEPS:
                    r["times"][step] += times[step]
                lib.log(f"rep {rep + 1} {name}: {args.messages / elapsed:.0f} msg/s, "
                        f"end of DATA to 250 median {1000 * statistics.median(times['eod']):.2f} ms")
    finally:
        if sink:
            sink.stop()
    print(f"\n{args.sessions} sessions, {args.messages} messages of {args.size} octets, "
          f"{args.reps} repetitions; ms: median/p90 per step (eod also p99)")
    print("| server | msg/s (median) | " + " | ".join(STEPS) + " | eod p99 | CPU ms/msg | jobs/commit |")
    print("| --- | ---: |" + " ---: |" * (len(STEPS) + 3))
    summary = {}
    for name in names:
        r = res[name]
        t = r["times"]
        cells = [f"{1000 * statistics.median(t[s]):.2f}/{1000 * quantile(t[s], 0.9):.2f}"
                 for s in STEPS]
        summary[name] = {
            "rate": statistics.median(r["rates"]), "rates": r["rates"],
            "cpu_ms_per_msg": 1000 * statistics.median(r["cpu"]),
            "jobs_per_commit": statistics.median(r["batch"]),
            "ms": {s: {"p50": 1000 * statistics.median(t[s]), "p90": 1000 * quantile(t[s], 0.9),
                       "p99": 1000 * quantile(t[s], 0.99)} for s in STEPS}}
        print(f"| {name} | {summary[name]['rate']:.0f} | " + " | ".join(cells)
              + f" | {summary[name]['ms']['eod']['p99']:.2f} | "
              f"{summary[name]['cpu_ms_per_msg']:.3f} | {summary[name]['jobs_per_commit']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
