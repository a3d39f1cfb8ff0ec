"""Bad input: every malformed or out-of-order thing a client can send gets a
precise SMTP reply, the session stays in step with the client, nothing bad is
stored, and other clients are served meanwhile."""
import smtplib
import threading

import pytest

import base64

from conftest import (PASSWORDS, RawClient, Server, delivered_with, maildir_grep, message,
                      smtp_send, tls_client_context, token)

SENDER = "sender@remote.test"


@pytest.fixture
def raw(server):
    """A raw client on the mx port that has said EHLO."""
    with RawClient(server.ports["mx"]) as c:
        assert c.greeting[0] == 220
        c.ehlo()
        yield c


def stored_nowhere(server, needle):
    """NEEDLE is neither in the store nor in any Maildir of the test users."""
    with server.db() as db:
        rows = db.execute("SELECT count(*) FROM bodies WHERE instr(data, ?) > 0",
                          (needle.encode(),)).fetchone()[0]
    assert rows == 0
    for user in ("alice@example.test", "bob@example.test"):
        assert maildir_grep(server, user, needle) == []


def send_good_message(c, server, to="alice@example.test"):
    """On raw client C, send one good message and wait for its delivery."""
    subject = token()
    assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{to}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(message(subject) + b"\r\n.\r\n")
    code, text = c.reply()
    assert code == 250, text
    delivered_with(server, to, subject)
    return subject


# ---- command lines ----

def test_line_of_exactly_512_octets_is_accepted(raw):
    line = b"NOOP " + b"a" * (512 - 2 - 5)
    assert len(line + b"\r\n") == 512
    assert raw.cmd(line)[0] == 250


def test_line_over_512_octets_is_refused_and_session_stays_in_step(raw):
    line = b"NOOP " + b"a" * (513 - 2 - 5)
    code, text = raw.cmd(line)
    assert (code, text[:5]) == (500, "5.5.2")
    assert raw.cmd("NOOP") == (250, "2.0.0 Ok")


def test_100k_line_is_skipped_to_its_end(raw):
    # sent in pieces, as a real client would: the tail of the line must not
    # be taken for a new command
    raw.send(b"MAIL FROM:<" + b"x" * 50000)
    raw.send(b"y" * 50000 + b"RSET\r\n")
    code, text = raw.reply()
    assert (code, text[:5]) == (500, "5.5.2")
    assert raw.cmd("NOOP") == (250, "2.0.0 Ok")
    # and a transaction still works: the junk did not start one
    assert raw.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250


def test_long_line_with_commands_pipelined_after_it(raw):
    raw.send(b"X" * 100_000 + b"\r\nNOOP\r\nHELP\r\n")
    assert raw.reply()[0] == 500
    assert raw.reply()[0] == 250
    assert raw.reply()[0] == 214


def auth_raw(server):
    """A raw client on the submission port, after STARTTLS and EHLO."""
    c = RawClient(server.ports["submission"])
    c.ehlo()
    c.starttls()
    caps = c.ehlo()
    assert any(l.startswith("AUTH") for l in caps), caps
    return c


def test_long_auth_line_is_allowed(server):
    """RFC 4954 4: an AUTH line may be up to 12288 octets; a 2000-octet
    PLAIN response is judged on its content, not refused as too long."""
    with auth_raw(server) as c:
        resp = base64.b64encode(b"\0alice@example.test\0" + b"p" * 1500).decode()
        line = "AUTH PLAIN " + resp
        assert len(line) > 2000
        code, text = c.cmd(line)
        assert code == 535, text
        assert text.startswith("5.7.8")
        # an undecodable one of the same length: 501, not 500 5.5.2
        code, text = c.cmd("AUTH PLAIN " + "!" * 2000)
        assert code == 501, text
        # and the continuation line after "AUTH PLAIN" may be long as well
        assert c.cmd("AUTH PLAIN")[0] == 334
        code, text = c.cmd(resp)
        assert code == 535, text
        assert c.cmd("NOOP")[0] == 250


def test_auth_line_over_12288_octets_is_refused(server):
    with auth_raw(server) as c:
        code, text = c.cmd("AUTH PLAIN " + "A" * 13000)
        assert (code, text[:5]) == (500, "5.5.2")
        assert c.cmd("NOOP")[0] == 250
        # a good AUTH still works afterwards
        good = base64.b64encode(
            b"\0alice@example.test\0" + PASSWORDS["alice@example.test"].encode()).decode()
        assert c.cmd("AUTH PLAIN " + good)[0] == 235


