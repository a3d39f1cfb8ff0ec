"""What a client sends while its session waits (for a store read on a
lookup thread, the store's commit at the end of DATA): the session keeps
its socket readable then (no epoll_ctl to turn reading off and on around
each wait, docs/design.md "A session's waits"), so everything here arrives
while the wait is on.  Pipelined commands are answered in order when it
ends (RFC 2920 3.1); a client that stops sending is answered, then closed;
one that leaves is freed once, when the job comes back, and its message is
stored all the same; a flood is read only up to the input buffer's bound
(SMTP_INPUT_MAX), the rest waits in the kernel; a client dripping octets
does not hold the session past its deadline.

The waits are held with the test-build control commands fault.lookup_hold
and fault.commit_hold."""
import base64
import select
import socket
import ssl
import struct

import pytest

from conftest import (PASSWORDS, RawClient, control, delivered_with, message, tls_client_context,
                      token, wait_log)
from test_deadlines import closed_by_server, drip
from test_loop_lookups import (ALICE, BOB, hold_lookups, nothing_yet, short_command_timeout,
                               waiting_session)

SENDER = "sender@remote.test"
TRANSPORTS = ["plain", "starttls", "implicit"]


def session_client(s, transport="plain"):
    """A client past EHLO on plain TCP, after STARTTLS (TLS filter over the
    socket's bufferevent), or on implicit TLS and logged in (the TLS
    socket bufferevent); and the sender it may use."""
    if transport == "implicit":
        c = RawClient(s.ports["submissions"], greet=False)
        c.sock = tls_client_context().wrap_socket(c.sock, server_hostname="mail.example.test")
        assert c.reply()[0] == 220
        c.ehlo()
        plain = base64.b64encode(f"\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode()
        assert c.cmd(f"AUTH PLAIN {plain}")[0] == 235
        return c, ALICE
    c = RawClient(s.ports["mx"])
    c.ehlo()
    if transport == "starttls":
        c.starttls()
        c.ehlo()
    return c, SENDER


def hold_commits(s, seconds):
    """Keep the store commits of accepted messages waiting SECONDS (0: let them go)."""
    r = control(s, {"cmd": "fault.commit_hold", "seconds": seconds})
    if not r["ok"] and "unknown" in r["error"]:
        pytest.skip("floodgated built without -Dfault_injection=true")
    assert r["ok"], r


def held_at(s, c, sender, rest=""):
    """C starts a transaction from SENDER; then, with the lookups held, it
    sends an RCPT to a user of ours, which waits for its lookup, and REST
    pipelined after it.  The waiting session's id."""
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    hold_lookups(s, 60)
    c.send(f"RCPT TO:<{ALICE}>\r\n{rest}")
    return waiting_session(s)


def in_data(c, *rcpts):
    c.ehlo()
    assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    for r in rcpts:
        assert c.cmd(f"RCPT TO:<{r}>")[0] == 250
    assert c.cmd("DATA")[0] == 354


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_transaction_pipelined_through_every_wait_is_answered_in_order(make_server, transport):
    s = make_server().start().provision()
    first, second = token(), token()
    a, sender = session_client(s, transport)
    with a, RawClient(s.ports["mx"]) as b:
        b.ehlo()
        held_at(s, a, sender, f"RCPT TO:<{BOB}>\r\nDATA\r\n")
        assert nothing_yet(a)
        hold_lookups(s, 0)
        assert [a.reply()[0] for _ in range(3)] == [250, 250, 354]
        # the end of the message and the next transaction in one write,
        # while the first one's commit is held
        hold_commits(s, 60)
        a.send(message(first, sender=sender, to=ALICE) + b"\r\n.\r\n" +
               f"MAIL FROM:<{sender}>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n".encode())
        waiting_session(s, "storing")
        assert nothing_yet(a)
        assert b.cmd("NOOP")[0] == 250  # the loop answers everyone else
        hold_commits(s, 0)
        code, text = a.reply()
        assert code == 250 and "queued as" in text, text
        assert [a.reply()[0] for _ in range(3)] == [250, 250, 354]
        a.send(message(second, sender=sender, to=ALICE) + b"\r\n.\r\n")
        code, text = a.reply()
        assert code == 250, text
        assert a.cmd("QUIT")[0] == 221
    delivered_with(s, ALICE, first)
    delivered_with(s, BOB, first)
    delivered_with(s, ALICE, second)


def test_a_client_that_stops_sending_during_a_lookup_is_answered_then_closed(make_server):
    s = make_server().start().provision()
    with session_client(s)[0] as a:
        gone = held_at(s, a, SENDER, f"RCPT TO:<{BOB}>\r\n")
        a.sock.shutdown(socket.SHUT_WR)  # the EOF arrives while RCPT waits
        assert nothing_yet(a)
        hold_lookups(s, 0)
        # what it sent before the EOF is answered, in order; then the end
        assert [a.reply()[0] for _ in range(2)] == [250, 250]
        assert closed_by_server(a.sock)
    wait_log(s, rf"event=disconnect session={gone} ")


def leave(s, c, how):
    """Client C goes (a FIN: close, or an RST: SO_LINGER 0) while its
    session waits; another client is answered meanwhile."""
    if how == "rst":
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    with RawClient(s.ports["mx"]) as b:
        b.ehlo()
        assert b.cmd("NOOP")[0] == 250


def accept_one(s):
    """One message to ALICE, answered 250 and delivered."""
    mark = token()
    with RawClient(s.ports["mx"]) as c:
        in_data(c, ALICE)
        c.send(message(mark, to=ALICE) + b"\r\n.\r\n")
        assert c.reply()[0] == 250
    delivered_with(s, ALICE, mark)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_a_client_that_leaves_during_a_held_lookup(make_server, how):
    s = make_server().start().provision()
    a = session_client(s)[0]
    gone = held_at(s, a, SENDER, "DATA\r\n")
    leave(s, a, how)
    hold_lookups(s, 0)
    wait_log(s, rf"event=disconnect session={gone} ")
    accept_one(s)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_a_client_that_leaves_during_a_held_commit_still_has_its_message_stored(make_server, how):
    s = make_server().start().provision()
    mark = token()
    a = RawClient(s.ports["mx"])
    in_data(a, ALICE)
    hold_commits(s, 60)
    a.send(message(mark, to=ALICE) + b"\r\n.\r\n")
    gone = waiting_session(s, "storing")
    leave(s, a, how)
    hold_commits(s, 0)
    # the commit was under way: it completes, once, and the session ends
    wait_log(s, rf"event=accepted qid=\S+ session={gone} ")
    wait_log(s, rf"event=disconnect session={gone} ")
    delivered_with(s, ALICE, mark)
    accept_one(s)
    assert s.log().count(f"event=disconnect session={gone} ") == 1


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


FLOOD_MAX = 96 << 20  # far more than the kernel's socket buffers hold


JUNK = b"X" * 65536


def flood(sock):
    """Send junk (one endless line) until the server stops taking it: the
    socket stays unwritable (nothing read on the other side) for 2 s, or
    FLOOD_MAX went.  Returns how much went."""
    sent = 0
    sock.setblocking(False)
    try:
        while sent < FLOOD_MAX:
            try:
                sent += sock.send(JUNK)
            except (BlockingIOError, ssl.SSLWantWriteError):
                if not select.select([], [sock], [], 2.0)[1]:
                    break
    finally:
        sock.setblocking(True)
        sock.settimeout(60)
    return sent


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_flood_while_the_lookup_is_held_is_read_only_up_to_the_bound(make_server, transport):
    s = make_server().start().provision()
    a, sender = session_client(s, transport)
    with a:
        held_at(s, a, sender)
        before = vm_rss_kb(s.proc.pid)
        sent = flood(a.sock)
        grown = vm_rss_kb(s.proc.pid) - before
        # the daemon stopped reading (the kernel's buffers and TCP flow
        # control hold the rest): its memory did not take the flood
        assert sent < FLOOD_MAX, "the daemon read the whole flood while it waited"
        assert grown < 16 << 10, f"VmRSS grew {grown} kB during a {sent >> 10} kB flood"
        hold_lookups(s, 0)
        # then the session goes on: RCPT's answer, the endless line skipped
        # (JUNK first: a TLS write cut short must be retried as it was)
        a.send(JUNK + b"\r\nQUIT\r\n")
        assert a.reply()[0] == 250
        code, text = a.reply()
        assert code == 500 and "too long" in text, text
        assert a.reply()[0] == 221


def test_octets_dripped_during_a_held_lookup_do_not_hold_the_session(make_server):
    s = short_command_timeout(make_server)
    with session_client(s)[0] as a:
        held_at(s, a, SENDER)
        # read while the lookup is held, the octets do not move its deadline
        code, text = drip(a, f"RCPT TO:<{BOB}>\r\nDATA\r\n".encode())
        assert code == 421 and "Timeout" in text, (code, text)
        assert closed_by_server(a.sock)
    hold_lookups(s, 0)
    wait_log(s, r"event=timeout session=\d+ ip=127.0.0.1 reason=command")


@pytest.mark.parametrize("transport", ["plain", "starttls"])
def test_a_ten_megabyte_message_is_read_whole_under_the_bound(make_server, transport):
    # the DATA reader empties the input buffer at every read: the bound
    # (SMTP_INPUT_MAX) never stops it, on plain TCP or under the TLS filter
    s = make_server()
    s.conf_text = s.conf_text.replace("max_message_size = 1048576;", "max_message_size = 16777216;")
    s.conf.write_text(s.conf_text)
    s.start().provision()
    mark = token()
    body = (b"A line of a big message, well under the line limit of RFC 5321.\r\n" *
            160000)  # 10.4 MB
    a, sender = session_client(s, transport)
    with a:
        assert a.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        assert a.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
        assert a.cmd("DATA")[0] == 354
        a.send(message(mark, sender=sender, to=ALICE, body=body) + b".\r\n")
        code, text = a.reply()
        assert code == 250, text
    m = wait_log(s, rf"event=accepted qid=\S+ .* size=(\d+) .*subject=\"?{mark}")
    assert int(m.group(1)) > len(body)
