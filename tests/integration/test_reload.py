"""Reload and log rotation: SIGHUP and `floodctl reload` read the config
again and free the old one once the last session or delivery using it is
over; a config that does not load is refused with file, line and key, and
the running one stays; SIGUSR1 reopens the log file (logrotate)."""
import json
import os
import re
import signal
import stat
import subprocess
import time

from conftest import FLOODGATED, RawClient, message, smtp_send, wait_log

ALICE = "alice@example.test"


def reloads(s):
    """How many reloads the daemon has taken so far."""
    return len(re.findall(r"event=reload result=ok", s.log()))


def sighup(s):
    """SIGHUP, and wait until the daemon says it took the config: signals
    sent faster than it reloads would merge into one."""
    n = reloads(s)
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 30
    while reloads(s) == n:
        assert time.time() < deadline, s.log()[-3000:]
        assert s.proc.poll() is None, s.log()[-3000:]
        time.sleep(0.01)
    return re.findall(r"event=reload result=ok .*", s.log())[-1]


def wait_disconnects(s, n):
    """Wait until N sessions have ended on the server's side."""
    deadline = time.time() + 30
    while len(re.findall(r"event=disconnect ", s.log())) < n:
        assert time.time() < deadline, s.log()[-3000:]
        time.sleep(0.02)


def set_max_recipients(s, n):
    text = re.sub(r"max_recipients = \d+;", f"max_recipients = {n};", s.conf.read_text())
    s.conf.write_text(text)


def assert_rcpt_limit(s, n):
    """A new session on mx takes N recipients, and refuses one more (452)."""
    with RawClient(s.ports["mx"]) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@remote.test>")[0] == 250
        for _ in range(n):
            assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 452


def finish_message(c, subject):
    """End the open transaction of C with a message: its queue id."""
    assert c.cmd("DATA")[0] == 354
    code, text = c.cmd(message(subject).replace(b"\r\n.", b"\r\n..") + b"\r\n.")
    assert code == 250, text
    assert c.cmd("QUIT")[0] == 221
    return re.search(r"queued as ([0-9A-F]{16})", text).group(1)


def test_300_reloads_free_every_old_config(make_server):
    """300 SIGHUPs, every tenth with a session open across it that then
    finishes its message under the settings it started with.  Each old
    config is freed when its last session ends (configs_in_use comes back
    to 1), and under ASan the exit after SIGTERM reports no leak (the
    fixture fails on any sanitizer report)."""
    s = make_server().start().provision()
    open_sessions = []
    sent = 0
    for i in range(300):
        if i % 10 == 0:
            # opened under max_recipients = 20 or 19, alternately
            limit = 20 if i % 20 == 0 else 19
            c = RawClient(s.ports["mx"])
            c.ehlo()
            assert c.cmd("MAIL FROM:<a@remote.test>")[0] == 250
            open_sessions.append((c, limit))
            set_max_recipients(s, 19 if limit == 20 else 20)
        line = sighup(s)
        if i % 10 == 9:
            # the sessions opened before the reloads keep their own limit
            for c, limit in open_sessions:
                for _ in range(limit):
                    assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
                assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 452
                assert c.cmd("RSET")[0] == 250
                assert c.cmd("MAIL FROM:<a@remote.test>")[0] == 250
                assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
                finish_message(c, f"across reload {i}")
                c.close()
                sent += 1
            assert "configs_in_use=" in line
            open_sessions = []
    wait_disconnects(s, sent)
    # every delivery job has let go of its config once its outcome is logged
    deadline = time.time() + 60
    while len(re.findall(r"event=delivered ", s.log())) < sent:
        assert time.time() < deadline, s.log()[-3000:]
        time.sleep(0.05)
    # the last reload: nothing uses an older config any more
    assert sighup(s).endswith("configs_in_use=1"), s.log()[-2000:]
    assert s.stop() == 0


def test_bad_reload_names_file_line_key_and_keeps_serving(make_server):
    s = make_server().start().provision()
    good = s.conf.read_text()
    bad = good.replace("max_recipients = 20;", "max_recipients = 0;")
    assert bad != good
    s.conf.write_text(bad)
    line = next(i for i, l in enumerate(bad.split("\n"), 1) if "max_recipients = 0" in l)
    s.proc.send_signal(signal.SIGHUP)
    m = wait_log(s, r"event=reload result=rejected error=.*")
    assert f"floodgate.conf:{line}: limits.max_recipients" in m.group(0), m.group(0)
    # still serving, with the old config: a message is accepted ...
    assert smtp_send(s.ports["mx"], "a@remote.test", ALICE, message("after a bad reload"))
    s.wait_delivered(ALICE, 1)
    # ... and the old max_recipients = 20 holds
    assert_rcpt_limit(s, 20)
    assert s.proc.poll() is None


