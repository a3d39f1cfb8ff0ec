"""Per-client-IP SMTP security options: concurrent connections, messages
per hour, unknown recipients (directory harvesting) before a ban, with an
exception IP group."""
import json
import smtplib

from conftest import RawClient, message

OUTSIDE = "127.0.0.2"
OTHER = "127.0.0.4"
OFFICE = "127.0.0.5"


def limits(**kw):
    body = " ".join(f"{k} = {v};" for k, v in kw.items())
    return f'client_limits = {{ {body} exempt_groups = [ "office" ]; }};'


GROUPS = {"trusted": ["127.0.0.3"], "office": [OFFICE]}


def test_connections_per_ip(make_server):
    s = make_server(extra=limits(max_connections=2), groups=GROUPS).start().provision()
    held = [RawClient(s.ports["mx"], source=OUTSIDE) for _ in range(2)]
    assert all(c.greeting[0] == 220 for c in held)
    third = RawClient(s.ports["mx"], source=OUTSIDE)
    code, text = third.greeting
    assert code == 421 and "Too many connections from your address" in text
    assert RawClient(s.ports["mx"], source=OTHER).greeting[0] == 220
    assert all(RawClient(s.ports["mx"], source=OFFICE).greeting[0] == 220 for _ in range(3))
    held[0].cmd("QUIT")
    held[0].sock.close()
    from netfixtures import wait_for
    wait_for(lambda: RawClient(s.ports["mx"], source=OUTSIDE).greeting[0] == 220,
             what="a slot freed")
    assert "reason=connections_per_ip" in s.log()


def test_messages_per_hour_per_ip(make_server):
    s = make_server(extra=limits(messages_per_hour=2), groups=GROUPS).start().provision()
    with smtplib.SMTP("127.0.0.1", s.ports["mx"], source_address=(OUTSIDE, 0)) as c:
        for i in range(2):
            c.sendmail("news@remote.test", ["alice@example.test"], message(f"n{i}"))
        code, text = c.mail("news@remote.test")
        assert code == 451 and b"Too many messages from your address this hour" in text
    with smtplib.SMTP("127.0.0.1", s.ports["mx"], source_address=(OFFICE, 0)) as c:
        for i in range(3):
            c.sendmail("news@remote.test", ["alice@example.test"], message(f"o{i}"))
    s.wait_delivered("alice@example.test", 5)


def test_unknown_recipients_ban_the_harvester(make_server):
    s = make_server(extra=limits(max_unknown_recipients=3, unknown_recipients_ban=3600),
                    groups=GROUPS).start().provision()
    c = RawClient(s.ports["mx"], source=OUTSIDE)
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.test>")[0] == 250
    for name in ("aaron", "abby", "adam"):
        assert c.cmd(f"RCPT TO:<{name}@example.test>")[0] == 550
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250   # real users still pass
    code, text = c.cmd("RCPT TO:<agnes@example.test>")
    assert code == 550
    code, text = c.reply()
    assert code == 421 and "Too many unknown recipients" in text
    assert RawClient(s.ports["mx"], source=OUTSIDE).greeting[0] == 421
    bans = {b["ip"]: b for b in json.loads(s.ctl("ban", "list", "--json").stdout)}
    assert bans[OUTSIDE]["reason"] == "unknown recipients"
    assert 3590 <= bans[OUTSIDE]["until"] - bans[OUTSIDE]["created"] <= 3600
    # the office may mistype as often as it likes
    c = RawClient(s.ports["mx"], source=OFFICE)
    c.ehlo()
    c.cmd("MAIL FROM:<x@remote.test>")
    for i in range(6):
        assert c.cmd(f"RCPT TO:<typo{i}@example.test>")[0] == 550
    assert RawClient(s.ports["mx"], source=OFFICE).greeting[0] == 220
    # nor are the relay group's typos (the office LAN) counted as harvesting
    c = RawClient(s.ports["mx"], source="127.0.0.3")
    c.ehlo()
    c.cmd("MAIL FROM:<x@remote.test>")
    for i in range(6):
        assert c.cmd(f"RCPT TO:<typo{i}@example.test>")[0] == 550
    assert RawClient(s.ports["mx"], source="127.0.0.3").greeting[0] == 220


def test_config_errors_name_the_key(make_server):
    from conftest import check_config, conf_line
    s = make_server(extra='client_limits = { exempt_groups = [ "nowhere" ]; };')
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f":{conf_line(s, 'nowhere')}: client_limits.exempt_groups.[0]: there is no IP group " \
           f"\"nowhere\"" in err, err
    s = make_server(extra="hammering = { ban = 600; ban_max = 60; };")
    rc, _, err = check_config(s.conf)
    assert rc != 0 and "hammering.ban_max: the cap (60) is below the first ban (600)" in err, err


def test_exempt_group_lifts_per_message_and_session_limits(make_server):
    # the harness sets limits.max_recipients = 20 and max_errors = 10
    s = make_server(extra=limits(), groups=GROUPS).start().provision()
    for source, want in ((OUTSIDE, 452), (OFFICE, 250)):
        c = RawClient(s.ports["mx"], source=source)
        c.ehlo()
        assert c.cmd("MAIL FROM:<list@remote.test>")[0] == 250
        codes = [c.cmd("RCPT TO:<alice@example.test>")[0] for _ in range(25)]
        assert codes[:20] == [250] * 20 and codes[20] == want, (source, codes)
        c.cmd("RSET")
        errors = []
        while len(errors) < 12 and 421 not in errors:
            errors.append(c.cmd("BOGUS")[0])
        assert (421 in errors) == (source == OUTSIDE), (source, errors)
