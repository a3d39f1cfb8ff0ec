#!/usr/bin/python3
"""bench/authload.py - SMTP load that speaks AUTH, for bench/run (smtp-source
cannot authenticate).  Runs as a process of its own, so that its CPU and its
event loop are not those of the client whose latency bench/run measures.
Speaks to 127.0.0.1 only.  Prints one JSON object on stdout when it is done.

    authload.py flood --port P --user U --password W [--sessions N]
                [--seconds S] [--measure-from M] [--size OCTETS] [--source IP]
        N sessions, each: connect, EHLO, AUTH PLAIN, then MAIL/RCPT/DATA one
        message after another on the same connection as fast as the server
        answers (a stolen password in a spam cannon), reconnecting (and
        authenticating again) when the server closes.  Stops after S seconds;
        "measured" counts the messages accepted after M seconds.

    authload.py guess --port P --user U [--sessions N] [--seconds S] [--source IP]
        N sessions, each: connect, EHLO, then AUTH PLAIN with a wrong password
        again and again (a password-guessing attack), reconnecting whenever
        the server closes.  Counts the 535 replies, and those received before
        the first time the server turned a connection away (a 421 greeting,
        a refused or reset connection, or a close before any greeting): with
        anti-hammering, that is the ban.

Plain SMTP, one command at a time (no PIPELINING), no TLS."""
import argparse
import asyncio
import base64
import json
import os
import resource
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 60.0
RCPT = "rcpt@bench.invalid"


class Closed(Exception):
    """The server closed the connection (EOF)."""


async def reply(reader):
    """One SMTP reply: (code, text of the last line)."""
    while True:
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
        if not line:
            raise Closed()
        if len(line) < 4 or line[3:4] != b"-":
            try:
                return int(line[:3]), line.decode(errors="replace").strip()
            except ValueError:
                return 0, line.decode(errors="replace").strip()


async def command(reader, writer, line):
    writer.write(line + b"\r\n")
    return await reply(reader)


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())


def body(user, size):
    head = (f"From: <{user}>\r\nTo: <{RCPT}>\r\nSubject: bench flood\r\n"
            "Message-ID: <{id}@authload.bench.test>\r\n\r\n")
    lines = ("x" * 72 + "\r\n") * max(1, size // 74)
    return head, lines.encode() + b".\r\n"


def bump(d, key):
    d[key] = d.get(key, 0) + 1


async def close(writer):
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 5)
    except (OSError, asyncio.TimeoutError):
        pass


async def open_session(args):
    return await asyncio.wait_for(
        asyncio.open_connection(HOST, args.port, local_addr=(args.source, 0)), TIMEOUT)


async def run_sessions(args, st, session):
    """Run ARGS.sessions copies of SESSION(args, st, t0, deadline, serial)
    for ARGS.seconds, counting into ST; at the deadline (plus a grace for a
    reply in flight) cancel those still waiting, so that a server slow to
    answer does not stretch the run.  Returns ST with "seconds"."""
    t0 = time.perf_counter()
    deadline = t0 + args.seconds
    tasks = [asyncio.ensure_future(session(args, st, t0, deadline, i))
             for i in range(args.sessions)]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.perf_counter()) + 0.5)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    st["seconds"] = time.perf_counter() - t0
    return st


# --------------------------------------------------------------------------
# flood: one account submits as fast as it can

