"""Logging where a Debian admin looks (issue 17, item 1): without log_file a
detached floodgated (and floodctl) send their key=value lines to syslog,
facility mail, as syslog(3) would; started by systemd (stderr is the
journal, $JOURNAL_STREAM) the daemon sends them to the journal with
fields to select by (FLOODGATE_EVENT, QUEUE_ID, ...).

The syslog daemon here is a unix datagram socket the test binds and names
in syslog_socket: the daemon speaks the same protocol to it as to
/dev/log.  The journal is a datagram socket too, bound over
/run/systemd/journal/socket in a private mount namespace (root only): what
arrives there is libsystemd's own native-protocol datagram, as journald
would receive it; no journald runs."""
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, FLOODGATED, PASSWORDS, RawClient, message, smtp_send
from test_start_detach import daemon_pid, detach, detached, stop_detached  # noqa: F401


class DatagramSink:
    """A unix datagram socket at DIR/NAME that anyone may write to (the
    daemon has dropped to nobody when the tests run as root).  A thread
    reads it all the time, as a syslog daemon or journald does: a socket
    nobody reads holds 10 datagrams (net.unix.max_dgram_qlen), after which
    the writer waits, as syslog(3) would, and how many lines a daemon logs
    before the test looks is not what these tests are about."""

    def __init__(self, name="log"):
        self.dir = Path(tempfile.mkdtemp(prefix="fg-sock-"))
        os.chmod(self.dir, 0o755)
        self.path = self.dir / name
        self.seen = []
        self.bind()

    def bind(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o666)
        self.arrived = queue.Queue()
        self.reading = True
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        self.sock.settimeout(0.2)
        while self.reading:
            try:
                self.arrived.put(self.sock.recv(65536))
            except socket.timeout:
                continue
            except OSError:
                return

    def _stop(self):
        self.reading = False
        self.reader.join()
        self.sock.close()

    def unbind(self):
        self._stop()
        self.path.unlink()

    def recv(self, timeout=15):
        """The next datagram (bytes), or AssertionError after TIMEOUT s."""
        try:
            data = self.arrived.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing on {self.path} for {timeout} s; seen:\n"
                                 + "\n".join(map(repr, self.seen[-20:])))
        self.seen.append(data)
        return data

    def wait(self, pattern, timeout=15):
        """Read datagrams until one (as text) matches the regex PATTERN."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            assert left > 0, f"no datagram matching {pattern!r}; seen:\n" + \
                "\n".join(map(repr, self.seen[-20:]))
            m = re.search(pattern, self.recv(left).decode(errors="replace"))
            if m:
                return m

    def close(self):
        self._stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sink():
    s = DatagramSink()
    yield s
    s.close()


# <PRI> (RFC 3164 4.1.1: mail = 2, so 2*8 + 6 info / 4 warning), the local
# time as syslog(3) writes it, then the tag and our own line.
STAMP = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"


def test_a_detached_daemon_without_log_file_logs_to_syslog(detached, sink):
    s = detached(extra=f'syslog_socket = "{sink.path}";')
    rc, err = detach(s)
    assert rc == 0, err
    pid = daemon_pid(s)
    sink.wait(rf"^<22>{STAMP} floodgated\[{pid}\]: info event=start pid={pid} ")
    # floodctl logs its admin actions to the same syslog, and their audit
    # lines.
    s.ctl("domain", "add", DOMAIN)
    s.ctl("user", "add", "alice@example.test", input=PASSWORDS["alice@example.test"] + "\n")
    sink.wait(r"^<22>" + STAMP + r" floodctl\[\d+\]: info event=user_added user=alice@example.test$")
    sink.wait(r"^<22>" + STAMP + r" floodctl\[\d+\]: info event=admin_action admin=\S+ "
              r"action=user.add selection=alice@example.test count=1$")
    smtp_send(s.ports["mx"], "sender@remote.test", ["alice@example.test"], message("To syslog"))
    qid = sink.wait(rf"^<22>{STAMP} floodgated\[{pid}\]: info event=accepted qid=(\w+) ")[1]
    sink.wait(rf"^<22>{STAMP} floodgated\[{pid}\]: info event=delivered qid={qid} "
              r"rcpt=alice@example.test mailer=maildir")
    assert not (s.state / "floodgate.log").exists()
    stop_detached(s)
    sink.wait(rf"^<22>{STAMP} floodgated\[{pid}\]: info event=exit$")


def test_lines_lost_while_syslog_was_away_are_counted(detached, sink):
    """A syslog daemon that restarts leaves a new socket at the same path:
    the daemon connects again, and says how many lines found nobody."""
    s = detached(extra=f'syslog_socket = "{sink.path}";')
    rc, err = detach(s)
    assert rc == 0, err
    pid = daemon_pid(s)
    sink.wait(r"event=start ")
    sink.unbind()
    with RawClient(s.ports["mx"]) as c:  # its event=connect, logged before
        c.ehlo()                          # the greeting, is lost at least
    sink.bind()
    with RawClient(s.ports["mx"]) as c:
        c.ehlo()
    m = sink.wait(rf"^<20>{STAMP} floodgated\[{pid}\]: warning event=log_lost lines=(\d+)$")
    assert int(m[1]) >= 1
    sink.wait(rf"floodgated\[{pid}\]: info event=connect ")
    stop_detached(s)


def test_no_syslog_daemon_fails_the_start_with_the_reason(detached, sink):
    s = detached(extra=f'syslog_socket = "{sink.dir}/nobody-here";')
    rc, err = detach(s)
    assert rc == 1
    assert "no syslog daemon listens on syslog_socket" in err, err
    assert not (s.state / "floodgated.pid").exists()


def journal_fields(data):
    """The fields of one datagram of the journal's native protocol
    (systemd.journal-fields(7); KEY=VALUE lines, or KEY, a newline, a
    64-bit little-endian length and the value, for values with a newline)."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k, (n,) = line, struct.unpack_from("<Q", data, nl + 1)
            v = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields.setdefault(k.decode(), []).append(v.decode(errors="replace"))
    return fields


