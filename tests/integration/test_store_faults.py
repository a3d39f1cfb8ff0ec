"""A store that cannot write (disk full, I/O error, a lock held too long,
a corrupt file) must never become a mail storm or a dishonest reply:

- a message the remote server (or the Maildir) accepted is delivered once,
  however long the store fails, and its outcome is written when the store
  recovers; after kill -9 at most one more copy goes out;
- while the store fails no delivery starts, new mail is answered 452 4.3.1
  (disk full) or 451 4.3.0 (lock, I/O error, corruption), one log line says
  the store fails and one that it recovered, and floodctl status shows it.

The faults are real where the machine allows it (a write lock held by
another process; a small tmpfs filled up, as root) and injected otherwise,
in builds made with meson -Dfault_injection=true (the control command
fault.store makes the committer's transactions fail with a chosen SQLite
result code)."""
import json
import os
import re
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import (RawClient, control, maildir_grep, message, server_queue, smtp_send,
                      smtp_send_many, token, wait_log)
from netfixtures import net, remote_server, wait_for  # noqa: F401

TRUSTED = "127.0.0.3"   # relay.allow_groups = ["trusted"]
SQLITE_BUSY, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL = 5, 10, 11, 13
FULL_REPLY = (452, "4.3.1")
LOCAL_ERROR_REPLY = (451, "4.3.0")
# How long a test watches a failing store for repeated deliveries.  Before
# the fix one message went out thousands of times a second: any window shows it.
WATCH_S = 4


# ---- helpers ----

def inject(s, code, after=0):
    """Make the store's transactions fail with SQLite result CODE after
    AFTER more (CODE 0: stop); skips the test in a build without the hook."""
    r = control(s, {"cmd": "fault.store", "code": code, "after": after})
    if not r["ok"] and "unknown" in r["error"]:
        pytest.skip("floodgated built without -Dfault_injection=true")
    assert r["ok"], r


def store_status(s):
    return json.loads(s.ctl("status", "--json").stdout)["store"]


def wait_store(s, state, timeout=30):
    return wait_for(lambda: (lambda st: st if st["state"] == state else None)(store_status(s)),
                    timeout, f"floodctl status: store {state}")


def message_ids(transactions):
    out = []
    for t in transactions:
        m = re.search(rb"(?im)^Message-ID: *<([^>]+)>", t.data)
        assert m, t.data[:300]
        out.append(m.group(1).decode())
    return out


def copies(sink, ids):
    got = message_ids(sink.received())
    return {i: got.count(i) for i in ids}


def relay(s, rcpt, n=1):
    """N messages to RCPT from the trusted IP in one session; their ids."""
    mails, ids = [], []
    for _ in range(n):
        msg = message(token(), sender="app@example.test", to=rcpt)
        ids.append(re.search(rb"Message-ID: <([^>]+)>", msg).group(1).decode())
        mails.append(("app@example.test", rcpt, msg))
    smtp_send_many(s.ports["mx"], mails, source=TRUSTED)
    return ids


def mail_reply(s):
    """(code, text) of MAIL FROM in a new session."""
    with RawClient(s.ports["mx"], source=TRUSTED) as c:
        c.ehlo()
        return c.cmd("MAIL FROM:<app@example.test>")


def data_reply(s, before_dot):
    """The reply to the final "." of a message whose store write meets the
    fault BEFORE_DOT() sets up after the text was sent, in a session begun
    while the store was well."""
    with RawClient(s.ports["mx"], source=TRUSTED) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<app@example.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(message(token(), sender="app@example.test"))
        before_dot()
        return c.cmd(".")


def assert_reply(reply, expected):
    code, text = reply
    assert (code, text.split(" ")[0]) == expected, reply


def log_count(s, event):
    return len(re.findall(rf"event={event}\b", s.log()))


# ---- remote delivery ----