async def flood_session(args, st, t0, deadline, serial):
    head, tail = body(args.user, args.size)
    n = 0
    while time.perf_counter() < deadline:
        writer = None
        try:
            reader, writer = await open_session(args)
            code, text = await reply(reader)
            if code != 220:
                bump(st["greeting"], text[:80])
                await asyncio.sleep(0.05)
                continue
            await command(reader, writer, b"EHLO flood.bench.test")
            code, text = await command(reader, writer, b"AUTH PLAIN " + plain(args.user, args.password))
            if code != 235:
                bump(st["auth_failed"], text[:80])
                await asyncio.sleep(0.05)
                continue
            st["auth_ok"] += 1
            while time.perf_counter() < deadline:
                code, text = await command(reader, writer, f"MAIL FROM:<{args.user}>".encode())
                if code == 250:
                    code, text = await command(reader, writer, f"RCPT TO:<{RCPT}>".encode())
                if code == 250:
                    code, text = await command(reader, writer, b"DATA")
                if code == 354:
                    n += 1
                    writer.write(head.replace("{id}", f"{serial}.{n}").encode() + tail)
                    code, text = await reply(reader)
                if code != 250:
                    bump(st["refused"], text[:80])
                    if code == 421 or code == 0:
                        break
                    await command(reader, writer, b"RSET")
                    continue
                st["accepted"] += 1
                if time.perf_counter() - t0 >= args.measure_from:
                    st["measured"] += 1
            if time.perf_counter() < deadline:
                st["reconnects"] += 1
        except Closed:
            st["closed_by_server"] += 1
        except (OSError, asyncio.TimeoutError) as e:
            bump(st["errors"], type(e).__name__)
            await asyncio.sleep(0.05)
        finally:
            if writer is not None:
                await close(writer)


async def flood(args):
    st = await run_sessions(args, {"accepted": 0, "measured": 0, "auth_ok": 0, "reconnects": 0,
                                   "closed_by_server": 0, "greeting": {}, "auth_failed": {},
                                   "refused": {}, "errors": {}}, flood_session)
    st["measured_seconds"] = max(0.0, st["seconds"] - args.measure_from)
    return st


# --------------------------------------------------------------------------
# guess: many connections guess one account's password

def turned_away(st, t0, how):
    bump(st["turned_away"], how)
    if st["first_turned_away"] is None:
        st["first_turned_away"] = {"after_s": round(time.perf_counter() - t0, 3), "how": how,
                                   "failures_before": st["r535"]}


async def guess_session(args, st, t0, deadline, serial):
    guess = 0
    while time.perf_counter() < deadline:
        writer = None
        greeted = False
        try:
            try:
                reader, writer = await open_session(args)
            except ConnectionRefusedError:
                turned_away(st, t0, "connection refused")
                await asyncio.sleep(0.01)
                continue
            st["connects"] += 1
            code, text = await reply(reader)
            if code != 220:
                turned_away(st, t0, f"greeting {text[:90]}")
                await asyncio.sleep(0.01)
                continue
            greeted = True
            await command(reader, writer, b"EHLO guess.bench.test")
            while time.perf_counter() < deadline:
                guess += 1
                st["sent"] += 1
                code, text = await command(
                    reader, writer, b"AUTH PLAIN " + plain(args.user, f"Wrong-{serial}-{guess}!x"))
                if code == 535:
                    st["r535"] += 1
                    if st["first_turned_away"] is None:
                        st["r535_before_ban"] += 1
                    st["last_535_s"] = round(time.perf_counter() - t0, 3)
                else:
                    bump(st["other"], text[:60])
                    if code == 421:
                        break
        except Closed:
            if greeted:
                st["closed_in_session"] += 1
            else:
                turned_away(st, t0, "closed before the greeting")
        except ConnectionResetError:
            if greeted:
                st["closed_in_session"] += 1
            else:
                turned_away(st, t0, "reset before the greeting")
        except (OSError, asyncio.TimeoutError) as e:
            bump(st["errors"], type(e).__name__)
            await asyncio.sleep(0.05)
        finally:
            if writer is not None:
                await close(writer)


async def guess(args):
    return await run_sessions(args, {"sent": 0, "r535": 0, "r535_before_ban": 0, "connects": 0,
                                     "closed_in_session": 0, "first_turned_away": None,
                                     "last_535_s": None, "turned_away": {}, "other": {},
                                     "errors": {}}, guess_session)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("flood", "guess"))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", default="")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--measure-from", type=float, default=0)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--source", default="127.0.0.1")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.sessions + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sessions + 1000), hard))
    ru0 = os.times()
    st = asyncio.run(flood(args) if args.mode == "flood" else guess(args))
    ru1 = os.times()
    st["cpu_s"] = (ru1.user - ru0.user) + (ru1.system - ru0.system)
    json.dump(st, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
