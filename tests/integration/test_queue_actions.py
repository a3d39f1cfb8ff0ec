"""Cleaning up after a compromised account: what an administrator does to
a selection of queued messages - hold, release, retry, bounce, purge,
quarantine (and release from quarantine), inject - with the daemon running
or stopped, and the log line every acted-on message leaves behind (who did
it, and why).

Mail that must wait goes to a domain whose DNS answers SERVFAIL: it stays
deferred until the test makes the domain point at a sink."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import (FLOODCTL, ctl_log, delivered_with, maildir_grep, message,
                      quarantine_file, server_queue, smtp_send, token)
from netfixtures import net, remote_server, wait_for  # noqa: F401

TRUSTED = "127.0.0.3"   # relay.allow_groups = ["trusted"]
QID_RE = re.compile(r"\b[0-9A-F]{16}\b")


# ---- helpers ----

def relay(s, rcpts, subject, sender="app@example.test"):
    """Relay one message from the trusted IP; returns (qid, message bytes)."""
    rcpts = [rcpts] if isinstance(rcpts, str) else rcpts
    msg = message(subject, sender=sender, to=", ".join(rcpts))
    return smtp_send(s.ports["mx"], sender, rcpts, msg, source=TRUSTED), msg


def action_logged(s, action, qid, reason=None):
    """The log line of ACTION on QID names an admin (and REASON)."""
    pat = rf"event={action} qid={qid} admin=(?!-[ \n])\S+"
    if reason is not None:
        pat += rf" reason=\"?{re.escape(reason)}\"?(\s|$)"
    m = wait_for(lambda: re.search(pat, ctl_log(s), re.M), 10, f"a log line {pat!r}")
    return m.group(0)


def ctl_bytes(s, *args):
    env = dict(os.environ, FLOODGATE_CONFIG=str(s.conf))
    r = subprocess.run([str(FLOODCTL), *args], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, (args, r.returncode, r.stdout[-500:], r.stderr)
    return r.stdout


def ctl_json(s, *args):
    return json.loads(s.ctl(*args, "--json").stdout)


def ids_of(listing):
    return {m["id"] for m in listing}


def queue_ids(s, *args):
    return ids_of(server_queue(s, *args))


def unreachable(net, domain):
    """DOMAIN's DNS fails (SERVFAIL): its mail stays deferred."""
    net.dns.servfail.add(domain)


def reachable(net, domain, sink):
    net.dns.servfail.discard(domain)
    net.route(domain, sink)


def wait_deferred(s, ids, timeout=15):
    wait_for(lambda: set(ids) <= queue_ids(s, "--state", "deferred"), timeout,
             f"{ids} deferred")


# ---- hold, release, retry ----

def test_hold_keeps_mail_until_release(make_server, net):
    sink = net.sink()
    unreachable(net, "hold.test")
    s = remote_server(make_server, net)
    tag = token()
    q1, m1 = relay(s, "a@hold.test", f"hold-me {tag} A")
    q2, m2 = relay(s, "b@hold.test", f"hold-me {tag} B")
    q3, m3 = relay(s, "c@hold.test", f"other {tag}")
    wait_deferred(s, [q1, q2, q3])

    r = s.ctl("queue", "hold", "--subject", f"hold-me {tag}", "--reason", "checking the burst")
    assert re.search(r"\bheld 2 messages\b", r.stdout), r.stdout
    held = server_queue(s, "--state", "held")
    assert ids_of(held) == {q1, q2}
    assert all(m["state"] == "held" and m["status"] == "on hold" for m in held), held
    for q in (q1, q2):
        action_logged(s, "queue_hold", q, "checking the burst")
    assert not re.search(rf"event=queue_hold qid={q3}", ctl_log(s))

    # retry hurries what is deferred, never what is held
    js = ctl_json(s, "queue", "retry", "--subject", tag)
    assert js == {"action": "retry", "messages": 1}, js
    action_logged(s, "queue_retry", q3)
    assert queue_ids(s, "--state", "held") == {q1, q2}

    # an attempt that was already running when the hold came in still ends
    # (the MX refuses: deferred, and the recipient stays held); let it end
    # before the MX becomes reachable, or it would rightly deliver
    time.sleep(1.0)
    reachable(net, "hold.test", sink)
    # only to hurry it: the automatic retry (every 1-2 s here) may have
    # delivered q3 already, and then there is nothing left to retry
    r = s.ctl("queue", "retry", q3, check=False)
    assert r.returncode == 0 or "no message" in r.stderr, r.stdout + r.stderr
    sink.wait(1, f"other {tag}")
    time.sleep(1.5)        # two retry periods: a held message would have gone by now
    assert sink.received(f"hold-me {tag}") == []
    assert queue_ids(s, "--state", "held") == {q1, q2}

    js = ctl_json(s, "queue", "release", "--subject", f"hold-me {tag}", "--reason", "false alarm")
    assert js == {"action": "release", "messages": 2}, js
    got = sink.wait(2, f"hold-me {tag}")
    assert sorted(t.rcpt_tos[0] for t in got) == ["a@hold.test", "b@hold.test"]
    for q in (q1, q2):
        action_logged(s, "queue_release", q, "false alarm")
    wait_for(lambda: server_queue(s) == [], 10, "an empty queue")


