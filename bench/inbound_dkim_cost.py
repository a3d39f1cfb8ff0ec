#!/usr/bin/python3
"""bench/inbound_dkim_cost.py - the daemon's CPU per signed message that an
outside client sends to the MX listener, with inbound DKIM verification
off and on.

One loopback DNS server (bench/lib.py DNSServer) publishes an RSA 2048
key at sel._domainkey.signed.bench; N messages of about 1 KB, each signed
by dkimpy (relaxed/relaxed) before the clock starts, go in ONE session
from 127.0.0.2 (not a trusted address, so the inbound checks apply) to a
local mailbox.  The figure is the daemon's CPU (utime + stime, /proc)
from before the first message until the last one is delivered, divided
by N, for each BINARY (e.g. one built before a change and one after),
with `inbound = { dkim = true; }` and with no inbound check, alternating
which runs first; the median of REPS runs.  The machine's load average is
printed with the figures: CPU time is less sensitive to a shared machine
than wall time, not insensitive (caches, frequency).

    bench/inbound_dkim_cost.py [--binary NAME=PATH ...] [--messages 300] [--reps 3]

Default binary: build/floodgated."""
import argparse
import base64
import json
import os
import shutil
import smtplib
import statistics
import subprocess
import time
from pathlib import Path

import lib
from lib import log

USER = "u@local.bench"
DOMAIN = "signed.bench"
MODES = {"off": "detector = { enabled = false; };",
         "dkim": "inbound = { dkim = true; }; detector = { enabled = false; };"}


def make_key(tmp):
    """An RSA 2048 key: (private PEM bytes, the p= of its DNS record)."""
    pem = Path(tmp) / "k.pem"
    lib.run(["openssl", "genrsa", "-traditional", "-out", str(pem), "2048"])
    der = subprocess.run(["openssl", "rsa", "-in", str(pem), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return pem.read_bytes(), base64.b64encode(der).decode()


def messages(key, n):
    """N signed messages of about 1 KB, each with its own Message-ID."""
    import dkim
    body = ("The figures for the quarter are attached below.\r\n" * 20).encode()
    out = []
    for i in range(n):
        msg = (f"From: a@{DOMAIN}\r\nTo: {USER}\r\nSubject: bench {i}\r\n"
               f"Message-ID: <{i}.{time.time_ns()}@{DOMAIN}>\r\n"
               "Date: Mon, 07 Dec 2026 01:00:00 +0000\r\n\r\n").encode() + body
        sig = dkim.sign(msg, b"sel", DOMAIN.encode(), key[0],
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                        linesep=b"\r\n")
        out.append(sig + msg)
    return out


def once(tmp, binary, mode, dns, msgs):
    """One fresh daemon (BINARY, MODE): CPU ms per message."""
    lib.Floodgate.binary = binary
    fg = lib.Floodgate(tmp, f"fg-{mode}", dns=dns.endpoint, extra=MODES[mode])
    try:
        fg.start()
        fg.add_users({USER: "bench-password-1"})
        time.sleep(1)  # the start's own work (store, threads) settles
        cpu0 = lib.proc_cpu_seconds(fg.pid)
        c = smtplib.SMTP("127.0.0.1", fg.port, source_address=("127.0.0.2", 0), timeout=60)
        c.ehlo("client.bench")
        for m in msgs:
            c.sendmail(f"a@{DOMAIN}", [USER], m)
        c.quit()
        deadline = time.time() + 300
        while fg.log_count(r"event=delivered\b") < len(msgs):
            fg.alive()
            if time.time() > deadline:
                raise lib.BenchError(f"{mode}: not all delivered\n{fg.log_tail()}")
            time.sleep(0.05)
        cpu = lib.proc_cpu_seconds(fg.pid) - cpu0
        verified = fg.log_count(r"check=dkim result=pass")
        if mode == "dkim" and verified != len(msgs):
            raise lib.BenchError(f"{verified} of {len(msgs)} verified\n{fg.log_tail()}")
        return 1000 * cpu / len(msgs)
    finally:
        fg.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", action="append", default=[],
                    help="NAME=PATH of a floodgated (several to compare)")
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    binaries = dict(b.split("=", 1) for b in args.binary) or \
        {"build": str(lib.ROOT / "build" / "floodgated")}
    tmp = lib.make_tmpdir()
    key = make_key(tmp)
    dns = lib.DNSServer({(f"sel._domainkey.{DOMAIN}.", "TXT"): [f"v=DKIM1; k=rsa; p={key[1]}"]
                         }).start()
    try:
        msgs = messages(key, args.messages)
        runs = {(b, m): [] for b in binaries for m in MODES}
        for k in range(args.reps):
            order = [(b, m) for b in binaries for m in MODES]
            for b, m in (order if k % 2 == 0 else order[::-1]):
                ms = once(tmp, binaries[b], m, dns, msgs)
                log(f"{b} {m}: {ms:.3f} ms CPU/msg")
                runs[(b, m)].append(ms)
        result = {"messages": args.messages, "reps": args.reps,
                  "loadavg_at_end": os.getloadavg(),
                  "ms_cpu_per_message": {f"{b} {m}": round(statistics.median(v), 3)
                                         for (b, m), v in runs.items()},
                  "runs": {f"{b} {m}": [round(x, 3) for x in v] for (b, m), v in runs.items()}}
        for b in binaries:
            result["ms_cpu_per_message"][f"{b} dkim-off"] = round(
                statistics.median(runs[(b, "dkim")]) - statistics.median(runs[(b, "off")]), 3)
        print(json.dumps(result, indent=1))
    finally:
        dns.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
