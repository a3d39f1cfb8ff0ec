"""IMAP with Dovecot on Floodgate's accounts (issue 17, item 5).

A real Dovecot (Debian's dovecot-imapd / dovecot-lmtpd, 2.3) runs with the
dovecot.conf `floodctl dovecot config` prints, on a loopback port, with its
own base_dir, started and stopped by the test.  Every IMAP login goes
through `floodctl dovecot checkpassword` to the running daemon
("login.check"): app passwords log in, the main password does not once 2FA
is on, a suspended account does not, failed IMAP logins ban the client IP
for SMTP too (Dovecot passes the client's address: the test connects from
127.0.x.y).  Dovecot reads the Maildirs Floodgate delivers to, and with
delivery.local = "lmtp" Floodgate hands local mail to Dovecot's LMTP."""
import imaplib
import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from authcheck import login, totp
from conftest import (FLOODCTL, PASSWORDS, RawClient, free_port, message, smtp_send, token,
                      tls_client_context, wait_log, wait_port)
from netfixtures import wait_for
from test_two_factor import add_app_password, enrol_pending

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
ALICE = "alice@example.test"
BOB = "bob@example.test"

pytestmark = pytest.mark.skipif(not os.path.exists(DOVECOT) or os.geteuid() != 0,
                                reason="needs Dovecot (dovecot-imapd) and root")


class Dovecot:
    """A Dovecot of the test's own: the generated config, a base_dir in the
    server's directory, IMAP on a free loopback port, its log in a file."""

    def __init__(self, s):
        self.s = s
        self.port = free_port()
        self.base = s.dir / "dovecot"
        self.conf = s.dir / "dovecot.conf"
        self.logfile = s.dir / "dovecot.log"
        # Dovecot's auth process runs the checkpassword program (floodctl,
        # named by its own path) as the mail owner, not root: a checkout in
        # a private directory (a clean clone under `mktemp -d`, 0700) is out
        # of its reach, so the test runs a copy beside its files (0755).
        self.floodctl = s.dir / "floodctl"
        shutil.copy2(FLOODCTL, self.floodctl)
        r = subprocess.run([str(self.floodctl), "dovecot", "config", "--listen",
                            f"127.0.0.1:{self.port}", "--base-dir", str(self.base)],
                           env=dict(os.environ, FLOODGATE_CONFIG=str(s.conf)),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        self.text = r.stdout
        # The test reads Dovecot's log from a file, not from syslog.  The
        # sanitizer build's floodctl (the checkpassword program, a child of
        # the auth process) maps terabytes of shadow memory, beyond
        # Dovecot's default 256 MB limit, and reads its options from the
        # environment Dovecot hands down.
        self.conf.write_text(self.text + f"\nlog_path = {self.logfile}\n"
                             "default_vsz_limit = 0\n"
                             "import_environment = $import_environment ASAN_OPTIONS"
                             " UBSAN_OPTIONS LSAN_OPTIONS\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port("127.0.0.1", self.port)
        except Exception:
            self.stop()
            raise AssertionError(f"dovecot did not start: {self.log()}")
        return self

    def stop(self):
        print(self.log()[-5000:])  # shown with a failing test's output
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc:
            self.proc.stderr.close()

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def imap(self, source="127.0.0.1"):
        """An IMAP connection from SOURCE, after STARTTLS."""
        port = self.port

        class FromSource(imaplib.IMAP4):
            def _create_socket(self, timeout):
                return socket.create_connection(("127.0.0.1", port), timeout,
                                                source_address=(source, 0))

        c = FromSource("127.0.0.1", port, timeout=30)
        c.starttls(ssl_context=tls_client_context())
        return c

    def login(self, user, password, source="127.0.0.1"):
        """True when USER logs in with PASSWORD from SOURCE."""
        c = self.imap(source)
        try:
            c.login(user, password)
        except imaplib.IMAP4.error:
            return False
        finally:
            try:
                c.logout()
            except (imaplib.IMAP4.abort, OSError):
                pass
        return True


@pytest.fixture
def dovecot():
    made = []

    def make(s):
        d = Dovecot(s).start()
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def two_factor_on(s, addr):
    secret, _ = enrol_pending(s, addr)
    s.ctl("user", "2fa", "enable", addr, "--code", totp(secret))


def test_app_password_reads_delivered_mail_main_password_refused(make_server, dovecot):
    s = make_server().start().provision()
    d = dovecot(s)
    mark = token()
    smtp_send(s.ports["mx"], "sender@remote.test", [ALICE], message(mark, to=ALICE))
    s.wait_delivered(ALICE, 1)
    two_factor_on(s, ALICE)
    phone = add_app_password(s, ALICE, "alice phone")
    # 2FA is on: the main password no longer logs in, over IMAP as over SMTP
    assert not d.login(ALICE, PASSWORDS[ALICE])
    wait_log(s, r"event=auth result=fail check=\d+ user=alice@example\.test ip=127\.0\.0\.1"
                r" listener=imap reason=2fa_requires_app_password")
    c = d.imap()
    typ, _ = c.login(ALICE, phone)
    assert typ == "OK"
    wait_log(s, r"event=auth result=ok check=\d+ user=alice@example\.test ip=127\.0\.0\.1"
                r' listener=imap app_password="alice phone"')
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == 1
    typ, data = c.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and mark.encode() in data[0][1]
    c.logout()


def test_suspended_user_is_refused(make_server, dovecot):
    s = make_server().start().provision()
    d = dovecot(s)
    assert d.login(BOB, PASSWORDS[BOB])
    s.ctl("user", "suspend", BOB)
    assert not d.login(BOB, PASSWORDS[BOB])
    wait_log(s, r"event=auth result=fail check=\d+ user=bob@example\.test .*reason=suspended")


def test_failed_imap_logins_ban_the_ip_for_smtp(make_server, dovecot):
    attacker, other = "127.0.5.6", "127.0.6.7"  # another network: not locked out
    s = make_server(extra="hammering = { failures = 10; window = 600; ban = 600; };").start()
    s.provision()
    d = dovecot(s)
    # ten guesses at once (Dovecot delays each failure's answer by 2 s)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda i: d.login(ALICE, f"Wrong-Guess-{i}x", source=attacker),
                                range(10)))
    assert results == [False] * 10
    wait_log(s, r'event=ban ip=127\.0\.5\.6 reason="imap_auth failures"')
    # the same guesses counted toward the account's lockout from that network
    wait_log(s, r"event=account_locked user=alice@example\.test .*network=127\.0\.5\.0/24")
    # the ban holds for SMTP: the connection is refused at once
    c = RawClient(s.ports["mx"], source=attacker, greet=False)
    try:
        assert c.reply()[0] == 421
    finally:
        c.sock.close()
    # and for IMAP, even with the right password; another address is not banned
    assert not d.login(ALICE, PASSWORDS[ALICE], source=attacker)
    assert d.login(ALICE, PASSWORDS[ALICE], source=other)
    assert login(s, ALICE, PASSWORDS[ALICE], source=other)[0] == 235