def test_reload_applies_listener_settings_and_refuses_to_move_one(make_server):
    """A listener's auth setting changes with a reload (for new sessions);
    moving a listener to another address needs a restart, and a reload
    that asks for it is refused, naming the listener."""
    s = make_server().start().provision()
    with RawClient(s.ports["mx"]) as c:
        assert not any(l.startswith("AUTH") for l in c.ehlo())
    old = RawClient(s.ports["mx"])
    text = s.conf.read_text()
    mx = f'name = "mx"; address = "127.0.0.1:{s.ports["mx"]}"; tls = "starttls"; auth = "off";'
    assert mx in text
    s.conf.write_text(text.replace(mx, mx.replace('auth = "off"', 'auth = "optional"; '
                                                  "plaintext_auth = true")))
    sighup(s)
    with RawClient(s.ports["mx"]) as c:
        assert any(l.startswith("AUTH") for l in c.ehlo())
    with old:  # opened before: its listener settings stay
        assert not any(l.startswith("AUTH") for l in old.ehlo())
    s.conf.write_text(text.replace(f'127.0.0.1:{s.ports["mx"]}', "127.0.0.1:1"))
    s.proc.send_signal(signal.SIGHUP)
    m = wait_log(s, r"event=reload result=rejected error=.*")
    assert "listener mx moved" in m.group(0), m.group(0)
    with RawClient(s.ports["mx"]) as c:
        assert any(l.startswith("AUTH") for l in c.ehlo())


def test_floodctl_reload(make_server):
    s = make_server().start().provision()
    set_max_recipients(s, 2)
    r = s.ctl("reload", "--json")
    out = json.loads(r.stdout)
    assert out["reloaded"] is True and out["configs_in_use"] == 1, out
    assert_rcpt_limit(s, 2)
    assert "floodgated reloaded" in s.ctl("reload").stdout

    # a file floodctl cannot read either: the error names file, line, key
    good = s.conf.read_text()
    s.conf.write_text(good.replace("max_recipients = 2;", "max_recipients = 0;"))
    r = s.ctl("reload", check=False)
    assert r.returncode == 1
    assert re.search(r"floodgate\.conf:\d+: limits\.max_recipients", r.stderr), r.stderr
    assert "running configuration" in r.stderr

    # a file only the daemon refuses: its error comes back over the socket
    s.conf.write_text(good.replace(f'127.0.0.1:{s.ports["submission"]}', "127.0.0.1:1"))
    r = s.ctl("reload", check=False)
    assert r.returncode == 1
    assert "floodgated: " in r.stderr and "listener submission moved" in r.stderr, r.stderr
    assert "running configuration stays" in r.stderr
    wait_log(s, r"event=reload result=rejected")
    # the old config (max_recipients = 2) still holds
    assert_rcpt_limit(s, 2)
    assert s.proc.poll() is None


def test_sigusr1_reopens_the_log_file(make_server):
    """Run as a daemon (no -d), logging to its log_file (the default,
    state_dir/floodgate.log): logrotate renames the file and sends SIGUSR1;
    the next event goes to a new, private file at the original path,
    nothing more to the renamed one."""
    s = make_server()
    log = s.state / "floodgate.log"
    r = subprocess.run([str(FLOODGATED), "-c", str(s.conf)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pidfile = s.state / "floodgated.pid"
    deadline = time.time() + 10
    while not (pidfile.exists() and (s.state / "control.sock").exists()):
        assert time.time() < deadline
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    try:
        s.provision()
        with RawClient(s.ports["mx"]) as c:
            c.ehlo()
        rotated = s.state / "floodgate.log.1"
        os.rename(log, rotated)
        os.kill(pid, signal.SIGUSR1)
        deadline = time.time() + 10
        while not log.exists():
            assert time.time() < deadline, rotated.read_text()[-2000:]
            time.sleep(0.02)
        with RawClient(s.ports["mx"]) as c:
            c.ehlo()
        deadline = time.time() + 10
        while "event=connect" not in log.read_text():
            assert time.time() < deadline, log.read_text()
            time.sleep(0.02)
        new = log.read_text()
        assert "event=log_reopen result=ok" in new
        old = rotated.read_text()
        assert old.count("event=connect") == 1 and new.count("event=connect") == 1, (old, new)
        mode = stat.S_IMODE(log.stat().st_mode)
        assert mode & 0o037 == 0, oct(mode)  # at most 0640
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 30
        while pidfile.exists() and time.time() < deadline:
            time.sleep(0.05)