def test_hold_all_and_counts(make_server):
    s = make_server().start().provision()
    ids = [relay(s, f"u{i}@far.test", token())[0] for i in range(3)]
    r = s.ctl("queue", "hold", "--all")
    assert re.search(r"\bheld 3 messages\b", r.stdout), r.stdout
    assert queue_ids(s, "--state", "held") == set(ids)
    # holding what is already held changes nothing
    assert ctl_json(s, "queue", "hold", "--all") == {"action": "hold", "messages": 0}
    r = s.ctl("queue", "release", ids[0])
    assert re.search(r"\breleased 1 message\b", r.stdout), r.stdout
    assert queue_ids(s, "--state", "held") == set(ids[1:])


@pytest.mark.parametrize("argv", [
    ["hold"], ["release"], ["retry"], ["bounce"], ["purge", "--yes"],
    ["quarantine", "--reason", "x"], ["hold", "--reason", "no selection"],
])
def test_action_without_selection_is_refused(make_server, argv):
    s = make_server().start().provision()
    q, _ = relay(s, "u@far.test", token())
    r = s.ctl("queue", *argv, check=False)
    assert r.returncode == 2, (argv, r.returncode, r.stdout, r.stderr)
    assert "--all" in r.stderr        # tells how to mean everything
    [m] = server_queue(s)
    assert m["id"] == q and m["state"] in ("queued", "deferred")
    assert not quarantine_file(s, q).exists()


def test_action_on_an_empty_selection(make_server):
    s = make_server().start().provision()
    q, _ = relay(s, "u@far.test", token())
    r = s.ctl("queue", "hold", "--auth-user", "nobody@example.test")
    assert re.search(r"\bheld 0 messages\b", r.stdout), r.stdout
    assert server_queue(s)[0]["state"] != "held"
    assert server_queue(s)[0]["id"] == q


# ---- bounce, purge ----

def test_bounce_returns_the_mail_with_a_dsn(make_server, net):
    unreachable(net, "slow.test")
    s = remote_server(make_server, net)
    subject = token()
    q, _ = relay(s, ["x@slow.test", "y@slow.test"], subject, sender="alice@example.test")
    other, _ = relay(s, "z@slow.test", token(), sender="alice@example.test")
    wait_deferred(s, [q, other])
    r = s.ctl("queue", "bounce", q, "--reason", "sent by a spammer")
    assert re.search(r"\bbounced 1 message\b", r.stdout), r.stdout
    # the daemon returns it (with the DSN) as soon as no delivery of it runs
    [dsn] = delivered_with(s, "alice@example.test", subject)
    wait_for(lambda: q not in queue_ids(s), 10, "the bounced message to leave the queue")
    assert other in queue_ids(s)
    assert b"multipart/report" in dsn and b"delivery-status" in dsn
    assert b"x@slow.test" in dsn and b"y@slow.test" in dsn
    assert b"sent by a spammer" in dsn
    action_logged(s, "queue_bounce", q, "sent by a spammer")


