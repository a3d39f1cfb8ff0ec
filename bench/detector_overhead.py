"""bench/detector_overhead - the "detector on vs off" scenario of bench/run
(issue 14's target: the outbreak detector costs at most 5% of acceptance
throughput).  Floodgate alone: the same daemon and the same load with
`detector = { enabled = true; ... }` and with `enabled = false`, in the
same run, alternating which goes first; the ratio is on ÷ off of the
medians.

  unauthenticated  smtp-source, 10 KB messages over 10 and 100 sessions
                   from 127.0.0.1, a trusted address relaying without AUTH
                   (the acceptance scenario's load, through its own code):
                   the detector follows that client as "ip:127.0.0.1"
  authenticated    10 KB messages from one account over 10 and 100
                   sessions, each session AUTH once then messages back to
                   back (bench/authload.py: smtp-source cannot AUTH): every
                   message is scored for the account

The load is an outbreak by every measure (one sender, one text, thousands
of messages a second): at the default scores the detector would hold it
within its first messages and contain the account, and the figures would
be those of held mail and ended sessions.  So the ladder's scores are set
out of reach (10000): every message is still counted and scored, nothing
is held.  What is measured is what watching costs while senders behave."""
import lib
from lib import log

KB = 1024
TARGET_OVERHEAD = 0.05
SIZE = 10 * KB
SESSIONS = (10, 100)
ON = ("detector = { enabled = true; log_score = 10000; alert_score = 10000; "
      "hold_score = 10000; contain_score = 10000; };")
OFF = "detector = { enabled = false; };"
MODES = {"on": ON, "off": OFF}


def rotate(k):
    """Repetition K of a cell (plus the cell's number, so that a run of
    one repetition alternates too) starts with the other mode."""
    return ("on", "off") if k % 2 == 0 else ("off", "on")


def auth_once(auth_server, tmp, mode, sessions, seconds, user, password):
    """One authenticated flood against a fresh daemon in MODE; msg/s."""
    fg = None
    try:
        fg = auth_server(tmp, f"fg-det-{mode}", extra=MODES[mode])
        # measured once every session has logged in: the password hashing
        # of 100 AUTHs takes seconds here, and it is not what is compared
        warm = 1 + sessions / 20
        flood = lib.authload_start("flood", fg.sub_port, user, password, sessions=sessions,
                                   seconds=warm + seconds, measure_from=warm, size=SIZE)
        r = lib.authload_result(flood, timeout=60 + warm + seconds)
        fg.alive()
        fg.stop(grace=3)
    except lib.BenchError as e:
        raise lib.BenchError(f"detector {mode}, {sessions} AUTH sessions: {e}\n"
                             f"--- floodgated log ---\n{fg.log_tail() if fg else ''}") from None
    finally:
        if fg:
            fg.cleanup()
    if not r["auth_ok"] or not r["measured_seconds"]:
        raise lib.BenchError(f"detector {mode}: the account could not send: {r}")
    return r["measured"] / r["measured_seconds"]


def scenario(cfg, tmp, res, acceptance, auth_server, user, password):
    """ACCEPTANCE(tmp, size, sessions, count, extra=...) is bench/run's
    Floodgate acceptance run (returns elapsed seconds first);
    AUTH_SERVER(tmp, tag, extra=...) starts a daemon with a submission
    listener and USER's account."""
    dc = cfg["detector"]
    rows = []
    for cell, sessions in enumerate(SESSIONS):
        rates = {"on": [], "off": []}
        for rep in range(cfg["reps"]):
            for mode in rotate(rep + cell):
                elapsed = acceptance(tmp, SIZE, sessions, dc["count"], extra=MODES[mode])[0]
                rates[mode].append(dc["count"] / elapsed)
                log(f"detector 10 KB x {sessions:>3} sessions (smtp-source), rep {rep + 1}: "
                    f"{mode:<3} {rates[mode][-1]:7.0f} msg/s")
        rows.append({"load": "smtp-source", "sessions": sessions, "rates": rates,
                     "count": dc["count"]})
    for cell, sessions in enumerate(SESSIONS):
        rates = {"on": [], "off": []}
        for rep in range(cfg["reps"]):
            for mode in rotate(rep + cell):
                rates[mode].append(auth_once(auth_server, tmp, mode, sessions, dc["seconds"],
                                             user, password))
                log(f"detector 10 KB x {sessions:>3} sessions (AUTH), rep {rep + 1}: "
                    f"{mode:<3} {rates[mode][-1]:7.0f} msg/s")
        rows.append({"load": "authenticated", "sessions": sessions, "rates": rates,
                     "seconds": dc["seconds"]})
    res["detector"] = rows


def ratio(row):
    """on ÷ off of the medians."""
    off = lib.stats(row["rates"]["off"])[0]
    return lib.stats(row["rates"]["on"])[0] / off if off else float("nan")


def fmt(values):
    med, lo, hi = lib.stats(values)
    return f"{med:,.0f} ({lo:,.0f}–{hi:,.0f})"


def target_rows(res):
    """Rows of the Targets table."""
    name = (f"outbreak detector on vs off: overhead ≤ {100 * TARGET_OVERHEAD:.0f}% of "
            "acceptance throughput (10 KB; smtp-source and authenticated, 10 and 100 sessions)")
    rows = res.get("detector")
    if not rows:
        return [f"| {name} | not measured in this run | — |"]
    worst = max(1 - ratio(r) for r in rows)
    ok = worst <= TARGET_OVERHEAD
    return [f"| {name} | worst {100 * worst:.1f}% ({len(rows)} cells) | "
            f"{'**yes**' if ok else '**NO**'} |"]


def report_lines(res):
    """The section of RESULTS.md, or [] when the scenario did not run."""
    rows = res.get("detector")
    if not rows:
        return []
    L = ["## The outbreak detector's cost: on vs off\n"]
    L.append("Floodgate alone, the same load against a fresh daemon with the detector on and "
             "off, alternating which goes first. Messages per second accepted (stored, "
             "answered `250`). On, the ladder's scores are set out of reach "
             "(`log_score` … `contain_score = 10000`): the load is one sender and one text at "
             "thousands a second, which the detector would hold at once; every message is "
             "still counted and scored. Off is `detector = { enabled = false; }` (fed "
             "nothing).\n")
    L.append("| load | sessions | detector on | detector off | on ÷ off |\n"
             "| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        what = (f"smtp-source, {r['count']:,} messages of 10 KB, 127.0.0.1 trusted (no AUTH)"
                if r["load"] == "smtp-source" else
                f"authenticated account (bench/authload.py), 10 KB, {r['seconds']} s measured "
                f"after {1 + r['sessions'] / 20:g} s (every session logged in)")
        L.append(f"| {what} | {r['sessions']} | {fmt(r['rates']['on'])} | "
                 f"{fmt(r['rates']['off'])} | {ratio(r):.3f} |")
    L.append("")
    return L