def test_bare_lf_in_command_is_refused(raw):
    raw.send(b"NOOP\n")
    code, text = raw.reply()
    assert (code, text[:5]) == (500, "5.5.2")
    assert raw.cmd("NOOP")[0] == 250


def test_bare_cr_or_nul_in_command_is_refused(raw):
    code, text = raw.cmd(b"NOOP a\rb")
    assert (code, text[:5]) == (500, "5.5.2")
    code, text = raw.cmd(b"NOOP a\0b")
    assert (code, text[:5]) == (500, "5.5.2")
    assert raw.cmd("NOOP")[0] == 250


# ---- DATA ----

def test_data_with_bare_lf_is_refused_and_not_stored(server, raw):
    marker = token()
    assert raw.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert raw.cmd("DATA")[0] == 354
    raw.send(f"Subject: {marker}\r\n\r\nline one\nline two\r\n.\r\n".encode())
    code, text = raw.reply()
    assert (code, text[:5]) == (554, "5.6.0")
    # the session goes on; a good message afterwards is delivered
    send_good_message(raw, server)
    stored_nowhere(server, marker)


SMUGGLING_ENDS = [b"\n.\r\n", b"\r\n.\n", b"\n.\n", b"\r.\r\n"]


def smuggle(raw, marker, fake_end):
    """Send a message that hides a second one behind a fake end of data."""
    assert raw.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert raw.cmd("DATA")[0] == 354
    raw.send(b"Subject: outer " + marker.encode() + b"\r\n\r\nhello" + fake_end +
             b"MAIL FROM:<x@evil.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
             b"Subject: smuggled " + marker.encode() + b"\r\n\r\nsmuggled\r\n.\r\n")
    return raw.reply()


@pytest.mark.parametrize("fake_end", SMUGGLING_ENDS, ids=["LF.CRLF", "CRLF.LF", "LF.LF", "CR.CRLF"])
def test_smtp_smuggling_is_refused(server, raw, fake_end):
    marker = token()
    code, text = smuggle(raw, marker, fake_end)
    assert (code, text[:5]) == (554, "5.6.0"), text
    # the smuggled commands were data: the next reply is to our NOOP
    assert raw.cmd("NOOP") == (250, "2.0.0 Ok")
    send_good_message(raw, server, to="bob@example.test")
    stored_nowhere(server, marker)


@pytest.fixture(scope="module")
def normalizing_server(tls_files):
    s = Server(tls_files)
    s.conf_text = s.conf_text.replace("command_timeout = 30;",
                                      'command_timeout = 30; bare_lf = "normalize";')
    s.conf.write_text(s.conf_text)
    s.start().provision()
    yield s
    s.cleanup()
    assert not s.sanitizer, "sanitizer reports:\n" + "\n".join(s.sanitizer)


@pytest.mark.parametrize("fake_end", SMUGGLING_ENDS, ids=["LF.CRLF", "CRLF.LF", "LF.LF", "CR.CRLF"])
def test_smtp_smuggling_normalized_is_one_message(normalizing_server, fake_end):
    s = normalizing_server
    marker = token()
    with RawClient(s.ports["mx"]) as raw:
        raw.ehlo()
        code, text = smuggle(raw, marker, fake_end)
        if code != 250:
            # refused outright (a bare CR) is fine too: then nothing is stored
            assert (code, text[:5]) == (554, "5.6.0"), text
            assert raw.cmd("NOOP") == (250, "2.0.0 Ok")
            send_good_message(raw, s, to="bob@example.test")
            stored_nowhere(s, marker)
            return
        assert raw.cmd("NOOP") == (250, "2.0.0 Ok")
        send_good_message(raw, s, to="bob@example.test")
    [data] = delivered_with(s, "alice@example.test", "outer " + marker)
    assert b"MAIL FROM:<x@evil.test>\r\n" in data
    assert b"smuggled " + marker.encode() in data
    # one message only: bob got nothing from it, alice got it once
    assert maildir_grep(s, "bob@example.test", marker) == []
    assert len(maildir_grep(s, "alice@example.test", marker)) == 1
    if b"\r" not in fake_end.replace(b"\r\n", b""):
        # normalized: no bare LF is left in what was stored
        body = data.split(b"\r\n\r\n", 1)[1]
        assert b"\n" not in body.replace(b"\r\n", b"")


# ---- sequence and syntax ----

def test_unknown_command(raw):
    code, text = raw.cmd("FROB nicate")
    assert (code, text[:5]) == (500, "5.5.1")


