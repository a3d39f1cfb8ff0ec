#!/usr/bin/env python3
"""bench/web_scrape.py - /metrics and the first queue page on a big queue,
and the SMTP event loop while they are read (issue 16's target).

Fills a fresh store with N queued messages (default 1,000,000, built by
queue_scale.fill: one account sent 90% of them; delivery paused), starts
the daemon with the web server (web { } with a metrics and an API token)
and keeps one SMTP session sending NOOP after NOOP (bench/noop_latency.py's
prober).  Then, one after the other, each REPS times back to back:

  GET /metrics                         (the scrape: status, the queue by
                                        state, the registry)
  GET /api/v1/queue?limit=50           (the first page of the queue list)
  GET /api/v1/queue/top?by=auth-user   (the page's "who sends" box)

and finally a Prometheus-like load: /metrics every second for SCRAPE
seconds while the first page is asked every 2 s.

For each: the HTTP answer times (median, max) and the NOOP latencies from
its start until TAIL s after it (count, p50, p99, max, seconds waiting
longer than 10 ms).  Targets (issue 16): /metrics and the first queue page
answer in < 1 s; the NOOPs stay in the "one house" bar of noop_latency.py
(p99 < 10 ms, max < 50 ms).  Read by a person, never asserted; the script
fails only when something cannot run.

With --quiet S the NOOPs are also measured for S seconds with no request
before the first request and after the last ("nothing" rows): the noise
floor the machine gives at that moment, to read the windows against.

usage: bench/web_scrape.py [--messages N] [--quick] [--reps R] [--scrape S] [--quiet S]
                           [--out FILE]
       (--quick: 20,000 messages, 3 repetitions, 5 s of scraping: a smoke run)
Do not run the 1,000,000 version on a shared machine while others test:
filling and counting a million rows takes both cores for minutes."""
import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lib import free_port  # noqa: E402
from noop_latency import NoopSession, summary, TARGET_MAX_MS, TARGET_P99_MS  # noqa: E402
from queue_scale import filled_daemon, stop_daemon  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
TARGET_HTTP_S = 1.0
PAGES = [
    ("GET /metrics", "/metrics"),
    ("GET /api/v1/queue?limit=50", "/api/v1/queue?limit=50"),
    ("GET /api/v1/queue/top?by=auth-user", "/api/v1/queue/top?by=auth-user"),
]


def fetch(port, path):
    """PATH's answer time in seconds (the whole body read); fails on a non-200."""
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    r = c.getresponse()
    body = r.read()
    c.close()
    dt = time.perf_counter() - t0
    if r.status != 200:
        raise SystemExit(f"GET {path}: {r.status} {body[:200]!r}")
    return dt, len(body)


def row(noop, label, t0, t1, times, sizes):
    """The window's row: its HTTP answer times and the NOOPs sent in it."""
    extra = {"http_median_s": round(statistics.median(times), 3),
             "http_max_s": round(max(times), 3), "requests": len(times),
             "body_octets": max(sizes)}
    extra["http_met"] = extra["http_max_s"] < TARGET_HTTP_S
    return summary(label, noop.between(t0, t1), t1 - t0, extra)


def table(rows, n):
    out = [f"/metrics and the queue's first page with {n:,} queued messages, and the NOOP "
           f"latency of an open SMTP session meanwhile (targets: HTTP < {TARGET_HTTP_S:g} s; "
           f"NOOP max < {TARGET_MAX_MS} ms, p99 < {TARGET_P99_MS} ms)",
           "| while | requests | HTTP median s | HTTP max s | NOOPs | NOOP p50 ms | "
           "NOOP p99 ms | NOOP max ms | NOOPs waiting > 10 ms, s | met? |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if r["command"] == "nothing":
            out.append(f"| nothing | — | — | — | {r['noops']:,} | {r['p50_ms']:.1f} | "
                       f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['stalled_s']:.2f} | — |")
            continue
        met = "yes" if r["met"] and r["http_met"] else "**NO**"
        out.append(f"| {r['command']} | {r['requests']} | {r['http_median_s']:.3f} | "
                   f"{r['http_max_s']:.3f} | {r['noops']:,} | {r['p50_ms']:.1f} | "
                   f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['stalled_s']:.2f} | {met} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="20,000 messages: a smoke run")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--scrape", type=float, default=30.0,
                    help="seconds of the Prometheus-like load")
    ap.add_argument("--tail", type=float, default=2.0)
    ap.add_argument("--quiet", type=float, default=3.0,
                    help="seconds of NOOPs without requests before (and with more than the "
                    "default, also after) the requests")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "web_scrape.json"))
    a = ap.parse_args()
    n, reps, scrape = (20_000, 3, 5.0) if a.quick else (a.messages, a.reps, a.scrape)
    base = Path(tempfile.mkdtemp(prefix="fg-web-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    os.chmod(base, 0o755)
    web_port = free_port()
    extra = (f'web = {{ address = "127.0.0.1:{web_port}"; metrics_token = "{TOKEN}"; '
             f'api_token = "{TOKEN}"; }};')
    proc = noop = None
    try:
        proc, conf, state, port, fill_s = filled_daemon(base, n, extra)
        fetch(web_port, "/metrics")  # the web server answers
        noop = NoopSession(port)
        noop.start()
        time.sleep(1)
        t0 = time.perf_counter()
        time.sleep(a.quiet)
        quiet = (t0, time.perf_counter())
        windows = []  # (label, t0, t1, answer times, body sizes)
        for label, path in PAGES:
            t0 = time.perf_counter()
            got = [fetch(web_port, path) for _ in range(reps)]
            time.sleep(a.tail)
            windows.append((label, t0, time.perf_counter(), [g[0] for g in got],
                            [g[1] for g in got]))
            print(f"{label}: {[round(g[0], 3) for g in got]} s", file=sys.stderr, flush=True)
        # Prometheus every second, an admin paging every 2 s
        t0 = time.perf_counter()
        times, sizes, k = [], [], 0
        while time.perf_counter() - t0 < scrape:
            tick = time.perf_counter()
            for path in ["/metrics"] + (["/api/v1/queue?limit=50"] if k % 2 == 0 else []):
                dt, size = fetch(web_port, path)
                times.append(dt)
                sizes.append(size)
            k += 1
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
        time.sleep(a.tail)
        windows.append((f"scraped every 1 s + first page every 2 s, {scrape:g} s", t0,
                        time.perf_counter(), times, sizes))
        quiet_after = None
        if a.quiet > 3.0:
            t0 = time.perf_counter()
            time.sleep(a.quiet)
            quiet_after = (t0, time.perf_counter())
        noop.stop()
        if noop.error:
            raise SystemExit(f"the NOOP session failed: {noop.error}")
        rows = [summary("nothing", noop.between(*quiet), quiet[1] - quiet[0])]
        rows += [row(noop, *w) for w in windows]
        if quiet_after:
            rows.append(summary("nothing", noop.between(*quiet_after),
                                quiet_after[1] - quiet_after[0]))
        result = {"messages": n, "fill_seconds": round(fill_s, 1), "reconnects": noop.reconnects,
                  "rows": rows, "loadavg": os.getloadavg()}
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
        print(table(rows, n))
        print(f"(load average at the end: {os.getloadavg()[0]:.1f}; filling took {fill_s:.0f} s)")
    finally:
        if noop and noop.alive():
            noop.stop()
        stop_daemon(proc)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
