"""Integration test harness: start the real floodgated on loopback ports with
a fresh state dir, and talk to it with real clients.

FLOODGATE_BUILD selects the build directory (default: build)."""
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("FLOODGATE_BUILD", "build")
FLOODGATED = BUILD / "floodgated"
FLOODCTL = BUILD / "floodctl"
DOMAIN = "example.test"
# Passwords that pass the password policy: no part of the user or domain
# name, 12+ characters, 3 character classes, no dictionary word.
PASSWORDS = {"alice@example.test": "Tulip-Harbor-47", "bob@example.test": "Quartz-Meadow-83"}


SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
# The event-loop thread never touches the store (docs/design.md, "The
# threads"): the daemon logs each statement it runs there anyway.
STORE_ON_LOOP_RE = re.compile(r"event=store_on_loop")


_ports_handed_out = set()


def free_port(host="127.0.0.1"):
    """A port nothing listens on, never one this test run handed out before:
    the kernel may give a just-closed port again, and a server whose
    listeners share a port refuses its config."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port


def wait_port(host, port, timeout=10.0, proc=None):
    """Wait until something listens on HOST:PORT.  With PROC (the process
    that is to listen), stop at once if it exited."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process exited ({proc.returncode}) before "
                               f"listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port}")


def new_tls_files():
    """A fresh self-signed certificate for mail.example.test: (dir, cert, key).
    Not under pytest's tmp_path: /tmp/pytest-of-root is 0700, so a daemon
    that has dropped to "nobody" could not read the files again on SIGHUP."""
    d = Path(tempfile.mkdtemp(prefix="fg-tls-"))
    os.chmod(d, 0o755)
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mail.example.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    os.chmod(key, 0o644)  # the daemon may run as nobody in CI
    return d, cert, key


@pytest.fixture(scope="session")
def tls_files():
    d, cert, key = new_tls_files()
    yield cert, key
    shutil.rmtree(d, ignore_errors=True)