def test_rcpt_before_mail(raw):
    code, text = raw.cmd("RCPT TO:<alice@example.test>")
    assert (code, text[:5]) == (503, "5.5.1")


def test_data_before_rcpt(raw):
    code, text = raw.cmd("DATA")
    assert (code, text[:5]) == (503, "5.5.1")
    assert raw.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    code, text = raw.cmd("DATA")
    assert (code, text[:5]) == (503, "5.5.1")


def test_mail_before_helo(server):
    with RawClient(server.ports["mx"]) as c:
        code, text = c.cmd(f"MAIL FROM:<{SENDER}>")
        assert (code, text[:5]) == (503, "5.5.1")


def test_nested_mail(raw):
    assert raw.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    code, text = raw.cmd(f"MAIL FROM:<{SENDER}>")
    assert (code, text[:5]) == (503, "5.5.1")


@pytest.mark.parametrize("arg", ["FROM:<<bad>", "FROM:<a@b", "FROM:a@b>", "FROM:<a@@b>",
                                 "FROM:", "TO:<a@b>"])
def test_bad_mail_syntax(raw, arg):
    code, _ = raw.cmd("MAIL " + arg)
    assert code == 501


def test_unknown_mail_parameter(raw):
    code, text = raw.cmd("MAIL FROM:<a@b.test> FOO=BAR")
    assert (code, text[:5]) == (555, "5.5.4")


def test_too_many_errors_closes_the_connection(server):
    with RawClient(server.ports["mx"]) as c:
        c.ehlo()
        for _ in range(9):
            assert c.cmd("BOGUS")[0] == 500
        assert c.cmd("BOGUS")[0] == 500
        code, text = c.reply()
        assert (code, text[:5]) == (421, "4.7.0")
        assert c.closed()


def test_message_over_max_size_is_refused(server):
    marker = token()
    big = message(marker, body=(b"x" * 998 + b"\r\n") * 1100)
    assert len(big) > 1048576
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=60) as c:
        c.ehlo("client.test")
        assert c.mail(SENDER)[0] == 250
        assert c.rcpt("alice@example.test")[0] == 250
        code, resp = c.data(big)
        assert code == 552, resp
        assert resp.startswith(b"5.3.4")
        # the session is usable afterwards
        assert c.noop()[0] == 250
    stored_nowhere(server, marker)


def test_message_of_max_size_is_accepted(server):
    marker = token()
    head = message(marker, body=b"")
    filler = 1048576 - len(head) - 2
    body = head + b"y" * (filler - filler % 1000)
    qid = smtp_send(server.ports["mx"], SENDER, "alice@example.test", body)
    [data] = delivered_with(server, "alice@example.test", marker)
    assert data.endswith(body + b"\r\n")
    assert qid.encode() in data


def test_announced_size_over_max_is_refused(raw):
    code, text = raw.cmd(f"MAIL FROM:<{SENDER}> SIZE=2000000")
    assert (code, text[:5]) == (552, "5.3.4")
    assert raw.cmd(f"MAIL FROM:<{SENDER}> SIZE=1000")[0] == 250


def test_too_many_recipients(raw):
    assert raw.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    for i in range(20):
        code, text = raw.cmd("RCPT TO:<alice@example.test>" if i % 2 else
                             "RCPT TO:<bob@example.test>")
        assert code == 250, (i, text)
    code, text = raw.cmd("RCPT TO:<alice@example.test>")
    assert (code, text[:5]) == (452, "4.5.3")
    assert raw.cmd("RSET")[0] == 250


def test_source_route_is_refused(raw):
    assert raw.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    code, text = raw.cmd("RCPT TO:<@a.test:alice@example.test>")
    assert code in (550, 553), text
    assert text[:1] == "5"
    code, text = raw.cmd("RCPT TO:<@a.test,@b.test:alice@example.test>")
    assert code in (550, 553), text


def test_address_literal_is_refused(raw):
    assert raw.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    code, text = raw.cmd("RCPT TO:<alice@[127.0.0.1]>")
    assert code == 550, text
    assert text.startswith("5.7.1")


def test_long_data_line_is_kept_intact(server):
    marker = token()
    long_line = ("L" + marker) * 150 + "end"
    assert len(long_line) > 1000
    body = message(marker, body=f"before\r\n{long_line}\r\nafter\r\n")
    smtp_send(server.ports["mx"], SENDER, "alice@example.test", body)
    [data] = delivered_with(server, "alice@example.test", marker)
    assert f"\r\n{long_line}\r\n".encode() in data
    assert data.endswith(body)