def test_remote_delivery_is_not_repeated_while_the_store_fails(make_server, net):
    """The sink's 250 comes while the store is full: the message goes out
    once, no other delivery starts, new mail gets 452 4.3.1; after the
    recovery the outcomes are written and nothing goes out again."""
    s = None
    first = threading.Event()

    def fill_disk_on_first_data(envelope):
        if not first.is_set():
            first.set()
            inject(s, SQLITE_FULL)
        return None
    sink = net.sink(data_reply=fill_disk_on_first_data)
    net.dns.mx("remote.test", 10, "mx1.remote.test", sink.address)
    s = remote_server(make_server, net)
    inject(s, 0)   # skips the test in a build without the hook

    # all three queued before the first delivery can fill the disk: each
    # MAIL and RCPT waits for its lookup thread, and a delivery racing the
    # session would make its last message meet the full store (a 452)
    s.ctl("pause", "delivery")
    ids = relay(s, "bob@remote.test", 3)
    s.ctl("resume", "delivery")
    wait_for(lambda: sink.received(), 15, "the first delivery")
    st = wait_store(s, "failing")
    assert st["reason"] == "disk_full", st
    assert "injected" in st["error"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                                                        st["since"]), st
    time.sleep(WATCH_S)
    sent = copies(sink, ids)
    assert max(sent.values()) == 1, sent          # delivered at most once each
    st = store_status(s)
    assert st["state"] == "failing" and st["unrecorded_outcomes"] >= 1, st
    assert_reply(mail_reply(s), FULL_REPLY)
    text = s.ctl("status").stdout
    assert "store.state: failing" in text and "store.reason: disk_full" in text, text
    assert log_count(s, "store_failing") == 1, s.log()[-3000:]

    inject(s, 0)
    wait_store(s, "ok")
    wait_for(lambda: server_queue(s) == [], 30, "an empty queue")
    assert copies(sink, ids) == {i: 1 for i in ids}
    # the count drops when the loop hears of the commit, a moment after
    # floodctl can already see it
    wait_for(lambda: store_status(s) == {"state": "ok", "unrecorded_outcomes": 0}, 15,
             "the outcomes recorded")
    assert log_count(s, "store_failing") == 1 and log_count(s, "store_recovered") == 1
    wait_log(s, r"event=store_recovered reason=disk_full failed_for=\d+s")
    for qid_line in re.findall(r"event=delivered qid=\S+", s.log()):
        assert s.log().count(qid_line + " ") == 1, qid_line
    assert_reply(mail_reply(s), (250, "2.1.0"))


def test_a_kill_between_the_remote_250_and_the_record_costs_one_copy(make_server, net):
    """The outcome waits in memory when the daemon is killed: after the
    restart the message goes out once more (better twice than lost), then
    never again."""
    sink = net.sink()
    net.dns.mx("remote.test", 10, "mx1.remote.test", sink.address)
    s = remote_server(make_server, net)
    inject(s, SQLITE_IOERR, after=1)   # the message is stored, its outcome is not
    [mid] = relay(s, "bob@remote.test")
    wait_for(lambda: sink.received(), 15, "the delivery")
    wait_for(lambda: store_status(s)["unrecorded_outcomes"] == 1, 15, "the kept outcome")
    assert store_status(s)["reason"] == "store_error"
    s.kill9()
    s.start()
    wait_for(lambda: server_queue(s) == [], 30, "an empty queue")
    time.sleep(WATCH_S)
    assert copies(sink, [mid]) == {mid: 2}


# ---- local delivery ----

def test_local_delivery_is_not_repeated_while_the_store_fails(make_server):
    s = make_server().start().provision()
    inject(s, SQLITE_CORRUPT, after=1)
    subject = token()
    smtp_send(s.ports["mx"], "someone@remote.test", "alice@example.test",
              message(subject, to="alice@example.test"), source=TRUSTED)
    wait_store(s, "failing")
    assert store_status(s)["reason"] == "store_error"
    time.sleep(WATCH_S)
    assert len(maildir_grep(s, "alice@example.test", subject)) == 1
    assert store_status(s)["unrecorded_outcomes"] == 1
    inject(s, 0)
    wait_for(lambda: server_queue(s) == [], 30, "an empty queue")
    # the count drops when the loop hears of the commit, a moment after
    # floodctl can already see it
    wait_for(lambda: store_status(s) == {"state": "ok", "unrecorded_outcomes": 0}, 15,
             "the outcomes recorded")
    assert len(maildir_grep(s, "alice@example.test", subject)) == 1