class Server:
    """One floodgated with its own state dir, config and ports."""

    def __init__(self, tls_files, listeners=None, extra="", relay_groups=("trusted",),
                 groups=None, queue="", full_leak_stacks=False, daemon_args=()):
        # full_leak_stacks: under ASan, unwind every allocation fully (slow), so
        # that leak suppressions can match through libraries built without
        # frame pointers (tests/lsan.supp: libopendkim's Ed25519 key leak)
        self.full_leak_stacks = full_leak_stacks
        # daemon_args: more floodgated options, e.g. ("-T",) for the test
        # clock (control "clock.advance", see advance_clock)
        self.daemon_args = tuple(daemon_args)
        # queue: more keys for the queue group, e.g. "lifetime = 2;" (a
        # second queue group in EXTRA would be a duplicate key)
        self.dir = Path(tempfile.mkdtemp(prefix="fg-"))
        os.chmod(self.dir, 0o755)
        self.state = self.dir / "state"
        self.conf = self.dir / "floodgate.conf"
        self.ports = {"mx": free_port(), "submission": free_port(), "submissions": free_port()}
        cert, key = tls_files
        if listeners is None:
            listeners = [
                ("mx", "starttls", "off"),
                ("submission", "starttls", "required"),
                ("submissions", "implicit", "required"),
            ]
        lst = ",\n".join(
            f'  {{ name = "{n}"; address = "127.0.0.1:{self.ports[n]}"; tls = "{t}"; auth = "{a}"; }}'
            for n, t, a in listeners)
        groups = groups if groups is not None else {"trusted": ["127.0.0.3"]}
        grp = "\n".join(f'  {k} = [ {", ".join(chr(34) + v + chr(34) for v in vs)} ];'
                        for k, vs in groups.items())
        user = 'user = "nobody";' if os.geteuid() == 0 else ""
        allow = ", ".join(f'"{g}"' for g in relay_groups)
        # No DNS query may leave loopback: unless a test brings its own DNS
        # server, point the resolver at a loopback port where nothing listens.
        dns = "" if re.search(r"^\s*dns\s*=", extra, re.M) else \
            f'dns = {{ servers = [ "127.0.0.1:{free_port()}" ]; }};'
        # Every test talks from loopback, and many fail on purpose: the
        # per-IP bans and limits are off unless a test (tests of those
        # features) brings its own sections.
        if "hammering" not in extra:
            extra += "\nhammering = { failures = 0; };"
        if "client_limits" not in extra:
            extra += "\nclient_limits = { max_connections = 0; max_unknown_recipients = 0; };"
        # The tests read floodctl's lines (and a detached daemon's) from a
        # file in the state dir; without log_file they would go to syslog.
        log = "" if re.search(r"^\s*(log_file|syslog_socket)\s*=", extra, re.M) else \
            f'log_file = "{self.state}/floodgate.log";'
        # retries a second apart (at most two) unless the test names its own
        retry = "" if "retry_" in queue else "retry_initial = 1; retry_max = 2; "
        self.conf_text = f"""
hostname = "mail.example.test";
state_dir = "{self.state}";
{user}
{log}
tls = {{ certificate = "{cert}"; key = "{key}"; }};
listeners = (
{lst}
);
ip_groups = {{
{grp}
}};
relay = {{ allow_groups = [ {allow} ]; }};
limits = {{ max_message_size = 1048576; max_recipients = 20; max_errors = 10;
           command_timeout = 30; }};
queue = {{ {retry}{queue} }};
{dns}
{extra}
"""
        self.conf.write_text(self.conf_text)
        self.proc = None
        self.stderr = None

    # -- process control --
    def start(self, wait=True):
        self.stderr = open(self.dir / "stderr.log", "ab")
        env = dict(os.environ)
        if self.full_leak_stacks:
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":fast_unwind_on_malloc=0"
        self.proc = subprocess.Popen([str(FLOODGATED), "-d", "-c", str(self.conf),
                                      *self.daemon_args],
                                     stdout=self.stderr, stderr=self.stderr, env=env)
        if wait:
            # A start is not timed: a sanitizer build on a loaded machine
            # took over 10 s once; a daemon that exits is reported at once
            for name in self.ports:
                if f"name = \"{name}\"" in self.conf.read_text():
                    wait_port("127.0.0.1", self.ports[name], timeout=60, proc=self.proc)
            deadline = time.time() + 60
            while not (self.state / "control.sock").exists() and time.time() < deadline:
                time.sleep(0.02)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        rc = self.proc.returncode if self.proc else None
        if self.stderr:
            self.stderr.close()
            self.stderr = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        # keep what a sanitizer build (ASan/UBSan) reported before the
        # directory goes: the fixtures fail the test on it
        try:
            lines = self.log().splitlines()
        except OSError:
            lines = []
        # the first report line and the stack under it, so the failure says where
        first = next((i for i, l in enumerate(lines) if SANITIZER_RE.search(l)), None)
        self.sanitizer = [] if first is None else lines[first:first + 40]
        # a statement the event loop ran (from its log, wherever it went)
        for f in (self.dir / "stderr.log", self.state / "floodgate.log"):
            try:
                text = f.read_text(errors="replace")
            except OSError:
                continue
            self.sanitizer += [l for l in text.splitlines() if STORE_ON_LOOP_RE.search(l)][:10]
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- inspection --
    def log(self):
        return (self.dir / "stderr.log").read_text(errors="replace")

    def ctl(self, *args, input=None, check=True):
        env = dict(os.environ, FLOODGATE_CONFIG=str(self.conf))
        r = subprocess.run([str(FLOODCTL), *args], input=input, capture_output=True, text=True,
                           env=env, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"floodctl {' '.join(args)} failed ({r.returncode}): "
                                 f"{r.stdout}{r.stderr}")
        return r

    def db(self):
        return sqlite3.connect(f"file:{self.state / 'store.db'}?mode=ro", uri=True, timeout=10)

    def maildir(self, address):
        local, domain = address.split("@")
        return self.state / "mail" / domain / local / "Maildir"

    def wait_delivered(self, address, count, timeout=15):
        new = self.maildir(address) / "new"
        deadline = time.time() + timeout
        while time.time() < deadline:
            files = sorted(new.glob("*")) if new.exists() else []
            if len(files) >= count:
                return files
            time.sleep(0.05)
        raise AssertionError(f"{address}: {len(files)} messages, expected {count}")

    def provision(self):
        self.ctl("domain", "add", DOMAIN)
        for addr, pw in PASSWORDS.items():
            self.ctl("user", "add", addr, input=pw + "\n")
        self.ctl("alias", "add", f"team@{DOMAIN}", "alice@example.test")
        self.ctl("alias", "add", f"team@{DOMAIN}", "bob@example.test")
        self.ctl("alias", "add", f"forward@{DOMAIN}", "someone@remote.test")
        return self


