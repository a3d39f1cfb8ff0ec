"""The state directory is private (issue 12, item 3): under umask 022 the
store, its -wal/-shm, the log, Maildir, quarantine and DKIM key files are
created 0600 in 0700 directories; wider modes found at start are narrowed
with one warning per path; floodctl run as root creates files the daemon's
user owns."""
import os
import pwd
import re
import stat

import pytest

from conftest import DOMAIN, message, smtp_send, wait_log

TRUSTED = "127.0.0.3"   # relay.allow_groups = ["trusted"] in the harness


def modes(root):
    """{path: mode} of ROOT and everything under it (symlinks not followed)."""
    out = {root: stat.S_IMODE(os.lstat(root).st_mode)}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out[p] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def owners(root):
    out = {root: os.lstat(root).st_uid}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out[p] = os.lstat(p).st_uid
    return out


@pytest.fixture
def umask_022():
    old = os.umask(0o022)   # inherited by floodgated and floodctl
    yield
    os.umask(old)


def test_everything_is_created_private_under_umask_022(make_server, umask_022):
    s = make_server().start().provision()
    s.ctl("dkim", "generate", DOMAIN)
    subject = "private-" + os.urandom(4).hex()
    smtp_send(s.ports["mx"], "x@remote.test", "alice@example.test", message(subject))
    s.wait_delivered("alice@example.test", 1)
    # a remote message (the DNS is a dead port: it waits) goes to quarantine
    qid = smtp_send(s.ports["mx"], "app@example.test", "far@remote.test",
                    message("to quarantine"), source=TRUSTED)
    s.ctl("queue", "quarantine", qid, "--reason", "test")
    got = modes(str(s.state))
    names = {os.path.relpath(p, s.state) for p in got}
    # what item 3 lists is really there, so the walk below checks it
    for must in ("store.db", "store.db-wal", "store.db-shm", "floodgate.log", "control.sock",
                 f"quarantine/{qid[-2:]}/{qid}.eml", "dkim"):
        assert must in names, sorted(names)
    assert any(n.startswith("mail/example.test/alice/Maildir/new/") for n in names)
    wide = {os.path.relpath(p, s.state): oct(m) for p, m in got.items() if m & 0o077}
    assert wide == {}, wide
    assert got[str(s.state)] == 0o700


def test_wider_modes_are_narrowed_once_with_one_warning_each(make_server):
    s = make_server().start().provision()
    assert s.stop() == 0
    store = s.state / "store.db"
    os.chmod(store, 0o644)
    os.chmod(s.state, 0o755)
    s.start()
    wait_log(s, r"event=start pid=")
    log = s.log()
    lines = re.findall(r"event=permissions_narrowed path=(\S+) was=(\d+)", log)
    assert lines.count((str(store), "0644")) == 1, log
    assert lines.count((str(s.state), "0755")) == 1, log
    assert len(lines) == 2, lines
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(s.state.stat().st_mode) == 0o700
    # and the server still works on the narrowed store
    s.ctl("user", "list")
    s.restart()
    wait_log(s, r"event=start pid=[\s\S]*event=start pid=")
    assert len(re.findall(r"event=permissions_narrowed", s.log())) == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run floodctl as root")
def test_floodctl_as_root_creates_files_the_daemon_user_owns(make_server, umask_022):
    """An admin makes the state dir as root and sets up domains, users and
    a DKIM key with floodctl before the first start: the daemon, running as
    its unprivileged user, must be able to open all of it."""
    s = make_server()               # user = "nobody" (the harness runs as root)
    nobody = pwd.getpwnam("nobody").pw_uid
    os.mkdir(s.state, 0o755)        # root-owned, as "mkdir /var/lib/floodgate"
    s.provision()
    s.ctl("dkim", "generate", DOMAIN)
    wrong = {os.path.relpath(p, s.state): u for p, u in owners(str(s.state)).items()
             if u != nobody}
    assert wrong == {}, f"not owned by nobody: {wrong}"
    s.start()
    subject = "after-root-ctl-" + os.urandom(4).hex()
    smtp_send(s.ports["mx"], "x@remote.test", "alice@example.test", message(subject))
    s.wait_delivered("alice@example.test", 1)
    wrong = {os.path.relpath(p, s.state): u for p, u in owners(str(s.state)).items()
             if u != nobody}
    assert wrong == {}, f"not owned by nobody: {wrong}"


def test_a_state_dir_behind_a_symlink_is_narrowed_where_it_points(make_server):
    s = make_server().start().provision()
    assert s.stop() == 0
    real = s.dir / "state-real"
    s.state.rename(real)
    s.state.symlink_to(real)
    os.chmod(real, 0o755)
    s.start()
    wait_log(s, r"event=start pid=")
    lines = re.findall(r"event=permissions_narrowed path=(\S+) was=(\d+)", s.log())
    assert lines == [(str(real), "0755")], lines
    assert stat.S_IMODE(real.stat().st_mode) == 0o700
    s.ctl("user", "list")