def test_purge_needs_yes(make_server):
    s = make_server().start().provision()
    tag = token()
    doomed = [relay(s, f"u{i}@far.test", f"junk {tag}")[0] for i in range(2)]
    keep, _ = relay(s, "k@far.test", f"keep {tag}")
    r = s.ctl("queue", "purge", "--subject", f"junk {tag}", check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--yes" in r.stderr
    assert queue_ids(s) == set(doomed + [keep])
    r = s.ctl("queue", "purge", "--subject", f"junk {tag}", "--yes", "--reason", "spam")
    assert re.search(r"\bpurged 2 messages\b", r.stdout), r.stdout
    assert queue_ids(s) == {keep}
    with s.db() as con:
        assert con.execute("SELECT count(*) FROM messages WHERE id IN (?, ?)",
                           doomed).fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM bodies WHERE message IN (?, ?)",
                           doomed).fetchone()[0] == 0
    for q in doomed:
        action_logged(s, "queue_purge", q, "spam")


# ---- quarantine ----

def test_quarantine_keeps_suspects_out_of_delivery(make_server, net, tmp_path):
    sink = net.sink()
    unreachable(net, "q.test")
    s = remote_server(make_server, net)
    tag = token()
    spam = [relay(s, f"v{i}@q.test", f"WIN {tag} {i}", sender=f"promo{i}@deals.test")
            for i in range(2)]
    legit, _ = relay(s, "partner@q.test", f"legit {tag}")
    wait_deferred(s, [q for q, _ in spam] + [legit])
    before = {q: ctl_bytes(s, "queue", "export", q) for q, _ in spam}
    reason = "jack's account was compromised"

    r = s.ctl("queue", "quarantine", "--subject", f"WIN {tag}", "--reason", reason)
    assert re.search(r"\bquarantined 2 messages\b", r.stdout), r.stdout
    for q, sent in spam:
        f = quarantine_file(s, q)
        assert f.exists(), f
        # the exact stored octets: our Received: line and what the client sent
        assert f.read_bytes() == before[q]
        assert f.read_bytes().endswith(sent)
        assert ctl_bytes(s, "quarantine", "export", q) == before[q]
        action_logged(s, "queue_quarantine", q, reason)
    assert queue_ids(s) == {legit}

    listing = ctl_json(s, "quarantine", "list")
    entries = {e["id"]: e for e in listing}
    assert set(entries) == {q for q, _ in spam}
    assert all(e["reason"] == reason for e in entries.values()), listing
    q0 = spam[0][0]
    shown = ctl_json(s, "quarantine", "show", q0)
    assert shown["id"] == q0 and shown["reason"] == reason
    assert shown["sender"] == "promo0@deals.test"
    assert [r["address"] for r in shown["recipients"]] == ["v0@q.test"]
    # the envelope and the reason stay in the store
    with s.db() as con:
        row = con.execute("SELECT m.sender, q.reason, q.quarantined_by, q.released_at FROM"
                          " messages m JOIN quarantine q ON q.message = m.id WHERE m.id = ?",
                          (q0,)).fetchone()
    assert row[:2] == ("promo0@deals.test", reason) and row[2] and row[3] is None
    # quarantine list takes the same selection as the queue
    assert {e["id"] for e in ctl_json(s, "quarantine", "list", "--from",
                                       "promo1@deals.test")} == {spam[1][0]}
    assert {e["id"] for e in ctl_json(s, "quarantine", "list", "--rcpt",
                                       "v1@q.test")} == {spam[1][0]}
    assert {e["id"] for e in ctl_json(s, "quarantine", "list", "--rcpt-domain", "q.test",
                                       "--newer-than", "1h")} == {q for q, _ in spam}
    assert ctl_json(s, "quarantine", "list", "--older-than", "1h") == []
    r = s.ctl("quarantine", "list", "--state", "held", check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)

    # the domain works again: the legitimate message goes, the suspects do not
    reachable(net, "q.test", sink)
    s.ctl("queue", "retry", "--all")
    sink.wait(1, f"legit {tag}")
    time.sleep(1.5)
    assert sink.received(f"WIN {tag}") == []

    # release one: delivered with its original envelope, exactly as stored
    r = s.ctl("quarantine", "release", q0)
    assert re.search(r"\breleased 1 message\b", r.stdout), r.stdout
    [t] = sink.wait(1, f"WIN {tag} 0")
    assert t.mail_from == "promo0@deals.test" and t.rcpt_tos == ["v0@q.test"]
    assert t.data == before[q0]
    assert not quarantine_file(s, q0).exists()
    action_logged(s, r"(?:queue_unquarantine|quarantine_release)", q0)
    assert {e["id"] for e in ctl_json(s, "quarantine", "list")} == {spam[1][0]}

    # the other one: kept aside as a file, purged, then put back by hand
    q1 = spam[1][0]
    saved = tmp_path / "Saved-From-Quarantine.eml"
    shutil.copy(quarantine_file(s, q1), saved)
    r = s.ctl("quarantine", "purge", q1, check=False)
    assert r.returncode == 2 and "--yes" in r.stderr, (r.stdout, r.stderr)
    assert quarantine_file(s, q1).exists()
    r = s.ctl("quarantine", "purge", q1, "--yes")
    assert re.search(r"\bpurged 1 message\b", r.stdout), r.stdout
    assert not quarantine_file(s, q1).exists()
    assert ctl_json(s, "quarantine", "list") == []
    with s.db() as con:
        assert con.execute("SELECT count(*) FROM messages WHERE id = ?", (q1,)).fetchone()[0] == 0
    r = s.ctl("queue", "inject", str(saved), "--from", "promo1@deals.test", "--to", "v1@q.test")
    new = QID_RE.search(r.stdout)
    assert new and new.group(0) != q1, r.stdout
    [t] = sink.wait(1, f"WIN {tag} 1")
    assert t.data.endswith(before[q1])       # a Received: line of the injection in front
    assert t.mail_from == "promo1@deals.test" and t.rcpt_tos == ["v1@q.test"]