def test_lmtp_delivery_is_stored_by_dovecot(make_server, dovecot):
    s = make_server(extra='delivery = { local = "lmtp"; };').start().provision()
    d = dovecot(s)
    assert "service lmtp" in d.text and "protocols = imap lmtp" in d.text
    mark = token()
    smtp_send(s.ports["mx"], "sender@remote.test", [BOB], message(mark, to=BOB))
    wait_log(s, r"event=delivered qid=\w+ rcpt=bob@example\.test mailer=lmtp")
    files = s.wait_delivered(BOB, 1)
    body = files[0].read_bytes()
    assert mark.encode() in body
    assert b"Return-Path: <sender@remote.test>" in body
    assert "lmtp(bob@example.test" in d.log()
    c = d.imap()
    assert c.login(BOB, PASSWORDS[BOB])[0] == "OK"
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == 1
    c.logout()


def test_lmtp_down_defers_then_delivers(make_server, dovecot):
    """Dovecot stopped: the message waits in the queue (deferred, with the
    reason), and goes in at a retry once Dovecot listens."""
    s = make_server(extra='delivery = { local = "lmtp"; };').start().provision()
    mark = token()
    qid = smtp_send(s.ports["mx"], "sender@remote.test", [BOB], message(mark, to=BOB))
    wait_log(s, rf"event=deferred qid={qid} rcpt=bob@example\.test mailer=lmtp .*"
                r'error="lmtp: cannot connect to dovecot-lmtp: No such file or directory"')
    assert not (s.maildir(BOB) / "new").exists() or not list((s.maildir(BOB) / "new").glob("*"))
    dovecot(s)
    wait_log(s, rf"event=delivered qid={qid} rcpt=bob@example\.test mailer=lmtp", timeout=30)
    assert mark.encode() in s.wait_delivered(BOB, 1)[0].read_bytes()


def test_lmtp_over_tcp_on_the_address_the_config_names(make_server, dovecot):
    """delivery.lmtp_address: `dovecot config` opens Dovecot's LMTP on that
    very address (as the config loader parsed it, brackets of IPv6 gone),
    and Floodgate delivers there over TCP."""
    port = free_port()
    s = make_server(extra=f'delivery = {{ local = "lmtp"; lmtp_address = "[::1]:{port}"; }};')
    s.start().provision()
    d = dovecot(s)
    assert f"inet_listener lmtp {{\n    address = ::1\n    port = {port}\n  }}" in d.text, d.text
    assert "unix_listener dovecot-lmtp" not in d.text
    wait_port("::1", port)
    mark = token()
    smtp_send(s.ports["mx"], "sender@remote.test", [BOB], message(mark, to=BOB))
    wait_log(s, r"event=delivered qid=\w+ rcpt=bob@example\.test mailer=lmtp")
    assert mark.encode() in s.wait_delivered(BOB, 1)[0].read_bytes()
    assert "lmtp(bob@example.test" in d.log()
