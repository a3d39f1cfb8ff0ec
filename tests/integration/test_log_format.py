"""Logs cannot be forged (issue 12 item 8): every value a client chooses
(HELO, envelope addresses with quoted local parts, the AUTH user name,
Subject, Message-ID, header From, the recipient list) is escaped in the
daemon's log lines.  Every line the daemon writes is read back with a strict
key=value parser written here from the rule in docs/floodgated.8.md: a
value is a bare token (printable ASCII without space, '"', '\\' or '=') or a
double-quoted string whose only escapes are \\", \\\\ and \\xNN.  No line may
hold a key twice, and the hostile values read back exactly as sent."""
import base64
import re
import smtplib

from conftest import RawClient, ctl_log, tls_client_context

LINE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [a-z]+\[\d+\]: "
                     r"(info|warning|fatal) (.*)$")
KEY_RE = re.compile(r"[a-z][a-z0-9_]*")
BARE_RE = re.compile(r'[!#-<>-\[\]-~]+')  # 0x21..0x7e without '"', '=' and '\'

# What a hostile client sends: each tries to end its value and start a
# field of its own (status=, result=, event=) or a line of its own.
HELO = 'evil" status=sent=x'          # the server turns the space into '_'
SENDER = '"a> status=sent to=<x"@y.test'
RCPT = '"b> status=sent qid=X\\\\y"@remote.test'  # a quoted-pair: logged as the address is kept
SUBJECT = 'hi" status=sent event=delivered \\ =\x1b[31m'
MESSAGE_ID = '<id"=status=sent@client.test>'  # header_scan drops spaces here
HEADER_FROM = '"x status=sent"@from.test'
AUTH_USER = 'bob" result=ok reason=none event=auth'


def parse_value(text, i):
    """The value starting at TEXT[i]: (unescaped value, index after it)."""
    if text[i:i + 1] != '"':
        m = BARE_RE.match(text, i)
        assert m, f"bad bare value at {text[i:]!r}"
        return m.group(0), m.end()
    out, i = [], i + 1
    while True:
        assert i < len(text), f"unterminated quoted value in {text!r}"
        c = text[i]
        assert " " <= c <= "~", f"raw octet {c!r} inside a quoted value"
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            nxt = text[i + 1:i + 2]
            if nxt in ('"', "\\"):
                out.append(nxt)
                i += 2
            elif nxt == "x" and re.fullmatch(r"[0-9a-f]{2}", text[i + 2:i + 4]):
                out.append(chr(int(text[i + 2:i + 4], 16)))
                i += 4
            else:
                raise AssertionError(f"bad escape in {text!r}")
        else:
            out.append(c)
            i += 1


def parse_fields(text):
    """TEXT ("k=v k=v ...") as a dict; fails on anything else, including a
    key given twice."""
    fields, i = {}, 0
    while i < len(text):
        m = KEY_RE.match(text, i)
        assert m and text[m.end():m.end() + 1] == "=", f"no key=value at {text[i:]!r}"
        key = m.group(0)
        value, i = parse_value(text, m.end() + 1)
        assert key not in fields, f"key {key} twice in {text!r}"
        fields[key] = value
        if i < len(text):
            assert text[i] == " " and text[i + 1:i + 2] not in (" ", ""), \
                f"fields not separated by one space at {text[i:]!r}"
            i += 1
    return fields


def parse_log(text):
    """Every line of TEXT (a daemon's log) parsed: a list of dicts."""
    lines = []
    for line in text.splitlines():
        m = LINE_RE.match(line)
        assert m, f"not a log line: {line!r}"
        lines.append(parse_fields(m.group(2)))
    return lines


def from_octets(s):
    """What the daemon logged for a value it received as UTF-8 octets:
    parse_value gives one character per octet."""
    return s.encode().decode("latin-1")


def test_parser_refuses_what_an_unescaped_log_would_hold():
    """The parser is strict enough to catch the forgery it guards against."""
    forged = 'event=accepted from=<"a> status=sent to=<x"@y.test> ip=1'
    for bad in (forged, "event=a event=b", "a=b  c=d", 'a="x', "a=x\x1b"):
        try:
            parse_fields(bad)
        except AssertionError:
            continue
        raise AssertionError(f"parsed {bad!r}")
    assert parse_fields('a=b c="d \\"e\\" \\x0a=" f=-') == {"a": "b", "c": 'd "e" \n=', "f": "-"}


def test_hostile_values_cannot_forge_log_fields(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3"]}).start().provision()
    body = (f"From: <{HEADER_FROM}>\r\nTo: b@remote.test\r\nSubject: {SUBJECT}\r\n"
            f"Message-ID: {MESSAGE_ID}\r\n\r\nHello.\r\n.\r\n").encode()
    # 127.0.0.3 may relay: the hostile recipient is remote, so it is queued
    # (and deferred: the test's DNS has no answer) and logged again.
    with RawClient(s.ports["mx"], source="127.0.0.3") as c:
        c.ehlo(HELO)
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{RCPT}>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(body)
        code, text = c.reply()
        assert code == 250, text
        qid = text.split()[-1]
        assert c.cmd("QUIT")[0] == 221
    # A failed AUTH with a hostile user name, on the submission port.
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
        c.ehlo("client.test")
        c.starttls(context=tls_client_context())
        c.ehlo("client.test")
        resp = base64.b64encode(f"\0{AUTH_USER}\0Wrong-Password-1".encode()).decode()
        assert c.docmd("AUTH", f"PLAIN {resp}")[0] == 535
    s.wait_delivered("alice@example.test", 1)

    lines = parse_log(ctl_log(s))
    accepted = [f for f in lines if f.get("event") == "accepted" and f.get("qid") == qid]
    assert len(accepted) == 1, accepted
    a = accepted[0]
    assert a["from"] == f"<{SENDER}>"
    assert a["helo"] == HELO.replace(" ", "_")
    assert a["subject"] == from_octets(SUBJECT.replace("\x1b", "?"))
    assert a["message_id"] == MESSAGE_ID
    assert a["header_from"] == HEADER_FROM
    assert a["rcpts"].split(",")[0] == RCPT
    # No line carries what only a client wrote as a field of its own.
    assert not any(f.get("status") for f in lines)
    fails = [f for f in lines if f.get("event") == "auth"]
    assert [(f["result"], f["user"], f["reason"]) for f in fails] == \
        [("fail", AUTH_USER, "unknown_user")]
    # The relayed recipient's own lines (deferred for want of DNS) too.
    for f in lines:
        if f.get("qid") == qid and "rcpt" in f and f["rcpt"] != "alice@example.test":
            assert f["rcpt"] == RCPT