def test_quarantine_needs_a_reason(make_server):
    s = make_server().start().provision()
    q, _ = relay(s, "u@far.test", token())
    r = s.ctl("queue", "quarantine", q, check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--reason" in r.stderr
    assert queue_ids(s) == {q} and not quarantine_file(s, q).exists()


def test_quarantined_local_mail_released_with_the_daemon_stopped(make_server, tmp_path):
    """The article's order: stop the server, put the queue aside, start it,
    later put back what was legitimate - each step with floodgated down."""
    s = make_server().start().provision()
    s.stop()
    subject = token()
    eml = tmp_path / "Mixed-Case.eml"
    eml.write_bytes(f"From: carol@remote.test\nTo: alice@example.test\nSubject: {subject}\n"
                    f"\nHello alice.\n".encode())
    r = s.ctl("queue", "inject", str(eml), "--from", "carol@remote.test", "--to",
              "alice@example.test")
    q = QID_RE.search(r.stdout).group(0)
    r = s.ctl("queue", "quarantine", q, "--reason", "check first")
    assert re.search(r"\bquarantined 1 message\b", r.stdout), r.stdout
    assert quarantine_file(s, q).exists()
    s.start()
    time.sleep(1.0)
    assert maildir_grep(s, "alice@example.test", subject) == []
    assert [e["id"] for e in ctl_json(s, "quarantine", "list")] == [q]
    s.stop()
    t0 = int(time.time())
    r = s.ctl("quarantine", "release", q)
    assert re.search(r"\breleased 1 message\b", r.stdout), r.stdout
    # who released it, and when
    with s.db() as con:
        by, at = con.execute("SELECT released_by, released_at FROM quarantine WHERE message = ?",
                             (q,)).fetchone()
    assert by and by != "-" and t0 - 1 <= at <= time.time() + 1
    action_logged(s, r"(?:queue_unquarantine|quarantine_release)", q)
    s.start()
    [data] = delivered_with(s, "alice@example.test", subject)
    assert data.endswith(f"Subject: {subject}\r\n\r\nHello alice.\r\n".encode())


# ---- everything with the daemon stopped ----

def test_actions_with_the_daemon_stopped_take_effect_at_start(make_server, net):
    sink = net.sink()
    unreachable(net, "down.test")
    s = remote_server(make_server, net)
    tag = token()
    a, _ = relay(s, "a@down.test", f"A {tag}")
    b, mb = relay(s, "b@down.test", f"B {tag}")
    c, _ = relay(s, "c@down.test", f"C {tag}")
    d, _ = relay(s, "d@down.test", f"D {tag}", sender="alice@example.test")
    e, _ = relay(s, "e@down.test", f"E {tag}")
    wait_deferred(s, [a, b, c, d, e])
    s.stop()
    reachable(net, "down.test", sink)

    s.ctl("queue", "hold", a, "--reason", "offline hold")
    s.ctl("queue", "quarantine", b, "--reason", "offline quarantine")
    s.ctl("queue", "purge", c, "--yes", "--reason", "offline purge")
    s.ctl("queue", "bounce", d, "--reason", "offline bounce")
    # floodctl saw it all in the store
    listing = {m["id"]: m for m in server_queue(s)}
    assert set(listing) >= {a, e} and not set(listing) & {b, c}
    assert listing[a]["state"] == "held"
    # a bounce waits for the daemon, which sends the DSN: listed until then
    assert listing[d]["status"].startswith("being returned to the sender: "), listing[d]
    assert "offline bounce" in listing[d]["status"]
    assert quarantine_file(s, b).read_bytes().endswith(mb)
    for action, q in (("hold", a), ("quarantine", b), ("purge", c), ("bounce", d)):
        action_logged(s, f"queue_{action}", q, f"offline {action}")

    s.start()
    sink.wait(1, f"E {tag}")
    delivered_with(s, "alice@example.test", f"D {tag}")      # the DSN of the bounce
    # E and the DSN are out; their records reach the store through the
    # committer after the delivery (later still on a loaded machine): wait
    # for the queue to hold only A, then check nothing else went out
    wait_for(lambda: queue_ids(s) == {a}, 30, "only the held message left in the queue")
    time.sleep(1.5)
    assert [t for t in sink.received(tag) if f"E {tag}".encode() not in t.data] == []
    assert queue_ids(s) == {a}
    assert server_queue(s)[0]["state"] == "held"
    s.ctl("queue", "release", a)
    s.ctl("quarantine", "release", b)
    sink.wait(1, f"A {tag}")
    [t] = sink.wait(1, f"B {tag}")
    assert t.data.endswith(mb)
    assert sink.received(f"C {tag}") == []


# ---- inject ----

def test_inject_delivers_locally_and_remotely(make_server, net, tmp_path):
    sink = net.sink()
    net.route("inject.test", sink)
    s = remote_server(make_server, net)
    subject = token()
    eml = tmp_path / "Legit-Message.eml"     # a path with capitals, as saved by a person
    eml.write_bytes(f"From: Alice <alice@example.test>\nTo: bob@example.test\n"
                    f"Subject: {subject}\nMessage-ID: <{subject}@example.test>\n\n"
                    f"First line\n.a line with a dot\nlast line\n".encode())
    r = s.ctl("queue", "inject", str(eml), "--from", "alice@example.test",
              "--to", "bob@example.test", "--to", "partner@inject.test")
    m = QID_RE.search(r.stdout)
    assert m, r.stdout
    qid = m.group(0)
    [data] = delivered_with(s, "bob@example.test", subject)
    # stored in wire form: CR LF line ends; our Received: line says who injected it
    assert data.endswith(f"Subject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n\r\n"
                         f"First line\r\n.a line with a dot\r\nlast line\r\n".encode())
    assert b"injected by" in data
    [t] = sink.wait(1, subject)
    assert t.mail_from == "alice@example.test" and t.rcpt_tos == ["partner@inject.test"]
    assert b"\r\n.a line with a dot\r\n" in t.data
    line = wait_for(lambda: re.search(rf"event=injected qid={qid} .*admin=(?!-[ \n])\S+",
                                      ctl_log(s)), 10, "the injected log line")
    assert "from=<alice@example.test>" in line.group(0)


def test_inject_refuses_bad_requests(make_server, tmp_path):
    s = make_server().start().provision()
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"Subject: x\n\nbody\n")
    r = s.ctl("queue", "inject", str(eml), "--from", "a@example.test", "--to",
              "ghost@example.test", check=False)
    assert r.returncode == 1 and "ghost@example.test" in r.stderr, (r.stdout, r.stderr)
    r = s.ctl("queue", "inject", str(eml), "--from", "a@example.test", check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)              # no --to
    r = s.ctl("queue", "inject", str(tmp_path / "missing.eml"), "--from", "a@example.test",
              "--to", "alice@example.test", check=False)
    assert r.returncode == 1 and "missing.eml" in r.stderr, (r.stdout, r.stderr)
    assert server_queue(s) == []