@pytest.fixture
def make_server(tls_files):
    made = []

    def make(**kw):
        s = Server(tls_files, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()
    reports = [l for s in made for l in s.sanitizer]
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


@pytest.fixture(scope="module")
def server(tls_files):
    """A provisioned server shared by the tests of one module."""
    s = Server(tls_files).start().provision()
    yield s
    s.cleanup()
    assert not s.sanitizer, "sanitizer reports:\n" + "\n".join(s.sanitizer)


# ---------------------------------------------------------------------------
# Helpers shared by the test files (added with the integration suite).  The
# harness above gained two things with them: the TLS files live outside
# pytest's 0700 tmp dir (a daemon running as nobody must read them again on
# SIGHUP), and the fixtures fail on what a sanitizer build logged.

import json  # noqa: E402
import smtplib  # noqa: E402
import ssl  # noqa: E402
import uuid  # noqa: E402

QUEUED_RE = re.compile(r"queued as ([0-9A-F]{16})")


def tls_client_context():
    """A client TLS context that accepts the harness' self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def token():
    """A unique marker to find one message among many."""
    return uuid.uuid4().hex


def message(subject, body="Hello.\r\n", sender="sender@remote.test", to="alice@example.test",
            extra=()):
    """An RFC 5322 message as bytes with CR LF line ends."""
    head = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
            f"Message-ID: <{token()}@client.test>", "Date: Tue, 25 Nov 2025 08:00:00 +0000",
            *extra]
    if isinstance(body, str):
        body = body.encode()
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def smtp_send_many(port, mails, *, source=None, helo="client.test", starttls=False,
                   implicit=False, login=None, mail_options=()):
    """Send MAILS [(sender, rcpt or [rcpts], bytes)] in ONE session with
    smtplib (a spammer does not reconnect for every message) and return
    their queue ids (every step must succeed)."""
    src = (source, 0) if source else None
    if implicit:
        c = smtplib.SMTP_SSL("127.0.0.1", port, source_address=src, timeout=30,
                             context=tls_client_context())
    else:
        c = smtplib.SMTP("127.0.0.1", port, source_address=src, timeout=30)
    ids = []
    with c:
        c.ehlo(helo)
        if starttls:
            code, resp = c.starttls(context=tls_client_context())
            assert code == 220, resp
            c.ehlo(helo)
        if login:
            c.login(*login)
        for sender, rcpts, msg in mails:
            code, resp = c.mail(sender, list(mail_options))
            assert code == 250, (sender, code, resp)
            for r in ([rcpts] if isinstance(rcpts, str) else rcpts):
                code, resp = c.rcpt(r)
                assert code == 250, (r, code, resp)
            code, resp = c.data(msg)
            assert code == 250, (code, resp)
            m = QUEUED_RE.search(resp.decode())
            assert m, resp
            ids.append(m.group(1))
    return ids


def smtp_send(port, sender, rcpts, msg, **session):
    """Send one message (SESSION: the options of smtp_send_many) and return
    its queue id."""
    [qid] = smtp_send_many(port, [(sender, rcpts, msg)], **session)
    return qid


def quarantine_file(s, qid):
    """Where a quarantined message is kept: state_dir/quarantine/XY/ID.eml,
    XY the last two characters of the id."""
    return s.state / "quarantine" / qid[-2:] / f"{qid}.eml"


def ctl_log(s):
    """What floodctl logged (its log_file: <state>/floodgate.log) and what
    the daemon logged (its stderr)."""
    f = s.state / "floodgate.log"
    return (f.read_text(errors="replace") if f.exists() else "") + s.log()


class RawClient:
    """A line-level SMTP client on a plain socket, for input smtplib would
    never send.  reply() returns (code, text) where text holds every line of
    the reply without the code, joined by newlines."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=20, greet=True):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None)
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
        code = int(lines[-1][:3])
        return code, "\n".join(l[4:].decode(errors="replace") for l in lines)

    def cmd(self, line):
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.test"):
        code, text = self.cmd(f"EHLO {name}")
        assert code == 250, text
        return text.split("\n")

    def starttls(self):
        code, text = self.cmd("STARTTLS")
        assert code == 220, text
        assert self.buf == b"", self.buf
        self.sock = tls_client_context().wrap_socket(self.sock, server_hostname="mail.example.test")

    def closed(self):
        """True when the server has closed the connection (after what is buffered)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def control(s, request):
    """One request on the daemon's control socket; the reply as a dict."""
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(20)
        c.connect(str(s.state / "control.sock"))
        c.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = c.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def advance_clock(s, seconds):
    """Move the test clock of S (started with daemon_args=("-T",)) SECONDS
    forward: the detector's windows and the hourly limits see the time
    pass.  The daemon's answer ({"offset", "now"})."""
    r = control(s, {"cmd": "clock.advance", "seconds": seconds})
    assert r["ok"], r
    return r["result"]


def server_queue(s, *args):
    """floodctl queue list --json as Python objects."""
    return json.loads(s.ctl("queue", "list", "--json", *args).stdout)


def queued_message(s, qid):
    for m in server_queue(s):
        if m["id"] == qid:
            return m
    raise AssertionError(f"{qid} is not in floodctl queue list")


def delivered_with(s, address, needle, count=1, timeout=20):
    """The Maildir files of ADDRESS (as bytes) that contain NEEDLE; waits until
    there are COUNT of them."""
    needle = needle.encode() if isinstance(needle, str) else needle
    new = s.maildir(address) / "new"
    deadline = time.time() + timeout
    found = []
    while time.time() < deadline:
        found = []
        for f in (sorted(new.glob("*")) if new.exists() else []):
            try:
                data = f.read_bytes()
            except FileNotFoundError:
                continue
            if needle in data:
                found.append(data)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{address}: {len(found)} messages with {needle!r}, expected {count}")


def maildir_grep(s, address, needle):
    """The Maildir files of ADDRESS that contain NEEDLE, now (no waiting)."""
    needle = needle.encode() if isinstance(needle, str) else needle
    out = []
    for sub in ("new", "cur"):
        d = s.maildir(address) / sub
        for f in (d.glob("*") if d.exists() else []):
            if needle in f.read_bytes():
                out.append(f)
    return out


def wait_log(s, pattern, timeout=15):
    """Wait until the daemon's log matches the regex PATTERN; returns the match."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, s.log())
        if m:
            return m
        time.sleep(0.05)
    raise AssertionError(f"log has no line matching {pattern!r}:\n{s.log()[-3000:]}")


def check_config(path):
    """floodgated -n -c PATH: (returncode, stdout, stderr)."""
    r = subprocess.run([str(FLOODGATED), "-n", "-c", str(path)], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout, r.stderr


def conf_line(s, needle):
    """The line number in the server's config of the first line containing NEEDLE."""
    for i, line in enumerate(s.conf.read_text().split("\n"), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {s.conf}")
