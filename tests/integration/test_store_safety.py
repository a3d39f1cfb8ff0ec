"""A lost or broken store is refused, not replaced (issue 12, item 5), and
the evidence stays readable (item 7): floodctl quarantine show and export
read a message wherever it lives."""
import json
import os
import re
import shutil
import sqlite3
import stat
import threading
import time

from conftest import message, quarantine_file, server_queue, smtp_send, token
from test_queue_investigate import ctl_bytes

TRUSTED = "127.0.0.3"   # relay.allow_groups = ["trusted"] in the harness


def relay_waiting(s, subject):
    """A message for a remote domain: the harness' DNS is a dead port, so it
    waits in the queue.  Returns (qid, bytes sent)."""
    msg = message(subject, sender="app@example.test", to="far@remote.test")
    return smtp_send(s.ports["mx"], "app@example.test", "far@remote.test", msg,
                     source=TRUSTED), msg


def test_quarantine_show_and_export_read_the_quarantine_file(make_server):
    s = make_server().start().provision()
    subject = "evidence " + token()
    qid, msg = relay_waiting(s, subject)
    s.ctl("queue", "quarantine", qid, "--reason", "compromised")
    f = quarantine_file(s, qid)
    assert f.exists()
    text = s.ctl("quarantine", "show", qid).stdout
    assert "(no stored message)" not in text
    assert f"Subject: {subject}" in text
    shown = json.loads(s.ctl("quarantine", "show", qid, "--json").stdout)
    assert f"Subject: {subject}" in shown["headers"]
    # queue show finds it in quarantine too
    assert f"Subject: {subject}" in s.ctl("queue", "show", qid).stdout
    exported = ctl_bytes(s, "quarantine", "export", qid)
    assert exported == f.read_bytes() and exported.endswith(msg)
    # a queued message is not in quarantine
    other, _ = relay_waiting(s, "still queued")
    r = s.ctl("quarantine", "export", other, check=False)
    assert r.returncode == 1 and "no message" in r.stderr


# ---- a lost or broken store is refused ----

def start_refused(s):
    """Start floodgated on S (in the foreground) and expect it to refuse:
    returns what it printed."""
    s.start(wait=False)
    rc = s.proc.wait(60)
    assert rc == 1, s.log()
    return s.log()


def assert_refusal(text, store, what):
    assert f"{store} is {what}" in text, text
    assert "floodctl store init --force" in text and "backup" in text, text


