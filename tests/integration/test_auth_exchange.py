"""AUTH exchange errors end the exchange (issue 12 item 2, RFC 4954 4): a
cancel ("*"), a response that is not base64 or not what the mechanism
expects, and a response line over 12,288 octets each get their RFC 4954
reply, the session is back in command state (the next line is a command, not
one more response), and each counts as ONE failed login for the client IP:
the RSET or NOOP that follows counts nothing."""
import base64
import re
import smtplib

from conftest import RawClient, tls_client_context
from netfixtures import wait_for
from test_hammering import bans, greeting, hammering

ATTACKER = "127.0.0.2"
TOO_LONG = "A" * 12292  # a multiple of 4 over RFC 4954's 12288 octets


def b64(text):
    return base64.b64encode(text.encode()).decode()


def submission(s, source=None):
    """A raw client on the submission port after STARTTLS and EHLO."""
    c = RawClient(s.ports["submission"], source=source)
    c.ehlo()
    c.starttls()
    assert "AUTH PLAIN LOGIN" in c.ehlo()
    return c


def auth_fails(s, ip):
    """(reason, user) of each event=auth result=fail line of client IP."""
    return re.findall(rf"event=auth result=fail session=\d+ user=(\S+) ip={re.escape(ip)} "
                      r"listener=\S+ reason=(\S+)", s.log())


def test_each_error_ends_the_exchange(make_server):
    s = make_server().start().provision()
    # one session per mechanism and step: limits.max_errors (10 in the
    # tests) closes a session after that many 5xx replies
    for mech, first in (("PLAIN", None), ("LOGIN", None), ("LOGIN", b64("alice@example.test"))):
        with submission(s) as c:
            for bad, reply in (("*", (501, "5.7.0")), (TOO_LONG, (500, "5.5.6")),
                               ("not base64!", (501, "5.5.2")), ("YW=j", (501, "5.5.2"))):
                assert c.cmd(f"AUTH {mech}")[0] == 334
                if first:
                    assert c.cmd(first)[0] == 334
                code, text = c.cmd(bad)
                assert (code, text[:5]) == reply, (mech, bad[:20], code, text)
                # the next line is a command again
                assert c.cmd("RSET") == (250, "2.0.0 Ok")
                assert c.cmd("NOOP") == (250, "2.0.0 Ok")
    # A PLAIN response that decodes but is not authzid NUL authcid NUL
    # passwd, and one that asks to act as someone else.
    with submission(s) as c:
        for resp, reply in ((b64("alice"), (501, "5.5.2")),
                            (b64("\0alice@example.test\0"), (501, "5.5.2")),
                            (b64("bob@example.test\0alice@example.test\0Tulip-Harbor-47"),
                             (535, "5.7.8"))):
            code, text = c.cmd(f"AUTH PLAIN {resp}")
            assert (code, text[:5]) == reply, (resp, code, text)
            assert c.cmd("RSET") == (250, "2.0.0 Ok")
        # and a good login still works in the same session
        code, text = c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0Tulip-Harbor-47"))
        assert code == 235, text


def test_smtplib_cancel_then_login(make_server):
    """smtplib on the wire: AUTH LOGIN, name, "*" (cancel), then a normal
    login on the same connection."""
    s = make_server().start().provision()
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
        c.ehlo("client.test")
        c.starttls(context=tls_client_context())
        c.ehlo("client.test")
        assert c.docmd("AUTH", "LOGIN")[0] == 334
        assert c.docmd(b64("alice@example.test"))[0] == 334
        code, text = c.docmd("*")
        assert (code, text[:5]) == (501, b"5.7.0"), text
        assert c.rset()[0] == 250
        assert c.login("alice@example.test", "Tulip-Harbor-47")[0] == 235
    assert auth_fails(s, "127.0.0.1") == [("alice@example.test", "cancelled")]


def test_each_failed_exchange_counts_once(make_server):
    """hammering.failures = 3: two failed exchanges, each followed by RSET and
    NOOP, leave the IP unbanned; the third failed exchange bans it."""
    s = make_server(extra=hammering(failures=3)).start().provision()
    with submission(s, source=ATTACKER) as c:
        assert c.cmd("AUTH PLAIN")[0] == 334
        assert c.cmd("*")[0] == 501
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("AUTH LOGIN")[0] == 334
        assert c.cmd(TOO_LONG)[0] == 500
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("NOOP")[0] == 250
    assert bans(s) == {}
    assert greeting(s, ATTACKER)[0] == 220
    assert auth_fails(s, ATTACKER) == [("-", "cancelled"), ("-", "too_long")]

    with submission(s, source=ATTACKER) as c:
        assert c.cmd("AUTH LOGIN")[0] == 334
        assert c.cmd(b64("alice@example.test"))[0] == 334
        assert c.cmd("!!!!")[0] == 501
        assert c.reply()[0] == 421  # the third failure: banned, closed
        assert c.closed()
    wait_for(lambda: ATTACKER in bans(s), what="the ban")
    assert bans(s)[ATTACKER]["reason"] == "auth failures"
    assert auth_fails(s, ATTACKER) == [("-", "cancelled"), ("-", "too_long"),
                                      ("alice@example.test", "bad_base64")]