# ---- edge cases ----

def test_quarantine_of_a_partly_delivered_message(make_server, net):
    """Local recipients were served at once; only the pending remote one is
    quarantined, and releasing it gives the local one no second copy."""
    sink = net.sink()
    unreachable(net, "part.test")
    s = remote_server(make_server, net)
    subject = token()
    q, msg = relay(s, ["alice@example.test", "far@part.test"], subject)
    delivered_with(s, "alice@example.test", subject)
    wait_deferred(s, [q])
    s.ctl("queue", "quarantine", q, "--reason", "partly")
    shown = ctl_json(s, "quarantine", "show", q)
    assert [r["address"] for r in shown["recipients"]] == ["far@part.test"]
    reachable(net, "part.test", sink)
    s.ctl("quarantine", "release", q)
    [t] = sink.wait(1, subject)
    assert t.rcpt_tos == ["far@part.test"] and t.data.endswith(msg)
    time.sleep(1.0)
    assert len(maildir_grep(s, "alice@example.test", subject)) == 1


def test_quarantine_that_cannot_write_a_file_loses_nothing(make_server):
    """A quarantine file that cannot be written stops the quarantine before
    the store lets go of any body of its batch: every message stays queued
    with its stored octets, nothing is listed as quarantined, and no file of
    the failed batch is left behind."""
    s = make_server().start().provision()
    tag = token()
    sent = dict(relay(s, f"u{i}@far.test", f"stuck {tag} {i}") for i in range(6))
    first = sorted(sent)[0]
    # the subdirectory the first message's file goes to is a plain file
    qdir = s.state / "quarantine"
    qdir.mkdir(mode=0o700)
    blocker = qdir / first[-2:]
    blocker.write_text("in the way\n")
    owner = s.state.stat()
    for p in (qdir, blocker):
        os.chown(p, owner.st_uid, owner.st_gid)

    r = s.ctl("queue", "quarantine", "--subject", f"stuck {tag}", "--reason", "x", check=False)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"{first[-2:]}/{first}.eml" in r.stderr and "run the command again" in r.stderr
    assert queue_ids(s) == set(sent)
    for q, msg in sent.items():
        assert ctl_bytes(s, "queue", "export", q).endswith(msg)
    assert ctl_json(s, "quarantine", "list") == []
    assert list(qdir.rglob("*.eml")) == []
    # out of the way, the same command goes through
    blocker.unlink()
    r = s.ctl("queue", "quarantine", "--subject", f"stuck {tag}", "--reason", "x")
    assert re.search(r"\bquarantined 6 messages\b", r.stdout), r.stdout
    assert all(quarantine_file(s, q).read_bytes().endswith(msg) for q, msg in sent.items())


