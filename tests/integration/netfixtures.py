"""The network around a daemon that delivers to other servers, all on
127.0.0.0/8: a DNS server (dnslib, UDP and TCP) serving a zone the test
writes, SMTP sinks (aiosmtpd) that record every transaction, and tiny raw
socket servers that misbehave on purpose.

Every MX host listens on the same port (delivery.mx_port), each on its own
loopback address (127.0.0.10, .11, ...).  A "refusing" address is one where
nothing listens on that port.

Use the `net` fixture (import it into the test module) and
`remote_server(make_server, net, ...)` for a provisioned daemon that routes
with the test DNS."""
import asyncio
import itertools
import socket
import ssl
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from conftest import free_port

# aiosmtpd sets its deprecated Session.login_data on every AUTH
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")


def wait_for(pred, timeout=15.0, what="condition", interval=0.02):
    """Poll PRED until it returns something true; return that value."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Loopback addresses

_addr_lock = threading.Lock()
_addr_counter = itertools.count()


def loopback_address():
    """A fresh 127.0.0.x (10..249), round robin over the test session."""
    with _addr_lock:
        return f"127.0.0.{10 + next(_addr_counter) % 240}"


# ---------------------------------------------------------------------------
# DNS

def _txt_strings(value):
    """A TXT value cut into character-strings of at most 255 octets."""
    raw = value.encode() if isinstance(value, str) else value
    return [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]


class _ZoneResolver(BaseResolver):
    def __init__(self, zone):
        self.zone = zone

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE[q.qtype]
        self.zone.queries.append((name, qtype, handler.protocol))
        self.zone.clients.append((name, handler.client_address))
        self.zone.answering.wait(30)
        if name in self.zone.silent:     # a resolver that times out: no answer in time
            self.zone.closing.wait(60)
        if name in self.zone.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        recs = self.zone.records.get(name)
        if recs is None:
            reply.header.rcode = RCODE.NXDOMAIN
            self.zone._add_soa(reply, name)
            return reply
        for rtype, rdata in list(recs):
            if rtype == qtype or qtype == "ANY":
                reply.add_answer(RR(q.qname, getattr(QTYPE, rtype), rdata=rdata,
                                    ttl=self.zone.ttls.get((name, rtype), 60)))
        if not reply.rr:
            self.zone._add_soa(reply, name)
        if handler.protocol == "udp" and len(reply.pack()) > 512:
            # RFC 1035 4.2.1: too long for UDP - the question, TC, no answer
            reply = request.reply()
            reply.header.tc = 1
        return reply  # NOERROR, possibly with no answer (NODATA)


class DNSZone:
    """An authoritative-for-everything DNS server on 127.0.0.1:port (UDP and
    TCP).  Unknown names get NXDOMAIN, known names without the asked type
    NOERROR with no answer; a UDP answer over 512 octets comes truncated."""

    def __init__(self):
        self.records = {}        # name -> [(type, rdata)]
        self.servfail = set()
        self.silent = set()      # names never answered while the test runs (timeouts)
        self.closing = threading.Event()
        self.queries = []        # (name, type, "udp"|"tcp")
        self.clients = []        # (name, (client address, port)) of each question
        self.ttls = {}           # (name, type) -> TTL of its answers (default 60)
        self.soas = {}           # zone -> (SOA TTL, MINIMUM): added to its negative answers
        # cleared: questions are recorded but their answers wait until it is
        # set again (to deliver an answer at a moment the test chooses)
        self.answering = threading.Event()
        self.answering.set()
        resolver = _ZoneResolver(self)
        quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data",
                          logf=lambda s: None)
        for _ in range(20):
            self.port = free_port()
            try:
                self.udp = DNSServer(resolver, port=self.port, address="127.0.0.1",
                                     logger=quiet)
                self.tcp = DNSServer(resolver, port=self.port, address="127.0.0.1",
                                     tcp=True, logger=quiet)
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free port for the test DNS server")
        for srv in (self.udp, self.tcp):   # a short poll: shutdown() waits for it
            threading.Thread(target=srv.server.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True).start()

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def config(self):
        return f'dns = {{ servers = [ "{self.server}" ]; }};'

    def _add(self, name, rtype, rdata, ttl=None):
        name = name.rstrip(".").lower()
        self.records.setdefault(name, []).append((rtype, rdata))
        if ttl is not None:
            self.ttls[(name, rtype)] = ttl

    def soa(self, zone, ttl, minimum):
        """NXDOMAIN and NODATA answers under ZONE carry its SOA in the
        authority section (RFC 2308 3), with TTL and MINIMUM as given."""
        self.soas[zone.rstrip(".").lower()] = (ttl, minimum)

    def _add_soa(self, reply, name):
        for z, (ttl, minimum) in self.soas.items():
            if name == z or name.endswith("." + z):
                reply.add_auth(RR(z, QTYPE.SOA, ttl=ttl,
                                  rdata=SOA(f"ns.{z}", f"hostmaster.{z}",
                                            (1, 3600, 600, 86400, minimum))))
                return

    def name(self, name):
        """Make NAME exist (NOERROR/NODATA for every type)."""
        self.records.setdefault(name.rstrip(".").lower(), [])

    def a(self, name, address, ttl=None):
        self._add(name, "A", A(address), ttl)

    def aaaa(self, name, address):
        self._add(name, "AAAA", AAAA(address))

    def mx(self, domain, preference, host, address=None):
        """MX DOMAIN -> HOST; with ADDRESS also the A record of HOST."""
        self._add(domain, "MX", MX(host, preference))
        if address:
            self.a(host, address)

    def ptr(self, address, host):
        """The reverse name of an IPv4 ADDRESS."""
        self._add(".".join(reversed(address.split("."))) + ".in-addr.arpa", "PTR", PTR(host))

    def null_mx(self, domain):
        """RFC 7505: MX 0 "."."""
        self._add(domain, "MX", MX(DNSLabel("."), 0))

    def txt(self, name, value):
        self._add(name, "TXT", TXT(_txt_strings(value)))

    def lookup_txt(self, name, tcp=False):
        """Ask this server for the TXT of NAME, over the wire; the strings of
        the first record joined, or None."""
        q = DNSRecord.question(name.rstrip("."), "TXT")
        reply = DNSRecord.parse(q.send("127.0.0.1", self.port, tcp=tcp, timeout=5))
        for rr in reply.rr:
            if rr.rtype == QTYPE.TXT:
                return b"".join(rr.rdata.data)
        return None

    def close(self):
        self.closing.set()
        for s in (self.udp, self.tcp):
            try:
                s.server.shutdown()
                s.server.server_close()
            except Exception:
                pass


# ---------------------------------------------------------------------------
# SMTP sinks

@dataclass
class Transaction:
    mail_from: str
    rcpt_tos: list
    data: bytes
    peer: tuple
    tls: bool
    helo: Optional[str]
    auth: Optional[tuple]      # (login, password) when the client authenticated
    mail_options: list = field(default_factory=list)


class _CountingSMTP(SMTP):
    def __init__(self, sink, *args, **kw):
        super().__init__(*args, **kw)
        self._sink = sink

    def connection_made(self, transport):
        if self._original_transport is None:   # not the STARTTLS upgrade
            with self._sink.lock:
                self._sink.connections += 1
                self._sink.open += 1
                self._sink.max_open = max(self._sink.max_open, self._sink.open)
        super().connection_made(transport)

    async def smtp_QUIT(self, arg):
        with self._sink.lock:
            self._sink.quits += 1
        await super().smtp_QUIT(arg)

    def connection_lost(self, error):
        with self._sink.lock:
            self._sink.open -= 1
        super().connection_lost(error)


class _SinkController(Controller):
    def __init__(self, sink, *args, **kw):
        self._sink = sink
        super().__init__(*args, **kw)

    def factory(self):
        return _CountingSMTP(self._sink, self.handler, **self.SMTP_kwargs)


class _SinkHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        sink = self.sink
        with sink.lock:
            n = sink.rcpt_seen.get(address, 0) + 1
            sink.rcpt_seen[address] = n
        reply = sink.rcpt_reply(address, n) if sink.rcpt_reply else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        with sink.lock:
            sink.data_seen += 1
            n = sink.data_seen
        if sink.hold_after is not None and n > sink.hold_after:
            with sink.lock:
                sink.held += 1
            try:
                while not sink.release.is_set():
                    await asyncio.sleep(0.02)
            finally:
                with sink.lock:
                    sink.held -= 1
            if server.transport is None or server.transport.is_closing():
                return "421 4.4.2 the client is gone"   # never acknowledged: not received
        if sink.data_delay:
            await asyncio.sleep(sink.data_delay)
        reply = sink.data_reply(envelope) if sink.data_reply else None
        if reply and not reply.startswith("2"):
            return reply
        auth = None
        if session.authenticated and session.auth_data is not None:
            auth = (getattr(session.auth_data, "login", None),
                    getattr(session.auth_data, "password", None))
            if isinstance(auth[0], bytes):
                auth = (auth[0].decode(), auth[1].decode() if auth[1] else None)
        t = Transaction(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                        data=bytes(envelope.original_content), peer=session.peer,
                        tls=session.ssl is not None, helo=session.host_name, auth=auth,
                        mail_options=list(envelope.mail_options))
        with sink.lock:
            sink.transactions.append(t)
        return reply or "250 2.0.0 OK accepted"


class Sink:
    """An SMTP server on ADDRESS:PORT that records what it receives.

    rcpt_reply(address, n) -> None (accept) or a reply line, n counting the
    RCPTs for that address so far; data_reply(envelope) likewise for the
    final "."; data_delay seconds before answering "."; hold_after N: the
    DATA of transactions after the Nth waits until release is set."""

    def __init__(self, address, port, tls_files=None, starttls=False, auth=None,
                 rcpt_reply: Optional[Callable] = None, data_reply: Optional[Callable] = None,
                 data_delay=0.0, hold_after=None):
        self.address, self.port = address, port
        self.lock = threading.Lock()
        self.transactions = []
        self.connections = 0     # connections accepted
        self.open = 0            # connections open now
        self.max_open = 0        # connections open at once, at most
        self.quits = 0           # QUIT commands
        self.rcpt_seen = {}
        self.data_seen = 0
        self.held = 0
        self.release = threading.Event()
        self.rcpt_reply, self.data_reply = rcpt_reply, data_reply
        self.data_delay, self.hold_after = data_delay, hold_after
        self.logins = []
        kw = {"server_hostname": f"sink-{address}", "data_size_limit": 10 * 1024 * 1024}
        if starttls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*[str(p) for p in tls_files])
            kw["tls_context"] = ctx
        if auth:
            user, password = auth

            def authenticator(server, session, envelope, mechanism, data):
                login = data.login.decode() if isinstance(data.login, bytes) else data.login
                pw = data.password.decode() if isinstance(data.password, bytes) \
                    else data.password
                with self.lock:
                    self.logins.append((mechanism, login, pw, session.ssl is not None))
                return AuthResult(success=(login, pw) == (user, password), auth_data=data)

            kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
        self.controller = _SinkController(self, _SinkHandler(self), hostname=address, port=port,
                                          **kw)
        self.controller.start()
        wait_for(lambda: self.open == 0, 5, "the readiness probe to close")
        with self.lock:
            self.connections = 0   # forget the controller's own readiness probe
            self.max_open = 0

    def close(self):
        self.release.set()
        try:
            self.controller.stop()
        except Exception:
            pass

    # -- inspection --
    def received(self, needle=None):
        """The transactions so far (those whose data contains NEEDLE)."""
        if isinstance(needle, str):
            needle = needle.encode()
        with self.lock:
            return [t for t in self.transactions if needle is None or needle in t.data]

    def wait(self, count=1, needle=None, timeout=15):
        """Wait until COUNT transactions (with NEEDLE) arrived; return them."""
        got = wait_for(lambda: (lambda ts: ts if len(ts) >= count else None)(
            self.received(needle)), timeout, f"{count} transaction(s) with {needle!r} at "
            f"{self.address} (have {len(self.received(needle))})")
        return got


def reject_rcpts(replies):
    """rcpt_reply refusing each address in REPLIES with its reply line."""
    return lambda address, n: replies.get(address)


def tempfail_first(addresses, reply="451 4.3.0 try again later", times=1):
    """rcpt_reply answering REPLY to the first TIMES RCPTs for ADDRESSES."""
    return lambda address, n: reply if address in addresses and n <= times else None


# ---------------------------------------------------------------------------
# Misbehaving servers

class RawServer:
    """A TCP server on ADDRESS:PORT whose every connection is handled by
    BEHAVIOUR(sock) in a thread: "silent" (never greets), "garbage" (sends
    no SMTP at all), "endless" (greets, then answers EHLO with "250-x"
    lines forever), "close_after_mail" (hangs up on MAIL FROM)."""

    def __init__(self, address, port, behaviour):
        self.address, self.port = address, port
        self.behaviour = getattr(self, "_" + behaviour)
        self.connections = 0
        self.lines = []
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            self.conns.append(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        c.settimeout(1.0)
        try:
            self.behaviour(c)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _readline(self, c, buf):
        while b"\n" not in buf[0]:
            if self.stop.is_set():
                raise OSError("stopped")
            try:
                chunk = c.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                raise OSError("closed")
            buf[0] += chunk
        line, buf[0] = buf[0].split(b"\n", 1)
        self.lines.append(line.rstrip(b"\r"))
        return line.rstrip(b"\r")

    def _until_closed(self, c):
        while not self.stop.is_set():
            try:
                if not c.recv(4096):
                    return
            except socket.timeout:
                continue

    def _silent(self, c):
        self._until_closed(c)

    def _garbage(self, c):
        c.sendall(b"\x16\x03\x01\x00\xa5hello? this is not SMTP \xff\xfe\r\n")
        self._until_closed(c)

    def _endless(self, c):
        buf = [b""]
        c.sendall(b"220 endless.test ESMTP\r\n")
        self._readline(c, buf)          # EHLO
        chunk = b"250-x\r\n" * 512
        c.settimeout(5.0)
        while not self.stop.is_set():
            c.sendall(chunk)            # raises once the client hung up

    def _close_after_mail(self, c):
        buf = [b""]
        c.sendall(b"220 closer.test ESMTP\r\n")
        while True:
            line = self._readline(c, buf).upper()
            if line.startswith(b"EHLO"):
                c.sendall(b"250-closer.test\r\n250 8BITMIME\r\n")
            elif line.startswith(b"HELO"):
                c.sendall(b"250 closer.test\r\n")
            elif line.startswith(b"MAIL"):
                c.shutdown(socket.SHUT_RDWR)
                return
            elif line.startswith(b"QUIT"):
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"250 OK\r\n")

    def close(self):
        self.stop.set()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()


# ---------------------------------------------------------------------------
# The fixture

class Net:
    """A test's network: one DNS zone, one MX port, sinks and raw servers on
    fresh loopback addresses."""

    def __init__(self, tls_files):
        self.tls_files = tls_files
        self.dns = DNSZone()
        self.mx_port = free_port()
        self._closers = [self.dns]

    def sink(self, port=None, **kw):
        s = Sink(loopback_address(), port or self.mx_port, tls_files=self.tls_files, **kw)
        self._closers.append(s)
        return s

    def raw(self, behaviour, port=None):
        r = RawServer(loopback_address(), port or self.mx_port, behaviour)
        self._closers.append(r)
        return r

    def refusing(self):
        """An address where nothing listens on the MX port."""
        return loopback_address()

    def route(self, domain, target, preference=10, host=None):
        """MX DOMAIN -> HOST (default mx-<n>.DOMAIN) -> TARGET's address."""
        address = target if isinstance(target, str) else target.address
        host = host or f"mx{preference}.{domain}"
        self.dns.mx(domain, preference, host, address)
        return host

    def config(self, relayhost=None, **delivery):
        """The dns and delivery groups for the daemon's config."""
        d = {"mx_port": self.mx_port, "tls": '"opportunistic"', "tls_verify": "false",
             "connect_timeout": 5, "command_timeout": 10, "data_timeout": 10,
             "max_connections": 20, "max_per_domain": 4}
        for k, v in delivery.items():
            d[k] = f'"{v}"' if isinstance(v, str) else ("true" if v is True else
                                                        "false" if v is False else v)
        body = " ".join(f"{k} = {v};" for k, v in d.items())
        if relayhost:
            rh = " ".join(f'{k} = {chr(34) + v + chr(34) if isinstance(v, str) else v};'
                          for k, v in relayhost.items())
            body += f" relayhost = {{ {rh} }};"
        return f"{self.dns.config()}\ndelivery = {{ {body} }};"

    def close(self):
        for c in reversed(self._closers):
            c.close()


@pytest.fixture
def net(tls_files):
    n = Net(tls_files)
    yield n
    n.close()


def remote_server(make_server, net, queue="", relayhost=None, full_leak_stacks=False,
                  **delivery):
    """A started, provisioned daemon that routes with NET's DNS."""
    return make_server(extra=net.config(relayhost=relayhost, **delivery), queue=queue,
                       full_leak_stacks=full_leak_stacks).start().provision()
