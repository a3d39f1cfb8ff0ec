"""The SMTP server's state machine, pinned as a table: every command of
RFC 5321 4.1 that Floodgate knows (and STARTTLS, RFC 3207, and AUTH, RFC
4954), plus a verb nobody knows, in every state a session can be in, with
the reply code the daemon gives today (smtp/commands.c).  Each row is one
case: a fresh connection on loopback is brought into the state with raw
socket commands, then the command is sent once and its reply code read.

The states: connected (before HELO), after EHLO, after MAIL, after RCPT
(all on an MX listener: STARTTLS offered, no AUTH), after STARTTLS but
before the EHLO that must follow it (RFC 3207 4.2), authenticated (a
submission listener that requires AUTH, after STARTTLS and AUTH PLAIN),
on that listener before AUTH (without TLS, and with TLS up), and after
EHLO on a listener without TLS and without AUTH.

A change of a reply code here is a change of the protocol a client sees:
if it is meant, change the table with the reason."""
import base64

import pytest

from conftest import PASSWORDS, RawClient, Server

ALICE = "alice@example.test"
PLAIN = base64.b64encode(f"\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode()

VERBS = ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "HELP", "VRFY",
         "EXPN", "STARTTLS", "AUTH", "FROB"]


def command(verb, state):
    """The line sent for VERB in STATE: well-formed, so that the reply
    depends on the state only."""
    sender = ALICE if state == "authenticated" else "sender@remote.test"
    return {"EHLO": "EHLO client.test", "HELO": "HELO client.test",
            "MAIL": f"MAIL FROM:<{sender}>", "RCPT": f"RCPT TO:<{ALICE}>",
            "VRFY": f"VRFY {ALICE}", "EXPN": "EXPN team@example.test",
            "AUTH": f"AUTH PLAIN {PLAIN}", "FROB": "FROB something"}.get(verb, verb)


def expect(c, line, code):
    got, text = c.cmd(line)
    assert got == code, f"{line}: {got} {text}"


# state -> (listener, the commands that lead there with their replies)
SETUP = {
    "connected": ("mx", []),
    "helo": ("mx", [("EHLO client.test", 250)]),
    "mail": ("mx", [("EHLO client.test", 250), ("MAIL FROM:<sender@remote.test>", 250)]),
    "rcpt": ("mx", [("EHLO client.test", 250), ("MAIL FROM:<sender@remote.test>", 250),
                    (f"RCPT TO:<{ALICE}>", 250)]),
    # RFC 3207 4.2: after the handshake the client starts over with EHLO
    "tls-no-ehlo": ("mx", [("EHLO client.test", 250), ("STARTTLS", 220)]),
    "authenticated": ("submission", [("EHLO client.test", 250), ("STARTTLS", 220),
                                     ("EHLO client.test", 250), (f"AUTH PLAIN {PLAIN}", 235)]),
    "auth-required": ("submission", [("EHLO client.test", 250)]),
    "auth-required-tls": ("submission", [("EHLO client.test", 250), ("STARTTLS", 220),
                                         ("EHLO client.test", 250)]),
    "tls-off": ("submissions", [("EHLO client.test", 250)]),
}

# The reply code of each verb (columns in VERBS order) in each state.
TABLE = {
    #                  EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY EXPN STLS AUTH FROB
    "connected":         [250, 250, 503, 503, 503, 250, 250, 221, 214, 252, 502, 220, 503, 500],
    "helo":              [250, 250, 250, 503, 503, 250, 250, 221, 214, 252, 502, 220, 503, 500],
    "mail":              [250, 250, 503, 250, 503, 250, 250, 221, 214, 252, 502, 503, 503, 500],
    "rcpt":              [250, 250, 503, 250, 354, 250, 250, 221, 214, 252, 502, 503, 503, 500],
    "tls-no-ehlo":       [250, 250, 503, 503, 503, 250, 250, 221, 214, 252, 502, 503, 503, 500],
    "authenticated":     [250, 250, 250, 503, 503, 250, 250, 221, 214, 252, 502, 503, 503, 500],
    "auth-required":     [250, 250, 530, 503, 503, 250, 250, 221, 214, 252, 502, 220, 538, 500],
    "auth-required-tls": [250, 250, 530, 503, 503, 250, 250, 221, 214, 252, 502, 503, 235, 500],
    "tls-off":           [250, 250, 250, 503, 503, 250, 250, 221, 214, 252, 502, 502, 503, 500],
}

CASES = [pytest.param(state, verb, codes[i], id=f"{state}-{verb}")
         for state, codes in TABLE.items() for i, verb in enumerate(VERBS)]


@pytest.fixture(scope="module")
def sm_server(tls_files):
    """MX (STARTTLS, no AUTH), submission (STARTTLS, AUTH required) and a
    listener with neither (on the "submissions" port)."""
    s = Server(tls_files, listeners=[("mx", "starttls", "off"),
                                     ("submission", "starttls", "required"),
                                     ("submissions", "none", "off")]).start().provision()
    yield s
    s.cleanup()
    assert not s.sanitizer, "sanitizer reports:\n" + "\n".join(s.sanitizer)


def test_the_table_covers_every_state_and_verb():
    assert set(TABLE) == set(SETUP)
    assert all(len(codes) == len(VERBS) for codes in TABLE.values())


@pytest.mark.parametrize("state,verb,code", CASES)
def test_reply(sm_server, state, verb, code):
    listener, steps = SETUP[state]
    with RawClient(sm_server.ports[listener]) as c:
        assert c.greeting[0] == 220, c.greeting
        for line, want in steps:
            if line == "STARTTLS":
                c.starttls()
            else:
                expect(c, line, want)
        expect(c, command(verb, state), code)
        if verb == "QUIT":
            assert c.closed()
