"""Every wait has a deadline: sessions whose client left, stalled TLS
handshakes, clients that drip a command or a message byte by byte, and
SIGTERM with all of these open.  Small limits in the config keep each test
to a few seconds."""
import os
import re
import signal
import socket
import ssl
import time

import pytest

from conftest import RawClient
from netfixtures import DNSZone, wait_for

NAMELESS = "127.0.0.4"  # the test DNS has no PTR for it


@pytest.fixture
def dns():
    z = DNSZone()
    yield z
    z.close()


def disconnects(s, ip):
    return len(re.findall(rf"event=disconnect session=\d+ ip={re.escape(ip)} ", s.log()))


def stopped(pid):
    """Has the process really stopped (SIGSTOP is delivered asynchronously)?"""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def test_clients_that_leave_during_the_greeting_checks_are_freed(make_server, dns):
    # The cause of the CI hang at SIGTERM (test_client_checks.py): the
    # harness' port probe connects to the MX port and hangs up while the
    # reverse lookup of its greeting checks runs.  When the hang-up and the
    # lookup's answer reached the daemon in the same loop turn, the 554 was
    # queued and then the hang-up turned writing off: the session waited
    # forever for that 554 to drain.  Its slot and per-IP count leaked and
    # SIGTERM waited 30 s for it.  Here the daemon is stopped while the
    # clients hang up and the answers arrive, so both are read in one turn.
    s = make_server(extra=dns.config() + "\nclient_limits = { greeting_delay = 1; "
                                         "require_reverse_dns = true; };").start()
    n = 10
    dns.answering.clear()
    clients = [socket.create_connection(("127.0.0.1", s.ports["mx"]),
                                        source_address=(NAMELESS, 0)) for _ in range(n)]
    wait_for(lambda: sum(q[1] == "PTR" for q in dns.queries) >= n, 10, "the PTR lookups")
    os.kill(s.proc.pid, signal.SIGSTOP)
    wait_for(lambda: stopped(s.proc.pid), 10, "the daemon to stop")
    try:
        for c in clients:
            c.close()
        time.sleep(0.2)      # the FINs reach the daemon's sockets first
        dns.answering.set()
        time.sleep(0.2)      # then the answers
    finally:
        os.kill(s.proc.pid, signal.SIGCONT)
    wait_for(lambda: disconnects(s, NAMELESS) == n, 20,
             f"{n} disconnects of {NAMELESS}:\n{s.log()[-3000:]}")
    assert s.stop() == 0
    assert "event=exit" in s.log()


# ---------------------------------------------------------------------------
# Per-record deadlines: small limits, so that each case takes seconds.

SHORT = "command_timeout = 2; data_timeout = 2;"
STALLER = "127.0.0.6"


def short_limits(make_server, rate=0, extra="", handshake=2):
    """A server with 2 s deadlines (HANDSHAKE s for TLS handshakes) and
    limits.min_data_rate RATE; at most two sessions per client IP."""
    s = make_server(extra=extra + "\nclient_limits = { max_connections = 2; };")
    s.conf_text = s.conf_text.replace("command_timeout = 30;", f"{SHORT} tls_handshake_timeout = {handshake};"
                                  f" min_data_rate = {rate};")
    s.conf.write_text(s.conf_text)
    s.start()
    # the harness' port probes (from 127.0.0.1) count too: let them end first
    wait_for(lambda: disconnects(s, "127.0.0.1") >= len(s.ports), 10, "the port probes to end")
    return s