def stored_ids(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT id FROM messages")}
    finally:
        con.close()


def test_a_deleted_store_is_refused_until_init_force(make_server):
    s = make_server().start().provision()
    qid, _ = relay_waiting(s, "queued before the loss")
    assert (s.state / "floodgate.id").exists()
    assert s.stop() == 0
    store = s.state / "store.db"
    store.unlink()
    for f in ("store.db-wal", "store.db-shm"):
        (s.state / f).unlink(missing_ok=True)
    assert_refusal(start_refused(s), store, "missing")
    assert not store.exists()       # not made again, empty
    # floodctl does not make one either
    r = s.ctl("user", "list", check=False)
    assert r.returncode == 1 and f"{store} is missing" in r.stderr, r.stderr
    assert not store.exists()
    r = s.ctl("store", "init", check=False)
    assert r.returncode == 1 and "--force" in r.stderr
    r = s.ctl("store", "init", "--force")
    assert re.search(r"new empty store", r.stdout), r.stdout
    assert list(s.state.glob("store.db.broken-*.id"))   # the old marker, kept
    s.start()
    assert qid not in stored_ids(store)
    s.provision()
    relay_waiting(s, "after the new start")


def test_an_empty_store_is_refused_and_set_aside_by_init_force(make_server):
    s = make_server().start().provision()
    assert s.stop() == 0
    store = s.state / "store.db"
    store.write_bytes(b"")
    assert_refusal(start_refused(s), store, "empty (0 bytes)")
    s.ctl("store", "init", "--force")
    [aside] = [p for p in s.state.glob("store.db.broken-*") if p.suffix != ".id"
               and not p.name.endswith(("-wal", "-shm"))]
    assert aside.stat().st_size == 0
    s.start()
    assert s.ctl("domain", "list").returncode == 0


def test_a_corrupted_store_is_refused(make_server):
    s = make_server().start().provision()
    qids = [relay_waiting(s, f"fill {i} " + "x" * 3000)[0] for i in range(60)]
    assert s.stop() == 0
    store = s.state / "store.db"
    data = bytearray(store.read_bytes())
    page = 4096
    assert len(data) > 40 * page, len(data)
    # pages in the middle overwritten, as a bad disk or a bad copy would
    mid = (len(data) // page // 2) * page
    data[mid - 8 * page: mid + 8 * page] = os.urandom(16 * page)
    store.write_bytes(bytes(data))
    text = start_refused(s)
    assert f"{store} is damaged" in text and "quick_check" in text, text
    assert "floodctl store init --force" in text
    s.ctl("store", "init", "--force")
    [aside] = [p for p in s.state.glob("store.db.broken-*") if "." not in p.name[-4:]]
    assert aside.read_bytes() == bytes(data)   # moved aside, unchanged
    s.start()
    assert not set(qids) & stored_ids(store)


def test_a_store_from_before_the_marker_is_adopted(make_server):
    s = make_server().start().provision()
    assert s.stop() == 0
    (s.state / "floodgate.id").unlink()
    s.start()
    assert (s.state / "floodgate.id").exists()
    assert "alice@example.test" in s.ctl("user", "list").stdout
    # never under a running daemon
    r = s.ctl("store", "init", "--force", check=False)
    assert r.returncode == 1 and "floodgated is running" in r.stderr, r.stderr
    assert not list(s.state.glob("store.db.broken-*"))


def test_another_servers_store_is_refused(make_server):
    a = make_server().start().provision()
    b = make_server().start()
    assert a.stop() == 0 and b.stop() == 0
    for f in b.state.glob("store.db*"):
        f.unlink()
    shutil.copy(a.state / "store.db", b.state / "store.db")
    text = start_refused(b)
    assert f"{b.state / 'store.db'} is another store" in text, text
    (b.state / "floodgate.id").unlink()     # the documented way to adopt it
    b.start()
    assert "alice@example.test" in b.ctl("user", "list").stdout


# ---- backup ----

def test_backup_while_the_daemon_accepts_mail(make_server, tmp_path):
    s = make_server().start().provision()
    before = [relay_waiting(s, f"before {i}")[0] for i in range(20)]
    stop = threading.Event()
    sent = []

    def keep_sending():
        while not stop.is_set():
            sent.append(relay_waiting(s, "during")[0])

    t = threading.Thread(target=keep_sending)
    t.start()
    try:
        time.sleep(0.3)
        backup = tmp_path / "backup.db"
        r = s.ctl("store", "backup", str(backup), "--json")
    finally:
        stop.set()
        t.join()
    assert json.loads(r.stdout)["file"] == str(backup)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sent, "no mail was accepted during the backup"
    con = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {r[0] for r in con.execute("SELECT id FROM messages")}
        # one snapshot: every message with its body and recipients
        assert con.execute("SELECT count(*) FROM messages m WHERE NOT EXISTS"
                           " (SELECT 1 FROM bodies b WHERE b.message = m.id)").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM messages m WHERE NOT EXISTS"
                           " (SELECT 1 FROM recipients r WHERE r.message = m.id)"
                           ).fetchone()[0] == 0
        users = {r[0] for r in con.execute("SELECT address FROM users")}
    finally:
        con.close()
    assert set(before) <= ids
    assert users == {"alice@example.test", "bob@example.test"}
    r = s.ctl("store", "backup", str(backup), check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    # the backup is a store floodgated starts from
    assert s.stop() == 0
    for f in s.state.glob("store.db*"):
        f.unlink()
    shutil.copy(backup, s.state / "store.db")
    s.start()
    assert set(before) <= {m["id"] for m in server_queue(s)}


# ---- store check ----

def test_store_check_finds_and_repairs_orphans(make_server):
    s = make_server().start().provision()
    kept, _ = relay_waiting(s, "kept")
    lost, _ = relay_waiting(s, "file lost")
    unindexed, _ = relay_waiting(s, "record lost")
    s.ctl("queue", "quarantine", kept, lost, unindexed, "--reason", "outbreak")
    quarantine_file(s, lost).unlink()
    con = sqlite3.connect(s.state / "store.db", timeout=10)
    with con:
        con.execute("DELETE FROM quarantine WHERE message = ?", (unindexed,))
    con.close()
    ghost = "0123456789ABCDEF"
    gf = quarantine_file(s, ghost)
    gf.parent.mkdir(exist_ok=True)
    gf.write_bytes(b"Subject: nobody knows me\r\n\r\nhi\r\n")
    owner = s.state.stat()
    for p in (gf.parent, gf):
        os.chown(p, owner.st_uid, owner.st_gid)
    # a delivery a crash cut short, and one in progress
    smtp_send(s.ports["mx"], "x@remote.test", "alice@example.test", message("first"))
    s.wait_delivered("alice@example.test", 1)
    tmp = s.maildir("alice@example.test") / "tmp"
    old, fresh = tmp / "1.M1P1Q1.host", tmp / "2.M2P2Q2.host"
    for f in (old, fresh):
        f.write_bytes(b"partial")
        os.chown(f, tmp.stat().st_uid, tmp.stat().st_gid)
    past = time.time() - 40 * 3600
    os.utime(old, (past, past))

    r = s.ctl("store", "check", "--json", check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["integrity"] == [] and report["ok"] is False
    assert report["maildir_tmp_removed"] == [str(old)]
    assert not old.exists() and fresh.exists()
    assert sorted((o["id"], o["action"]) for o in report["quarantine"]["orphan_files"]) == \
        sorted([(ghost, "reported"), (unindexed, "reported")])
    assert [(m["id"], m["action"]) for m in report["quarantine"]["missing_files"]] == \
        [(lost, "reported")]
    assert gf.exists()

    r = s.ctl("store", "check", "--repair")
    assert f"{ghost}" in r.stdout and "moved" in r.stdout, r.stdout
    assert not gf.exists()
    assert (s.state / "lost+found" / "quarantine" / f"{ghost}.eml").read_bytes() \
        .startswith(b"Subject: nobody knows me")
    assert "quarantine file: missing" in s.ctl("quarantine", "show", lost).stdout
    assert quarantine_file(s, unindexed).exists()
    assert "re-indexed" in s.ctl("quarantine", "show", unindexed).stdout
    assert quarantine_file(s, kept).exists()
    report = json.loads(s.ctl("store", "check", "--json").stdout)
    assert report["ok"] is True and report["quarantine"]["orphan_files"] == []
    assert [(m["id"], m["action"]) for m in report["quarantine"]["missing_files"]] == \
        [(lost, "marked")]