def test_release_when_the_file_was_removed(make_server):
    """An admin deleted the .eml by hand: release says so and keeps the
    entry (its envelope is still there for the record)."""
    s = make_server().start().provision()
    q, _ = relay(s, "u@far.test", token())
    s.ctl("queue", "quarantine", q, "--reason", "x")
    quarantine_file(s, q).unlink()
    r = s.ctl("quarantine", "release", q, check=False)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert q in r.stderr
    assert server_queue(s) == []                      # nothing without a body in the queue
    assert [e["id"] for e in ctl_json(s, "quarantine", "list")] == [q]


@pytest.mark.parametrize("action", ["hold", "quarantine"])
def test_action_on_a_message_in_flight_never_delivers_it_twice(make_server, net, action):
    """The admin holds or quarantines a message while the daemon is already
    handing it to the remote MX.  That delivery cannot be called back; but
    once it succeeded the message must not come back from hold or
    quarantine for a second delivery, nor be listed as waiting."""
    sink = net.sink(hold_after=0)          # every DATA waits for sink.release
    net.route("flight.test", sink)
    s = remote_server(make_server, net)
    subject = token()
    q, _ = relay(s, "r@flight.test", subject)
    wait_for(lambda: sink.held == 1, 10, "the delivery to be in flight")
    acted = s.ctl("queue", action, q, "--reason", "too late", check=False)
    sink.release.set()
    sink.wait(1, subject)
    wait_for(lambda: re.search(rf"event=delivered qid={q} ", s.log()), 10, "the delivery")
    time.sleep(0.5)
    with s.db() as con:
        states = con.execute("SELECT state FROM recipients WHERE message = ?", (q,)).fetchall()
    waiting = queue_ids(s) | {e["id"] for e in ctl_json(s, "quarantine", "list")}
    # the admin now lets it go again
    if action == "hold":
        again = s.ctl("queue", "release", q, check=False)
    else:
        again = s.ctl("quarantine", "release", q, check=False)
    time.sleep(2.0)
    what = (f"{action}: {acted.stdout.strip()!r}; after the delivery the recipient is "
            f"{states}; release: {again.stdout.strip()!r}")
    assert len(sink.received(subject)) == 1, "delivered twice - " + what
    assert q not in waiting, "a delivered message is listed as waiting - " + what