def test_started_by_systemd_it_logs_to_the_journal_with_fields(make_server, tls_files):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private /run")
    journal = DatagramSink("socket")
    s = make_server(extra='syslog_socket = "/nonexistent/log";')  # no log_file
    # As systemd starts it: foreground (-d), stderr connected to the
    # journal and named by $JOURNAL_STREAM ("DEVICE:INODE" of that stream).
    errf = open(s.dir / "stderr.log", "ab")
    st = os.fstat(errf.fileno())
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    script = ('mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && '
              ': > /run/systemd/journal/socket && '
              'mount --bind "$1" /run/systemd/journal/socket && exec "$2" -d -c "$3"')
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare --mount: {probe.stderr.decode().strip()}")
    s.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               script, "sh", str(journal.path), str(FLOODGATED), str(s.conf)],
                              stdout=errf, stderr=errf, env=env)
    s.stderr = errf
    try:
        f = journal_fields(journal.recv())
        while f.get("FLOODGATE_EVENT") != ["start"]:  # config warnings come first
            f = journal_fields(journal.recv())
        assert f["MESSAGE"][0].startswith("info event=start pid="), f
        assert f["FLOODGATE_EVENT"] == ["start"] and f["PRIORITY"] == ["6"], f
        assert f["SYSLOG_IDENTIFIER"] == ["floodgated"] and f["SYSLOG_FACILITY"] == ["2"], f
        s.provision()  # floodctl: syslog_socket leads nowhere, so its stderr
        smtp_send(s.ports["mx"], "sender@remote.test", ["alice@example.test"],
                  message("To the journal"))
        while True:
            f = journal_fields(journal.recv())
            if f.get("FLOODGATE_EVENT") == ["accepted"]:
                break
        qid = f["QUEUE_ID"][0]
        assert re.fullmatch(r"[0-9A-F]{16}", qid), f
        assert f["MESSAGE"][0].startswith(f"info event=accepted qid={qid} "), f
        assert f["FLOODGATE_IP"] == ["127.0.0.1"] and f["PRIORITY"] == ["6"], f
        assert not any(k.startswith("CODE_") for k in f), f  # our source file is no news
        while f.get("FLOODGATE_EVENT") != ["delivered"]:
            f = journal_fields(journal.recv())
        assert f["QUEUE_ID"] == [qid] and "rcpt=alice@example.test" in f["MESSAGE"][0], f
        assert "event=" not in s.log()  # nothing went to stderr
    finally:
        s.stop()
        journal.close()
