#!/usr/bin/python3
"""bench/reload_rss.py - the daemon's memory across SIGHUP reloads.

Starts BUILD/floodgated -d on loopback (the integration tests' Server from
tests/integration/conftest.py, with a fresh self-signed certificate), then
sends N SIGHUPs one after another, each waited for, with an SMTP session
held open across every tenth reload and closed ten reloads later.  Prints
the resident set size (VmRSS) after start, after a warm-up of 20 reloads,
and every 50 reloads after, as JSON.  A daemon that keeps old configs grows
by each config and TLS context; one that frees them stays flat.

    bench/reload_rss.py [--build build] [--reloads 300]"""
import argparse
import json
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_kib(pid):
    """VmRSS of PID in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--reloads", type=int, default=300)
    args = ap.parse_args()
    os.environ["FLOODGATE_BUILD"] = args.build
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    import conftest  # noqa: E402  (reads FLOODGATE_BUILD)

    tls, cert, key = conftest.new_tls_files()
    s = conftest.Server((cert, key))
    try:
        s.start()
        pid = s.proc.pid
        samples = {"start": rss_kib(pid)}
        held = []
        done = 0
        for i in range(1, args.reloads + 1):
            if i % 10 == 1:
                c = conftest.RawClient(s.ports["mx"])
                c.ehlo()
                held.append(c)
            s.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 30
            while len(re.findall(r"event=reload result=ok", s.log())) == done:
                if time.time() > deadline or s.proc.poll() is not None:
                    raise RuntimeError("no reload:\n" + s.log()[-2000:])
                time.sleep(0.005)
            done += 1
            if i % 10 == 0:
                for c in held:
                    c.cmd("QUIT")
                    c.close()
                held = []
            if i == 20 or i % 50 == 0:
                time.sleep(0.2)  # let the closed sessions go
                samples[f"after_{i}"] = rss_kib(pid)
        print(json.dumps({"build": args.build, "reloads": done, "rss_kib": samples}, indent=2))
        return 0 if s.stop() == 0 else 1
    finally:
        s.cleanup()
        shutil.rmtree(tls, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