def test_a_stop_while_outcomes_wait_costs_one_copy(make_server):
    """SIGTERM while an outcome waits for a failing store: the daemon stops
    as usual (and frees what it kept), and after the restart the message
    is delivered once more, then never again."""
    s = make_server().start().provision()
    inject(s, SQLITE_FULL, after=1)
    subject = token()
    smtp_send(s.ports["mx"], "someone@remote.test", "alice@example.test",
              message(subject, to="alice@example.test"), source=TRUSTED)
    wait_for(lambda: store_status(s)["unrecorded_outcomes"] == 1, 15, "the kept outcome")
    assert s.stop() == 0
    s.start()
    wait_for(lambda: server_queue(s) == [], 30, "an empty queue")
    time.sleep(WATCH_S)
    assert len(maildir_grep(s, "alice@example.test", subject)) == 2


# ---- honest replies ----

@pytest.mark.parametrize("code, reason, expected", [
    (SQLITE_FULL, "disk_full", FULL_REPLY),
    (SQLITE_BUSY, "locked", LOCAL_ERROR_REPLY),
    (SQLITE_IOERR, "store_error", LOCAL_ERROR_REPLY),
    (SQLITE_CORRUPT, "store_error", LOCAL_ERROR_REPLY),
])
def test_replies_say_what_failed(make_server, code, reason, expected):
    s = make_server().start().provision()
    assert_reply(data_reply(s, lambda: inject(s, code)), expected)
    assert store_status(s)["reason"] == reason
    assert_reply(mail_reply(s), expected)       # refused before the client sends the text
    inject(s, 0)
    wait_store(s, "ok")
    assert_reply(mail_reply(s), (250, "2.1.0"))
    assert log_count(s, "store_failing") == 1 and log_count(s, "store_recovered") == 1


def test_a_store_locked_by_another_process_answers_451_not_452(make_server):
    """A real lock: another process holds the store's write lock past the
    busy timeout.  That is no full disk."""
    s = make_server().start().provision()
    holder = sqlite3.connect(str(s.state / "store.db"), timeout=10, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert_reply(data_reply(s, lambda: None), LOCAL_ERROR_REPLY)
        assert store_status(s)["reason"] == "locked"
        assert_reply(mail_reply(s), LOCAL_ERROR_REPLY)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_store(s, "ok")
    assert_reply(mail_reply(s), (250, "2.1.0"))


# ---- a real full disk ----

@pytest.fixture
def small_tmpfs():
    """A 4 MB tmpfs (root only); unmounted afterwards.  Not under pytest's
    0700 tmp dir: the daemon runs as nobody."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = Path(tempfile.mkdtemp(prefix="fg-tmpfs-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    mnt.rmdir()


def fill(path):
    """Write PATH until the file system is full."""
    block = b"\0" * 65536
    with open(path, "wb") as f:
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass


def test_a_full_disk_delivers_each_message_once(make_server, net, small_tmpfs):
    """The state dir on a small tmpfs, filled up while three deliveries wait
    for the sink's 250."""
    sink = net.sink(hold_after=0)
    net.dns.mx("remote.test", 10, "mx1.remote.test", sink.address)
    s = make_server(extra=net.config())
    s.state = small_tmpfs / "state"
    s.conf.write_text(s.conf.read_text().replace(str(s.dir / "state"), str(s.state)))
    s.start().provision()
    try:
        ids = relay(s, "bob@remote.test", 3)
        wait_for(lambda: sink.held >= 1, 15, "a delivery at the sink")
        fill(small_tmpfs / "filler")
        sink.release.set()
        wait_for(lambda: sink.received(), 15, "the first delivery")
        time.sleep(WATCH_S)
        sent = copies(sink, ids)
        assert max(sent.values()) == 1, sent
        st = wait_store(s, "failing")
        assert st["reason"] == "disk_full" and st["unrecorded_outcomes"] >= 1, st
        assert_reply(mail_reply(s), FULL_REPLY)
        assert log_count(s, "store_failing") == 1
    finally:
        (small_tmpfs / "filler").unlink(missing_ok=True)
    wait_store(s, "ok")
    wait_for(lambda: server_queue(s) == [], 30, "an empty queue")
    assert copies(sink, ids) == {i: 1 for i in ids}
    s.stop()
