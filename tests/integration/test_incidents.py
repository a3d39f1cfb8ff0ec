"""floodctl incident list|show|release|dismiss against a real store and
daemon.

The incidents here are written into the store the way the daemon writes
them (the same tables), with the containment they name done by floodctl
beforehand (a suspended account, a banned IP, held mail): what is tested
is that an administrator reads every field of the evidence, and that
release and dismiss undo exactly that containment - the held message
reaches its mailbox, the account logs in again, the ban is lifted - with
the daemon running (it is told) and stopped (it finds the store so)."""
import json
import smtplib
import sqlite3
import time

import pytest

from conftest import PASSWORDS, message, smtp_send, tls_client_context, wait_log

ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])
SPAM_IP = "127.0.0.66"


def seed_incident(s, subject, *, state="contained", actions=()):
    """An incident row as floodgated writes it; its id."""
    now = int(time.time())
    db = sqlite3.connect(s.state / "store.db", timeout=10)
    with db:
        cur = db.execute(
            "INSERT INTO incidents(subject, opened, updated, state, score, app_password,"
            " accepted, held, delivered, signals, ips, samples)"
            " VALUES(?, ?, ?, ?, 120, 'phone', 40, 12, 3, ?, ?, ?)",
            (subject, now - 30, now, state,
             json.dumps([{"name": "client_ips_per_hour", "value": 5.0, "threshold": 4.0,
                          "points": 31}]),
             json.dumps([{"ip": SPAM_IP, "messages": 20, "logins": 1}]),
             json.dumps([{"queue_id": "0123456789ABCDEF", "subject": "Your invoice",
                          "recipients": "a@remote.test"}])))
        iid = cur.lastrowid
        for what, detail in actions:
            db.execute("INSERT INTO incident_actions(incident, at, action, detail, by)"
                       " VALUES(?, ?, ?, ?, 'floodgated')", (iid, now, what, detail))
    db.close()
    return iid


def login_works(s):
    try:
        with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=20) as c:
            c.starttls(context=tls_client_context())
            c.login(*ALICE)
        return True
    except smtplib.SMTPAuthenticationError:
        return False


def held_message(s):
    """A message from alice to a remote friend, held in the queue; its id
    (no DNS answers here: once released it waits as deferred)."""
    s.ctl("pause", "delivery")
    qid = smtp_send(s.ports["submission"], ALICE[0], "friend@remote.test",
                    message("held by the incident", sender=ALICE[0], to="friend@remote.test"),
                    starttls=True, login=ALICE)
    s.ctl("queue", "hold", qid)
    return qid


def state_of(s, qid):
    db = s.db()
    try:
        return {r[0] for r in db.execute("SELECT state FROM recipients WHERE message = ?",
                                         (qid,))}
    finally:
        db.close()


@pytest.mark.parametrize("running", [True, False])
def test_release_undoes_containment(make_server, running):
    s = make_server().start().provision()
    qid = held_message(s)
    assert state_of(s, qid) == {"held"}
    s.ctl("user", "suspend", ALICE[0])
    s.ctl("ban", "add", SPAM_IP, "--reason", "incident")
    iid = seed_incident(s, ALICE[0], actions=[("alert", "score 120"), ("hold", "held"),
                                              ("suspend", ALICE[0]), ("ban", SPAM_IP)])
    if not running:
        s.stop()

    listed = json.loads(s.ctl("--json", "incident", "list").stdout)
    assert [i["id"] for i in listed] == [iid]
    shown = json.loads(s.ctl("--json", "incident", "show", str(iid)).stdout)
    for key in ("id", "subject", "state", "opened", "signals", "ips", "app_password", "counts",
                "samples", "actions"):
        assert key in shown, key
    assert shown["subject"] == ALICE[0] and shown["state"] == "contained"
    assert shown["opened"].endswith("Z") and "T" in shown["opened"]
    assert shown["ips"][0]["ip"] == SPAM_IP and shown["app_password"] == "phone"
    assert shown["counts"] == {"accepted": 40, "held": 12, "delivered": 3}
    assert shown["signals"][0]["name"] == "client_ips_per_hour"
    assert shown["samples"][0]["subject"] == "Your invoice"
    assert [a["action"] for a in shown["actions"]] == ["alert", "hold", "suspend", "ban"]
    text = s.ctl("incident", "show", str(iid)).stdout
    assert "client_ips_per_hour" in text and SPAM_IP in text and "Your invoice" in text

    out = json.loads(s.ctl("--json", "incident", "release", str(iid)).stdout)
    assert out["state"] == "released" and out["released_messages"] == 1
    assert out["unsuspended"] is True and out["unbanned"] == [SPAM_IP]
    assert json.loads(s.ctl("--json", "ban", "list").stdout) == []
    again = s.ctl("incident", "release", str(iid), check=False)
    assert again.returncode == 1 and "already released" in again.stderr
    assert json.loads(s.ctl("--json", "incident", "list").stdout) == []
    closed = json.loads(s.ctl("--json", "incident", "list", "--all").stdout)
    assert closed[0]["state"] == "released"
    shown = json.loads(s.ctl("--json", "incident", "show", str(iid)).stdout)
    assert shown["actions"][-1]["action"] == "release"

    if not running:
        s.start()
    else:
        wait_log(s, rf"event=incident id={iid} subject=alice@example.test state=released")
    assert login_works(s)
    assert state_of(s, qid) <= {"queued", "deferred"}


def test_dismiss_and_errors(make_server):
    s = make_server().start().provision()
    iid = seed_incident(s, "ip:127.0.0.3", state="held", actions=[("alert", "score 70")])
    out = s.ctl("incident", "dismiss", str(iid)).stdout
    assert f"incident {iid} dismissed" in out
    wait_log(s, rf"event=incident id={iid} subject=ip:127.0.0.3 state=dismissed")
    missing = s.ctl("incident", "show", "999", check=False)
    assert missing.returncode == 1 and "no incident 999" in missing.stderr
    bad = s.ctl("incident", "show", "x1", check=False)
    assert bad.returncode == 2
    assert "no open incident" in s.ctl("incident", "list").stdout