def test_misbehaving_client_does_not_stop_others(server):
    """One client holds half a giant line and half a DATA; another one on a
    parallel connection delivers meanwhile."""
    with RawClient(server.ports["mx"]) as bad, RawClient(server.ports["mx"]) as slow:
        bad.ehlo()
        bad.send(b"MAIL FROM:<" + b"z" * 200_000)  # no end of line yet
        slow.ehlo()
        assert slow.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        assert slow.cmd("RCPT TO:<bob@example.test>")[0] == 250
        assert slow.cmd("DATA")[0] == 354
        slow.send(b"Subject: half\r\n\r\nhalf a message")
        subject = token()
        done = {}

        def other():
            done["qid"] = smtp_send(server.ports["mx"], SENDER, "alice@example.test",
                                    message(subject))

        t = threading.Thread(target=other)
        t.start()
        t.join(60)
        assert "qid" in done
        delivered_with(server, "alice@example.test", subject)
        # both stragglers are still served correctly
        bad.send(b">\r\n")
        assert bad.reply()[0] == 500
        assert bad.cmd("NOOP")[0] == 250
        slow.send(b"\r\n.\r\n")
        assert slow.reply()[0] == 250


def test_vrfy_says_nothing(raw):
    code, text = raw.cmd("VRFY alice@example.test")
    assert code == 252
    code2, text2 = raw.cmd("VRFY nobody-at-all@example.test")
    assert (code2, text2) == (code, text)  # no hint whether the user exists


def test_expn_is_not_available(raw):
    assert raw.cmd("EXPN team@example.test")[0] == 502


def test_help(raw):
    code, text = raw.cmd("HELP")
    assert code == 214
    assert "EHLO" in text and "MAIL" in text


def test_pipelined_command_after_starttls_is_discarded(server):
    with RawClient(server.ports["mx"]) as c:
        c.ehlo()
        # one write: STARTTLS and a plaintext command a man in the middle
        # could have injected
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
        code, text = c.reply()
        assert code == 220, text
        assert c.buf == b""  # no plaintext reply to the injected command
        c.sock = tls_client_context().wrap_socket(
            c.sock, server_hostname="mail.example.test")
        # the injected command got no reply inside TLS either: the first
        # reply we read is the one to our own command
        code, text = c.cmd("HELP")
        assert code == 214, text
        # and the session starts over: no EHLO yet, no transaction
        code, text = c.cmd(f"MAIL FROM:<{SENDER}>")
        assert (code, text[:5]) == (503, "5.5.1"), text
        caps = c.ehlo()
        assert not any(l.startswith("STARTTLS") for l in caps)
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 503
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250


def wait_idle(server, timeout=15):
    """Wait until the daemon counts no open connection."""
    import json
    import time
    deadline = time.time() + timeout
    st = {}
    while time.time() < deadline:
        st = json.loads(server.ctl("status", "--json").stdout)
        if st["connections"] == 0:
            return st
        time.sleep(0.05)
    raise AssertionError(f"connections never went back to 0: {st}")


def test_client_vanishing_mid_data_stores_nothing(server):
    marker = token()
    c = RawClient(server.ports["mx"])
    c.ehlo()
    assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(f"Subject: {marker}\r\n\r\nhalf a mess".encode())
    c.close()
    wait_idle(server)
    stored_nowhere(server, marker)
    with RawClient(server.ports["mx"]) as c:
        c.ehlo()
        send_good_message(c, server)


def test_client_vanishing_during_auth_check(server):
    """The password check runs on a worker; the client leaving meanwhile
    (with a reset) must not hurt the daemon."""
    import socket
    import struct
    for _ in range(3):
        c = auth_raw(server)
        c.send("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0wrong-password").decode()
               + "\r\n")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    wait_idle(server)
    assert server.proc.poll() is None
    with auth_raw(server) as c:
        good = base64.b64encode(
            b"\0alice@example.test\0" + PASSWORDS["alice@example.test"].encode()).decode()
        assert c.cmd("AUTH PLAIN " + good)[0] == 235


def test_client_vanishing_right_after_the_final_dot(server):
    """Closing without waiting for the 250: the message is taken (the store
    commits it) and the session is released."""
    marker = token()
    c = RawClient(server.ports["mx"])
    c.ehlo()
    assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(message(marker) + b"\r\n.\r\n")
    c.close()
    wait_idle(server)
    # delivered at most once (the store may have committed before the close)
    assert len(maildir_grep(server, "alice@example.test", marker)) <= 1
