"""RFC basics (issue 12 item 9).  RFC 5321 4.5.1: postmaster@ every local
domain (any case, and a bare <postmaster>) is accepted and delivered even
when no user or alias has that name: to the configured `postmaster`, else to
the postmaster mailbox of that domain; a user or alias postmaster@ keeps
precedence.  A NUL octet in DATA is refused with 554 5.6.0 and never stored
(limits.nul = "strip" keeps the message without it)."""
from conftest import (RawClient, check_config, conf_line, delivered_with, maildir_grep, message,
                      token)

SENDER = "someone@remote.test"


def send(s, rcpt, subject, body="Hello.\r\n"):
    """One message from a remote sender to RCPT on the MX port: (code, text)
    of the first refusal, or of the reply to the data."""
    with RawClient(s.ports["mx"]) as c:
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        code, text = c.cmd(f"RCPT TO:<{rcpt}>")
        if code != 250:
            return code, text
        assert c.cmd("DATA")[0] == 354
        c.send(message(subject, body=body, to=rcpt) + b"\r\n.\r\n")
        return c.reply()


def test_postmaster_without_config_has_its_own_mailbox(make_server):
    s = make_server().start().provision()
    s.ctl("domain", "add", "other.test")
    tags = {}
    for rcpt, box in (("PostMaster@example.test", "postmaster@example.test"),
                      ("postmaster@other.test", "postmaster@other.test"),
                      ("postmaster", "postmaster@mail.example.test"),
                      ('"POSTMASTER"@other.test', "postmaster@other.test")):
        tags[rcpt] = token()
        code, text = send(s, rcpt, tags[rcpt])
        assert code == 250, (rcpt, code, text)
        delivered_with(s, box, tags[rcpt])
    # everyone else still gets 550
    assert send(s, "nobody@example.test", token())[0] == 550


def test_postmaster_goes_to_the_configured_address(make_server):
    s = make_server(extra='postmaster = "Alice@Example.test";').start().provision()
    s.ctl("domain", "add", "other.test")
    for rcpt in ("postmaster@example.test", "POSTMASTER@other.test", "postmaster"):
        tag = token()
        assert send(s, rcpt, tag)[0] == 250, rcpt
        delivered_with(s, "alice@example.test", tag)
    assert not s.maildir("postmaster@example.test").exists()


def test_postmaster_user_or_alias_keeps_precedence(make_server):
    s = make_server(extra='postmaster = "alice@example.test";').start().provision()
    s.ctl("domain", "add", "other.test")
    s.ctl("alias", "add", "postmaster@example.test", "bob@example.test")
    tag = token()
    assert send(s, "Postmaster@example.test", tag)[0] == 250
    delivered_with(s, "bob@example.test", tag)
    assert maildir_grep(s, "alice@example.test", tag) == []
    tag = token()
    assert send(s, "postmaster@other.test", tag)[0] == 250
    delivered_with(s, "alice@example.test", tag)


def test_postmaster_config_must_be_an_address(make_server):
    for bad in ("root", "a b@example.test", "admin@", "@example.test", "x@exa mple"):
        s = make_server(extra=f'postmaster = "{bad}";')
        rc, _, err = check_config(s.conf)
        assert rc != 0, bad
        assert f":{conf_line(s, 'postmaster =')}: postmaster: " in err, err
        assert "not an address" in err, err


def test_nul_in_data_is_refused_and_not_stored(make_server):
    s = make_server().start().provision()
    refused, taken = token(), token()
    with RawClient(s.ports["mx"]) as c:
        c.ehlo()
        for tag, body, reply in ((refused, b"before\0after\r\n", (554, "5.6.0")),
                                 (taken, b"no NUL here\r\n", (250, "2.0.0"))):
            assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
            assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
            assert c.cmd("DATA")[0] == 354
            c.send(message(tag, body=body) + b"\r\n.\r\n")
            code, text = c.reply()
            assert (code, text[:5]) == reply, text
    delivered_with(s, "alice@example.test", taken)
    with s.db() as db:
        assert db.execute("SELECT count(*) FROM bodies WHERE instr(data, ?) > 0",
                          (refused.encode(),)).fetchone()[0] == 0
    assert maildir_grep(s, "alice@example.test", refused) == []


def test_nul_strip_keeps_the_message_without_it(make_server):
    s = make_server()
    s.conf.write_text(s.conf_text.replace("command_timeout = 30;",
                                          'command_timeout = 30; nul = "strip";'))
    s.start().provision()
    tag = token()
    assert send(s, "alice@example.test", tag, body=b"before\0after\r\n")[0] == 250
    [data] = delivered_with(s, "alice@example.test", tag)
    assert b"\0" not in data and b"beforeafter\r\n" in data