def test_bounce_of_a_message_in_flight_sends_no_false_dsn(make_server, net):
    """Bouncing a message while it is being delivered: once the MX took it,
    the sender must not be told that it failed."""
    sink = net.sink(hold_after=0)
    net.route("flight.test", sink)
    s = remote_server(make_server, net)
    subject = token()
    q, _ = relay(s, "r@flight.test", subject, sender="alice@example.test")
    wait_for(lambda: sink.held == 1, 10, "the delivery to be in flight")
    acted = s.ctl("queue", "bounce", q, "--reason", "too late", check=False)
    sink.release.set()
    sink.wait(1, subject)
    wait_for(lambda: re.search(rf"event=delivered qid={q} ", s.log()), 10, "the delivery")
    time.sleep(1.0)
    dsns = maildir_grep(s, "alice@example.test", subject)
    assert dsns == [], (f"bounce: {acted.stdout.strip()!r}; alice got a DSN for a message "
                        f"the MX accepted:\n{dsns[0].read_bytes()[:1500].decode(errors='replace')}")


def test_inject_expands_local_aliases(make_server, tmp_path):
    s = make_server().start().provision()
    s.stop()                                  # injected with the daemon down
    subject = token()
    eml = tmp_path / "to-team.eml"
    eml.write_bytes(f"From: boss@remote.test\r\nSubject: {subject}\r\n\r\nHi team.\r\n".encode())
    s.ctl("queue", "inject", str(eml), "--from", "boss@remote.test", "--to", "TEAM@example.test")
    [m] = server_queue(s)
    assert sorted(r["address"] for r in m["recipients"]) == ["alice@example.test",
                                                             "bob@example.test"]
    assert m["listener"] == "inject" and m["auth_user"] is None
    s.start()
    for rcpt in ("alice@example.test", "bob@example.test"):
        [data] = delivered_with(s, rcpt, subject)
        assert data.endswith(f"Subject: {subject}\r\n\r\nHi team.\r\n".encode())