def client_hello_start():
    """The first half of a real TLS ClientHello."""
    ctx = ssl.create_default_context()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="mail.example.test")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    return hello[:len(hello) // 2]


def closed_by_server(sock):
    """Read until the server closes (True); the socket timeout (20 s) ending
    the wait first means it never did (False)."""
    sock.settimeout(20)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (socket.timeout, TimeoutError):
        return False


def timeouts(s, reason):
    return len(re.findall(rf"event=timeout session=\d+ ip=\S+ reason={reason}\b", s.log()))


@pytest.mark.parametrize("half_hello", [False, True], ids=["silent", "half-hello"])
def test_stalled_implicit_tls_handshakes_are_closed(make_server, half_hello):
    # the third connection must find both stalled sessions still open: a
    # deadline long enough for a loaded machine to get there
    s = short_limits(make_server, handshake=6)
    socks = [socket.create_connection(("127.0.0.1", s.ports["submissions"]),
                                      source_address=(STALLER, 0)) for _ in range(2)]
    wait_for(lambda: len(re.findall(rf"event=connect session=\d+ ip={STALLER} ", s.log())) == 2,
             10, "the two sessions")
    # both of this IP's two slots are taken
    with RawClient(s.ports["mx"], source=STALLER) as third:
        assert third.greeting[0] == 421 and "Too many connections" in third.greeting[1]
    for c in socks:
        if half_hello:
            c.sendall(client_hello_start())
    for c in socks:
        assert closed_by_server(c), "a stalled TLS handshake was never closed"
        c.close()
    wait_for(lambda: timeouts(s, "tls_handshake") == 2, 10, "two tls_handshake timeouts")
    # the slots and the per-IP count are free again
    with RawClient(s.ports["mx"], source=STALLER) as c:
        assert c.greeting[0] == 220


@pytest.mark.parametrize("half_hello", [False, True], ids=["silent", "half-hello"])
def test_stalled_starttls_handshake_is_closed(make_server, half_hello):
    s = short_limits(make_server)
    c = RawClient(s.ports["mx"], source=STALLER)
    c.ehlo()
    assert c.cmd("STARTTLS")[0] == 220
    if half_hello:
        c.send(client_hello_start())
    assert closed_by_server(c.sock), "a stalled STARTTLS handshake was never closed"
    c.close()
    wait_for(lambda: timeouts(s, "tls_handshake") == 1, 10, "a tls_handshake timeout")
    wait_for(lambda: disconnects(s, STALLER) == 1, 10, "the session's end")


def drip(c, data, pause=0.4):
    """Send DATA one octet at a time, PAUSE seconds apart (each read is well
    within the 2 s timeout), until the server answers or closes."""
    c.sock.settimeout(pause)
    for i in range(len(data)):
        try:
            c.sock.sendall(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            chunk = c.sock.recv(4096)
        except (socket.timeout, TimeoutError):
            continue
        c.buf += chunk
        break
    c.sock.settimeout(20)
    return c.reply()


def test_a_dripped_command_line_is_cut_off(make_server):
    s = short_limits(make_server)
    c = RawClient(s.ports["mx"], source=STALLER)
    c.ehlo()
    code, text = drip(c, b"MAIL FROM:<slow-sender@remote.test> SIZE=100\r\n")
    assert (code, text[:5]) == (421, "4.4.2"), (code, text)
    assert closed_by_server(c.sock)
    assert timeouts(s, "command") == 1


def data_session(s):
    """A session in DATA, past the header."""
    c = RawClient(s.ports["mx"], source=STALLER)
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"From: a@remote.test\r\nSubject: deadlines\r\n\r\n")
    return c


def test_a_dripped_data_line_is_cut_off(make_server):
    s = short_limits(make_server).provision()
    c = data_session(s)
    code, text = drip(c, b"This line never ends in time, one octet at a time.\r\n.\r\n")
    assert (code, text[:5]) == (421, "4.4.2"), (code, text)
    assert closed_by_server(c.sock)
    assert timeouts(s, "data") == 1
    assert s.db().execute("SELECT count(*) FROM messages").fetchone()[0] == 0



def test_data_below_the_minimum_rate_is_cut_off(make_server):
    # Whole lines, each well within the timeout, but 7 octets a second
    # where 1000 are asked for: the time DATA has earned runs out.
    s = short_limits(make_server, rate=1000).provision()
    c = data_session(s)
    c.sock.settimeout(0.5)
    for _ in range(40):      # 20 s of sending, unless cut off
        try:
            c.sock.sendall(b"slow.\r\n")
            c.buf += c.sock.recv(4096)
            break
        except (socket.timeout, TimeoutError):
            continue
    # the answer came while the client was still sending (a timeout per
    # read would only have fired once it stopped)
    assert c.buf, "never cut off"
    code, text = c.reply()
    assert (code, text[:5]) == (421, "4.4.2"), (code, text)
    assert timeouts(s, "data_rate") == 1


def test_data_above_the_minimum_rate_may_take_longer_than_data_timeout(make_server):
    # 4,000 octets a second for about 4 s: twice data_timeout, but every
    # octet earns its time at 1000 octets a second.
    s = short_limits(make_server, rate=1000).provision()
    c = data_session(s)
    line = b"x" * 398 + b"\r\n"
    for _ in range(40):
        c.send(line)
        time.sleep(0.1)
    code, text = c.cmd(".")
    assert code == 250, (code, text)
    assert timeouts(s, "data_rate") == 0


# ---------------------------------------------------------------------------
# SIGTERM with every kind of session open

def connects(s):
    return len(re.findall(r"event=connect session=", s.log()))


def test_sigterm_closes_every_session(make_server):
    s = make_server(extra="shutdown_timeout = 20;").start().provision()
    handshakes = [socket.create_connection(("127.0.0.1", s.ports["submissions"]),
                                           source_address=(STALLER, 0)) for _ in range(50)]
    starttls = RawClient(s.ports["mx"])
    starttls.ehlo()
    assert starttls.cmd("STARTTLS")[0] == 220         # and then silence
    dripper = RawClient(s.ports["mx"])
    dripper.ehlo()
    dripper.send(b"MAIL FROM:<drip")                   # a command line left open
    in_data = RawClient(s.ports["mx"])
    in_data.ehlo()
    assert in_data.cmd("MAIL FROM:<a@remote.test>")[0] == 250
    assert in_data.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert in_data.cmd("DATA")[0] == 354
    in_data.send(b"Subject: half a message\r\n\r\nThe rest never comes.\r\n")
    idle = RawClient(s.ports["mx"])
    wait_for(lambda: connects(s) >= 54 + 3, 10, "every session to start")
    s.proc.send_signal(signal.SIGTERM)
    for c in (dripper, in_data, idle):
        code, text = c.reply()
        assert (code, text[:5]) == (421, "4.3.2"), (code, text)
        assert c.closed()
    for h in handshakes:
        assert closed_by_server(h)
    assert closed_by_server(starttls.sock)
    assert s.proc.wait(30) == 0
    log = s.log()
    assert "event=stop_timeout" not in log, log[-3000:]
    assert "event=data_aborted" in log
    assert len(re.findall(r"event=disconnect session=", log)) == connects(s)
    assert "event=exit" in log
    with s.db() as db:   # the half message was not taken
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_sigterm_does_not_wait_for_a_client_that_reads_nothing(make_server):
    # The client asks for replies and never reads them: our 421 cannot
    # leave.  shutdown_timeout ends the wait.
    s = make_server(extra="shutdown_timeout = 2;").start()
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.connect(("127.0.0.1", s.ports["mx"]))
    c.sendall(b"EHLO client.test\r\n" * 20000 + b"XYZZY\r\n")
    # its 500 is logged once every EHLO before it has been answered
    wait_for(lambda: "reply=\"500 5.5.1" in s.log(), 20, "the replies to back up")
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(30) == 0
    log = s.log()
    assert re.search(r"event=stop_timeout seconds=2 sessions=1 deliveries=0", log), log[-3000:]
    assert len(re.findall(r"event=disconnect session=", log)) == connects(s)
    assert "event=exit" in log
    c.close()


def test_a_client_refused_during_its_handshake_reads_the_421(make_server):
    """Over its per-IP limit on the implicit-TLS port, a client that
    completes its handshake reads why it is turned away, not a bare close."""
    from conftest import tls_client_context
    s = short_limits(make_server, handshake=6)
    held = [socket.create_connection(("127.0.0.1", s.ports["mx"]), source_address=(STALLER, 0))
            for _ in range(2)]
    wait_for(lambda: len(re.findall(rf"event=connect session=\d+ ip={STALLER} ", s.log())) == 2,
             10, "the two sessions")
    raw = socket.create_connection(("127.0.0.1", s.ports["submissions"]),
                                   source_address=(STALLER, 0), timeout=10)
    with tls_client_context().wrap_socket(raw, server_hostname="mail.example.test") as tls:
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ssl.SSLError, ConnectionResetError):
            pass
    assert data.startswith(b"421 4.7.0") and b"Too many connections" in data, data
    for c in held:
        c.close()
