"""floodctl monitor (issue 14 item 8; docs/floodctl.8.md): the running
daemon's figures from memory over the control socket, as one JSON object
(--once --json), one text frame (--once, or when not on a terminal), or a
live view refreshed like top(1) on a terminal (driven here through a pty)
that quits on q or Ctrl-C and gives the terminal back."""
import json
import os
import pty
import re
import select
import smtplib
import time

import pytest

from conftest import FLOODCTL, PASSWORDS, message, tls_client_context
from netfixtures import net, wait_for  # noqa: F401
from test_detector import LAN_PC, detector_server, lan_pc_spam

ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])
OUTSIDER = "127.0.0.5"  # a client of the Internet: not in the trusted group
FIELDS = {"at", "window", "measured_over", "connections", "per_second", "totals",
          "top_senders", "incidents", "incidents_open", "queue"}
KINDS = {"accepted", "delivered", "deferred", "bounced", "rejected"}


def monitor(s, *args, check=True):
    return s.ctl("monitor", *args, check=check)


def monitor_json(s, *args):
    return json.loads(monitor(s, "--once", "--json", *args).stdout)


def known_traffic(s):
    """3 messages from alice (2 recipients each), 2 from an outsider to
    alice (1 recipient each), 1 refused recipient."""
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
        c.starttls(context=tls_client_context())
        c.login(*ALICE)
        for i in range(3):
            to = ["bob@example.test", "alice@example.test"]
            assert c.sendmail(ALICE[0], to, message(f"Note {i}", sender=ALICE[0],
                                                    to=to[0])) == {}
    with smtplib.SMTP("127.0.0.1", s.ports["mx"], source_address=(OUTSIDER, 0),
                      timeout=30) as c:
        for i in range(2):
            assert c.sendmail("someone@remote.test", ["alice@example.test"],
                              message(f"Hello {i}")) == {}
        c.mail("someone@remote.test")
        code, _ = c.rcpt("nobody@example.test")
        assert code == 550
        c.rset()


def test_once_json_fields_and_values(make_server):
    s = make_server().start().provision()
    before = monitor_json(s)
    assert set(before) == FIELDS
    assert before["totals"] == dict.fromkeys(KINDS, 0) and before["top_senders"] == []
    known_traffic(s)
    # at once (the rates and the senders are of the last minute)
    r = monitor_json(s, "--interval", "60")
    assert set(r) == FIELDS and set(r["per_second"]) == KINDS and set(r["totals"]) == KINDS
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["at"])
    assert r["window"] == 60 and r["measured_over"] > 0
    assert r["totals"]["accepted"] == 5
    assert r["totals"]["rejected"] == 1
    assert r["per_second"]["accepted"] > 0 and r["per_second"]["rejected"] > 0
    assert r["per_second"]["bounced"] == 0
    alice, outsider = r["top_senders"]
    assert alice == {"sender": "alice@example.test", "kind": "user", "messages_per_minute": 3,
                     "recipients_per_minute": 6, "score": alice["score"]}
    assert isinstance(alice["score"], int)  # the detector follows accounts
    assert outsider == {"sender": OUTSIDER, "kind": "ip", "messages_per_minute": 2,
                        "recipients_per_minute": 2, "score": None}
    assert r["incidents"] == [] and r["incidents_open"] == 0
    assert [x["sender"] for x in monitor_json(s, "--top", "1")["top_senders"]] == [ALICE[0]]
    # the deliveries: 3 to bob, 3 + 2 to alice, per recipient
    r = wait_for(lambda: (lambda r: r["totals"]["delivered"] == 8 and r)(
        monitor_json(s, "--interval", "60")), what="the deliveries counted")
    assert r["per_second"]["delivered"] > 0
    assert r["totals"]["deferred"] == 0 and r["totals"]["bounced"] == 0
    assert r["queue"]["messages"] == 0
    assert r["connections"] == 0


def test_incidents_and_scores_of_an_outbreak(make_server, net):
    s, _ = detector_server(make_server, net)
    lan_pc_spam(s)
    r = monitor_json(s)
    [inc] = r["incidents"]
    assert inc["subject"] == f"ip:{LAN_PC}" and inc["state"] == "held"
    assert set(inc) == {"id", "subject", "state", "opened", "score"}
    assert r["incidents_open"] == 1
    [pc] = [x for x in r["top_senders"] if x["sender"] == LAN_PC]
    # 40 messages of 5 recipients (all of them, unless sending took most of a minute)
    n = pc["messages_per_minute"]
    assert 0 < n <= 40 and pc["recipients_per_minute"] == 5 * n
    assert pc["score"] >= 60  # the hold's score
    text = monitor(s, "--once").stdout
    assert re.search(rf"^{re.escape(LAN_PC)}\s+\d+\s+\d+\s+\d+$", text, re.M), text
    assert re.search(rf"^{inc['id']}\s+ip:{re.escape(LAN_PC)}\s+held\s", text, re.M), text


