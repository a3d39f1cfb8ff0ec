"""Sender policy: an authenticated user sends only as addresses it owns
(its own, aliases that deliver to it, send-as grants) in MAIL FROM and in
the From: header; an unauthenticated client outside the trusted groups may
not use one of our domains as envelope sender (anti-spoofing)."""
import smtplib

from conftest import PASSWORDS, message, server_queue, smtp_send, tls_client_context

ALICE = "alice@example.test"
OUTSIDE = "127.0.0.2"
TRUSTED = "127.0.0.3"


def submit(s, sender, header_from=None, rcpt="friend@remote.test", login=ALICE):
    """(stage, code, text) of one authenticated submission as LOGIN: the
    stage is "mail", "data" or "queued"."""
    with smtplib.SMTP_SSL("127.0.0.1", s.ports["submissions"], timeout=30,
                          context=tls_client_context()) as c:
        c.login(login, PASSWORDS[login])
        code, text = c.mail(sender)
        if code != 250:
            return "mail", code, text.decode()
        assert c.rcpt(rcpt)[0] == 250
        code, text = c.data(message("policy", sender=header_from or sender, to=rcpt))
        return ("queued" if code == 250 else "data"), code, text.decode()


def mx_mail_from(s, sender, source):
    with smtplib.SMTP("127.0.0.1", s.ports["mx"], source_address=(source, 0), timeout=30) as c:
        c.ehlo("client.test")
        code, text = c.mail(sender)
        return code, text.decode()


def test_user_sends_only_as_itself_or_its_aliases(make_server):
    s = make_server().start().provision()
    assert submit(s, ALICE)[0] == "queued"
    assert submit(s, "Alice@Example.TEST")[0] == "queued"   # case does not matter
    assert submit(s, "team@example.test")[0] == "queued"    # alias that delivers to alice
    stage, code, text = submit(s, "bob@example.test")
    assert (stage, code) == ("mail", 550), text
    assert text == "5.7.1 <bob@example.test>: Sender address rejected: not owned by user " \
                   "alice@example.test"
    # an alias that forwards elsewhere is not alice's
    assert submit(s, "forward@example.test")[:2] == ("mail", 550)
    # nor is any outside address (the articles' ever-changing From)
    assert submit(s, "promo@cheap-pills.test")[:2] == ("mail", 550)
    # the null sender (bounces, auto-replies) names nobody
    assert submit(s, "")[0] == "queued"
    assert "event=sender_policy result=rejected" in s.log()
    assert 'user=alice@example.test mail_from=bob@example.test' in s.log()


def test_header_from_must_be_owned_too(make_server):
    s = make_server().start().provision()
    stage, code, text = submit(s, ALICE, header_from="ceo@example.test")
    assert (stage, code) == ("data", 550), text
    assert "From: <ceo@example.test> is not an address of alice@example.test" in text
    assert server_queue(s) == []
    assert "header_from=ceo@example.test" in s.log()
    assert submit(s, ALICE, header_from="team@example.test")[0] == "queued"


def test_send_as_grants(make_server):
    s = make_server().start().provision()
    assert submit(s, "billing@example.test")[:2] == ("mail", 550)
    r = s.ctl("user", "grant-send-as", ALICE, "billing@example.test")
    assert "may now send as billing@example.test" in r.stdout
    assert submit(s, "billing@example.test")[0] == "queued"
    s.ctl("user", "grant-send-as", ALICE, "partner.test")   # a whole domain
    assert submit(s, "anyone@partner.test")[0] == "queued"
    assert submit(s, "anyone@other.test")[:2] == ("mail", 550)
    s.ctl("user", "revoke-send-as", ALICE, "billing@example.test")
    assert submit(s, "billing@example.test")[:2] == ("mail", 550)
    r = s.ctl("user", "revoke-send-as", ALICE, "billing@example.test", check=False)
    assert r.returncode == 1 and "has no grant" in r.stderr
    r = s.ctl("user", "grant-send-as", "nobody@example.test", "x@example.test", check=False)
    assert r.returncode == 1 and "no such user" in r.stderr
    r = s.ctl("user", "grant-send-as", ALICE, "a@b@c", check=False)
    assert r.returncode == 1 and "invalid address" in r.stderr


def test_log_mode_and_log_domains_only_log(make_server):
    s = make_server(extra='sender_policy = { mode = "log"; };').start().provision()
    assert submit(s, "bob@example.test")[0] == "queued"
    assert "event=sender_policy result=logged" in s.log()
    s2 = make_server(extra='sender_policy = { log_domains = [ "Example.test" ]; };')
    s2.start().provision()
    assert submit(s2, "bob@example.test")[0] == "queued"


def test_anti_spoofing_of_local_domains(make_server):
    s = make_server().start().provision()
    code, text = mx_mail_from(s, "alice@example.test", OUTSIDE)
    assert code == 550 and "log in to send as example.test" in text, text
    assert mx_mail_from(s, "someone@remote.test", OUTSIDE)[0] == 250   # ordinary inbound mail
    assert mx_mail_from(s, "", OUTSIDE)[0] == 250
    assert mx_mail_from(s, "alice@example.test", TRUSTED)[0] == 250    # the office LAN
    assert "event=sender_policy result=spoofing" in s.log()
    s2 = make_server(extra="sender_policy = { anti_spoofing = false; };").start().provision()
    assert mx_mail_from(s2, "alice@example.test", OUTSIDE)[0] == 250
    # and an inbound message from a trusted sender is delivered as before
    smtp_send(s.ports["mx"], "alice@example.test", "bob@example.test",
              message("lan", sender="alice@example.test", to="bob@example.test"), source=TRUSTED)
    s.wait_delivered("bob@example.test", 1)


def test_bad_config_values(make_server):
    from conftest import check_config, conf_line
    s = make_server(extra='sender_policy = { mode = "sometimes"; };')
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f":{conf_line(s, 'sometimes')}: sender_policy.mode: \"sometimes\" is not one of " \
           f"\"reject\", \"log\"" in err
