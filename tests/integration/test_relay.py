"""Relay policy: the server relays to remote domains only for authenticated
users and trusted IP groups, refuses every trick that would make it an open
relay, and refuses a config that would open it to the whole Internet."""
import os
import smtplib

import pytest

from conftest import (PASSWORDS, RawClient, check_config, conf_line, message, queued_message,
                      server_queue, smtp_send, token)

OUTSIDE = "127.0.0.2"   # in no group
TRUSTED = "127.0.0.3"   # in group "trusted", which relay.allow_groups names
ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])


def rcpt_reply(server, rcpt, source=OUTSIDE, port="mx"):
    with smtplib.SMTP("127.0.0.1", server.ports[port], source_address=(source, 0),
                      timeout=30) as c:
        c.ehlo("client.test")
        assert c.mail("sender@remote.test")[0] == 250
        return c.rcpt(rcpt)


def test_outside_client_cannot_relay(server):
    code, resp = rcpt_reply(server, "someone@remote.test")
    assert code == 554
    assert resp.startswith(b"5.7.1"), resp


def remote_pending(r):
    """A relayed recipient stays queued: not yet tried, or deferred because
    the test's resolver (a closed loopback port) cannot find remote.test."""
    return r["state"] in ("queued", "deferred") and (
        r["status"] == "waiting for remote delivery" or
        r["status"].startswith("deferred: DNS lookup for remote.test failed"))


def test_outside_client_can_still_send_to_local_users(server):
    code, resp = rcpt_reply(server, "alice@example.test")
    assert code == 250, resp


def test_trusted_group_may_relay(server):
    subject = token()
    qid = smtp_send(server.ports["mx"], "app@example.test", "someone@remote.test",
                    message(subject, to="someone@remote.test"), source=TRUSTED)
    m = queued_message(server, qid)
    assert m["client_ip"] == TRUSTED
    assert m["auth_user"] is None
    assert m["subject"] == subject
    [r] = m["recipients"]
    assert r["address"] == "someone@remote.test"
    assert remote_pending(r), r
    table = server.ctl("queue", "list").stdout
    assert any(qid in l and TRUSTED in l and ("waiting for remote delivery" in l or
                                              "deferred: DNS lookup" in l)
               for l in table.splitlines()), table


def test_authenticated_user_may_relay(server):
    subject = token()
    qid = smtp_send(server.ports["submission"], "alice@example.test", "someone@remote.test",
                    message(subject, sender="alice@example.test", to="someone@remote.test"),
                    source=OUTSIDE, starttls=True, login=ALICE)
    m = queued_message(server, qid)
    assert m["auth_user"] == "alice@example.test"
    assert m["client_ip"] == OUTSIDE
    assert m["listener"] == "submission"
    assert remote_pending(m["recipients"][0]), m["recipients"][0]
    # the table an admin reads names the account and the IP
    lines = server.ctl("queue", "list").stdout.splitlines()
    assert "Authenticated sender" in lines[0] and "Sender IP" in lines[0], lines[0]
    row = [l for l in lines if qid in l]
    assert len(row) == 1, lines
    assert "alice@example.test" in row[0] and OUTSIDE in row[0]
    # and the listing filters by account
    mine = server_queue(server, "--auth-user", "alice@example.test")
    assert qid in [x["id"] for x in mine]
    assert all(x["auth_user"] == "alice@example.test" for x in mine)


def test_authenticated_relay_on_submissions(server):
    subject = token()
    qid = smtp_send(server.ports["submissions"], "alice@example.test", "other@remote.test",
                    message(subject, sender="alice@example.test"), implicit=True, login=ALICE)
    m = queued_message(server, qid)
    assert m["auth_user"] == "alice@example.test"
    assert m["listener"] == "submissions"


@pytest.mark.parametrize("rcpt", ["user%remote.test@example.test",
                                  '"alice@remote.test"@example.test',
                                  "remote.test!alice@example.test",
                                  "alice%remote.test@example.test"])