def test_not_a_terminal_is_one_frame(make_server):
    s = make_server().start().provision()
    known_traffic(s)
    out = monitor(s).stdout  # stdout is a pipe: one frame, no escape codes
    assert "\x1b" not in out
    assert re.search(r"^alice@example.test\s+3\s+6\s+\d+$", out, re.M), out
    assert re.search(rf"^{re.escape(OUTSIDER)}\s+2\s+2\s+-$", out, re.M), out
    assert "No open incident." in out
    assert re.search(r"^since start\s+5\s+", out, re.M), out


def test_usage_and_a_stopped_daemon(make_server):
    s = make_server().start().provision()
    r = monitor(s, "--interval", "61", check=False)
    assert r.returncode == 2 and "at most 60" in r.stderr
    r = monitor(s, "--color", check=False)
    assert r.returncode == 2 and "unknown argument '--color'" in r.stderr
    s.stop()
    r = monitor(s, "--once", check=False)
    assert r.returncode == 1 and "floodgated is not running" in r.stderr


def have_pty():
    """Can this machine make a pseudo-terminal?  A chroot or container
    without devpts on /dev/pts cannot (openpty: "out of pty devices")."""
    try:
        master, slave = pty.openpty()
    except OSError:
        return False
    os.close(master)
    os.close(slave)
    return True


# The live view needs a terminal: where the machine has none to give, the
# three tests below say so (pytest -rs) instead of failing on the harness.
needs_pty = pytest.mark.skipif(not have_pty(),
                               reason="no pseudo-terminal on this machine (devpts not mounted)")


class Pty:
    """floodctl monitor on a pseudo-terminal, as an admin runs it."""

    def __init__(self, s, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["FLOODGATE_CONFIG"] = str(s.conf)
            os.environ["TERM"] = "xterm"
            os.execv(str(FLOODCTL), [str(FLOODCTL), "monitor", *args])
        self.out = b""

    def read_until(self, needle, count=1, timeout=20):
        """Read the terminal until NEEDLE was written COUNT times."""
        deadline = time.time() + timeout
        while self.out.count(needle) < count:
            left = deadline - time.time()
            assert left > 0, f"no {needle!r} x{count} on the terminal: {self.out[-2000:]!r}"
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the child is gone (EIO)
                    chunk = b""
                assert chunk, f"the terminal closed: {self.out[-2000:]!r}"
                self.out += chunk
        return self.out

    def send(self, data):
        os.write(self.fd, data)

    def wait(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                try:  # what it wrote last (the terminal given back)
                    while select.select([self.fd], [], [], 0.2)[0]:
                        chunk = os.read(self.fd, 65536)
                        if not chunk:
                            break
                        self.out += chunk
                except OSError:
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, 9)
        raise AssertionError(f"monitor did not exit: {self.out[-2000:]!r}")


@needs_pty
def test_live_view_on_a_terminal_quits_on_q(make_server):
    s = make_server().start().provision()
    known_traffic(s)
    t = Pty(s)
    out = t.read_until(b"(q quits)")
    assert b"\x1b[?1049h" in out  # the alternate screen, as top takes it
    t.read_until(b"alice@example.test")
    # it refreshes like top: the screen is cleared for each frame
    t.read_until(b"\x1b[H\x1b[J", count=2)
    t.send(b"q")
    assert t.wait() == 0
    assert t.out.endswith(b"\x1b[?25h\x1b[?1049l"), t.out[-200:]  # the terminal given back


@needs_pty
def test_live_view_quits_on_ctrl_c(make_server):
    s = make_server().start().provision()
    t = Pty(s, "--interval", "5")
    t.read_until(b"(q quits)")
    t.send(b"\x03")  # the terminal turns it into SIGINT
    assert t.wait() == 0
    assert t.out.endswith(b"\x1b[?25h\x1b[?1049l"), t.out[-200:]


@needs_pty
def test_live_view_says_why_when_the_daemon_stops(make_server):
    """The daemon goes away under the view: the terminal is given back
    first, then the reason is said where the admin can read it."""
    s = make_server().start().provision()
    t = Pty(s)
    t.read_until(b"(q quits)")
    s.stop()
    assert t.wait() == 1
    restored = t.out.rfind(b"\x1b[?1049l")
    said = t.out.find(b"floodgated is not running")
    assert 0 <= restored < said, t.out[-400:]