def test_relay_tricks_are_refused(server, rcpt):
    code, resp = rcpt_reply(server, rcpt)
    assert code == 550, resp
    assert resp[:2] == b"5."


@pytest.mark.parametrize("rcpt", ["<@example.test:someone@remote.test>",
                                  "<someone@[192.0.2.1]>",
                                  "<someone@remote.test.>"])
def test_relay_tricks_by_syntax_are_refused(server, rcpt):
    with RawClient(server.ports["mx"], source=OUTSIDE) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        code, text = c.cmd(f"RCPT TO:{rcpt}")
        assert 500 <= code < 600, text


def test_refused_relay_is_not_queued(server):
    marker = token()
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], source_address=(OUTSIDE, 0),
                      timeout=30) as c:
        c.ehlo("client.test")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            c.sendmail("sender@remote.test", ["someone@remote.test"], message(marker))
    assert not any(m["subject"] == marker for m in server_queue(server))


def test_alias_to_remote_target_may_be_used_by_anyone(server):
    """An alias the admin made is a local address: mail to it from outside
    is accepted and forwarded to its remote target."""
    subject = token()
    qid = smtp_send(server.ports["mx"], "sender@remote.test", "forward@example.test",
                    message(subject, to="forward@example.test"), source=OUTSIDE)
    m = queued_message(server, qid)
    assert [r["address"] for r in m["recipients"]] == ["someone@remote.test"]


# ---- the open-relay guard on the config ----

@pytest.mark.parametrize("everything", ["0.0.0.0/0", "128.0.0.0/1", "::/0"])
def test_config_relaying_for_everyone_is_refused(make_server, everything):
    s = make_server(groups={"trusted": ["127.0.0.3", everything]})
    rc, out, err = check_config(s.conf)
    assert rc != 0
    line = conf_line(s, everything)
    assert f"{os.path.realpath(s.conf)}:{line}:" in err, err
    assert everything in err
    assert "open_relay" in err  # tells the admin how to do it on purpose
    # the daemon refuses to start on it as well
    s.start(wait=False)
    assert s.proc.wait(30) != 0
    assert f":{line}:" in s.log()


def test_config_everyone_through_an_included_group_is_refused(make_server):
    s = make_server(groups={"world": ["0.0.0.0/0"], "trusted": ["127.0.0.3", "@world"]})
    rc, out, err = check_config(s.conf)
    assert rc != 0
    assert f"{os.path.realpath(s.conf)}:{conf_line(s, '0.0.0.0/0')}:" in err, err


def test_config_everyone_outside_relay_groups_is_fine(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3"], "monitoring": ["0.0.0.0/0"]})
    rc, out, err = check_config(s.conf)
    assert rc == 0, err


def test_config_open_relay_on_purpose_is_accepted(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3", "0.0.0.0/0"]},
                    extra="")
    s.conf_text = s.conf_text.replace('relay = { allow_groups = [ "trusted" ]; };',
                                      'relay = { allow_groups = [ "trusted" ]; open_relay = true; };')
    assert "open_relay = true" in s.conf_text
    s.conf.write_text(s.conf_text)
    rc, out, err = check_config(s.conf)
    assert rc == 0, err
    assert "configuration OK" in out
    assert "open relay" in err  # still a loud warning
    # and it really relays for anyone
    s.start()
    code, resp = rcpt_reply(s, "someone@remote.test")
    assert code == 250, resp


def test_config_wide_public_network_warns_but_starts(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3", "11.0.0.0/8"]})
    rc, out, err = check_config(s.conf)
    assert rc == 0, err
    line = conf_line(s, "11.0.0.0/8")
    assert "warning" in err and f":{line}:" in err and "11.0.0.0/8" in err, err
    s.start()
    assert s.proc.poll() is None
    with RawClient(s.ports["mx"]) as c:
        assert c.greeting[0] == 220
    assert "event=config_warning" in s.log()
    assert "11.0.0.0/8" in s.log()
