"""Bounces of remote delivery: DSNs (RFC 3464) to the local sender for a 5xx
from the MX, a null MX, a domain that does not exist and an expired
lifetime; none for the null sender; and the bounce count of the account."""
import email
import re
import subprocess

from conftest import (PASSWORDS, delivered_with, maildir_grep, message, server_queue,
                      smtp_send, token, wait_log)
from netfixtures import net, reject_rcpts, remote_server, wait_for  # noqa: F401

TRUSTED = "127.0.0.3"
ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])


def send_as_alice(s, rcpts, subject):
    rcpts = [rcpts] if isinstance(rcpts, str) else rcpts
    msg = message(subject, sender="alice@example.test", to=", ".join(rcpts))
    return smtp_send(s.ports["submission"], "alice@example.test", rcpts, msg, starttls=True,
                     login=ALICE)


def dsn(data):
    """The parts of a DSN: (message, notification text, per-message fields,
    [per-recipient fields], returned headers text)."""
    m = email.message_from_bytes(data)
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    assert m.get_param("report-type") == "delivery-status"
    parts = m.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"], parts
    fields = parts[1].get_payload()
    return m, parts[0].get_payload(), fields[0], fields[1:], parts[2].get_payload()


def the_dsn(s, subject, timeout=15):
    [data] = delivered_with(s, "alice@example.test", subject, timeout=timeout)
    return data


def queue_empty(s, timeout=15):
    wait_for(lambda: server_queue(s) == [], timeout, "an empty queue")


def test_5xx_from_the_mx_bounces_with_a_dsn(make_server, net):
    sink = net.sink(rcpt_reply=reject_rcpts(
        {"unknown@remote.test": "550 5.1.1 <unknown@remote.test>: no such user here"}))
    net.dns.mx("remote.test", 10, "mx1.remote.test", sink.address)
    s = remote_server(make_server, net)
    subject = token()
    qid = send_as_alice(s, ["unknown@remote.test", "bob@remote.test"], subject)

    [t] = sink.wait(1, subject)           # bob got it
    assert t.rcpt_tos == ["bob@remote.test"]
    m, text, per_msg, per_rcpt, headers = dsn(the_dsn(s, subject))
    assert m["To"] == "<alice@example.test>"
    assert "MAILER-DAEMON@mail.example.test" in m["From"]
    assert m["Auto-Submitted"] == "auto-replied"
    assert "<unknown@remote.test>" in text and "no such user here" in text
    assert "bob@remote.test" not in text
    assert per_msg["Reporting-MTA"] == "dns; mail.example.test"
    assert per_msg["X-Floodgate-Queue-ID"] == qid
    [r] = per_rcpt
    assert r["Final-Recipient"] == "rfc822; unknown@remote.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1", r["Diagnostic-Code"]
    assert r["Remote-MTA"] == f"dns; mx1.remote.test[{sink.address}]"
    assert r["Diagnostic-Code"].startswith("smtp; ")
    assert "550 5.1.1" in r["Diagnostic-Code"]
    assert f"Subject: {subject}" in headers
    assert "From: alice@example.test" in headers
    assert "Hello." not in headers        # headers only, no body
    wait_log(s, rf"event=bounced qid={qid} rcpt=\"?unknown@remote\.test\"? .*code=550")
    wait_log(s, rf"event=bounce qid={qid} dsn_qid=[0-9A-F]{{16}} to=<alice@example\.test>")
    queue_empty(s)


def test_null_mx_bounces_at_once(make_server, net):
    net.dns.null_mx("nullmx.test")
    s = remote_server(make_server, net)
    subject = token()
    qid = send_as_alice(s, "someone@nullmx.test", subject)
    _, text, _, [r], _ = dsn(the_dsn(s, subject, timeout=10))
    assert r["Final-Recipient"] == "rfc822; someone@nullmx.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.10"
    assert "null MX" in text
    assert "Remote-MTA" not in r       # no server was ever talked to
    wait_log(s, rf"event=bounced qid={qid} .*attempts=1 ")
    assert not re.search(rf"event=deferred qid={qid}", s.log())
    queue_empty(s)


def test_nxdomain_bounces_with_5_1_2(make_server, net):
    s = remote_server(make_server, net)   # the zone knows nothing: NXDOMAIN
    subject = token()
    qid = send_as_alice(s, "someone@no-such-domain.test", subject)
    _, text, _, [r], _ = dsn(the_dsn(s, subject, timeout=10))
    assert r["Final-Recipient"] == "rfc822; someone@no-such-domain.test"
    assert r["Status"] == "5.1.2"
    assert r["Action"] == "failed"
    assert "no-such-domain.test" in text
    assert ("no-such-domain.test", "MX", "udp") in net.dns.queries
    wait_log(s, rf"event=bounced qid={qid} .*attempts=1 ")
    queue_empty(s)


def test_null_sender_bounce_makes_no_dsn(make_server, net):
    sink = net.sink(rcpt_reply=reject_rcpts({"unknown@remote.test": "550 5.1.1 no such user"}))
    net.dns.mx("remote.test", 10, "mx1.remote.test", sink.address)
    s = remote_server(make_server, net)
    subject = token()
    msg = message(subject, sender="MAILER-DAEMON@example.test", to="unknown@remote.test")
    qid = smtp_send(s.ports["mx"], "", "unknown@remote.test", msg, source=TRUSTED)
    wait_log(s, rf"event=bounced qid={qid} ")
    queue_empty(s)
    assert not re.search(rf"event=bounce qid={qid} dsn_qid=", s.log())
    assert not re.search(r"event=bounce qid=\S+ dsn_qid=", s.log())
    assert maildir_grep(s, "alice@example.test", subject) == []
    assert maildir_grep(s, "bob@example.test", subject) == []


def test_lifetime_expiry_bounces(make_server, net):
    net.dns.mx("dead.test", 10, "mx.dead.test", net.refusing())
    s = remote_server(make_server, net, queue="lifetime = 2;")
    subject = token()
    qid = send_as_alice(s, "someone@dead.test", subject)
    wait_log(s, rf"event=deferred qid={qid} ")
    _, text, _, [r], _ = dsn(the_dsn(s, subject, timeout=15))
    assert r["Final-Recipient"] == "rfc822; someone@dead.test"
    assert r["Action"] == "failed"
    assert "delivery time expired" in text
    assert "delivery time expired; last error: cannot connect to mx.dead.test" in \
        r["Diagnostic-Code"], r["Diagnostic-Code"]
    assert r["Status"] in ("4.4.7", "5.4.7"), r["Status"]
    m = wait_log(s, rf"event=bounced qid={qid} .*delay=(\d+)s")
    assert int(m.group(1)) >= 2
    queue_empty(s)


def test_delay_warning_is_sent_once(make_server, net):
    """After delivery.delay_warning seconds of failed attempts the sender
    hears that the message is late - once, however often it is retried."""
    net.dns.mx("slow.test", 10, "mx.slow.test", net.refusing())
    s = remote_server(make_server, net, delay_warning=1)
    subject = token()
    qid = send_as_alice(s, "someone@slow.test", subject)
    m, text, fields, [r], headers = dsn(the_dsn(s, subject, timeout=15))
    assert m["Subject"] == "Delayed Mail (still being retried)"
    assert "you do not need to send it" in text.replace("\r\n", " ")
    assert r["Action"] == "delayed"
    assert r["Status"].startswith("4."), r["Status"]
    assert r["Final-Recipient"] == "rfc822; someone@slow.test"
    assert f"Subject: {subject}" in headers
    # more attempts follow (retry every 1-2 s), and no second warning
    wait_for(lambda: len(re.findall(rf"event=deferred qid={qid} ", s.log())) >= 3, 15,
             "three attempts")
    assert len(re.findall(rf"event=delay_warning qid={qid} ", s.log())) == 1
    assert len(delivered_with(s, "alice@example.test", subject, timeout=1)) == 1
    # the message itself is still queued for delivery
    assert any(q["id"] == qid for q in server_queue(s))


def test_bounces_are_counted_for_the_sending_account(make_server, net):
    s = remote_server(make_server, net)
    subjects = [token(), token()]
    for i, subject in enumerate(subjects):
        send_as_alice(s, f"x@nowhere{i}.test", subject)
    for subject in subjects:
        the_dsn(s, subject, timeout=10)
    queue_empty(s)
    db = s.state / "store.db"

    def bounces(user):
        r = subprocess.run(["sqlite3", str(db),
                            f"select bounces from sender_stats where auth_user='{user}'"],
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()
    assert bounces("alice@example.test") == "2"
    assert bounces("bob@example.test") == ""


def test_bounce_to_a_local_alias_or_nonexistent_local_sender(make_server, net):
    # from the office LAN (a relay group), without AUTH, as the alias team@
    net.dns.null_mx("nullmx.test")
    s = remote_server(make_server, net)
    subject = token()
    msg = message(subject, sender="team@example.test", to="someone@nullmx.test")
    smtp_send(s.ports["mx"], "team@example.test", "someone@nullmx.test", msg, source=TRUSTED)
    _, text, _, [r], _ = dsn(the_dsn(s, subject, timeout=10))   # delivered here, to alice
    assert r["Final-Recipient"] == "rfc822; someone@nullmx.test"
    # a sender of ours without a mailbox: MX routing would only bring it back
    subject = token()
    msg = message(subject, sender="ghost@example.test", to="someone@nullmx.test")
    qid = smtp_send(s.ports["mx"], "ghost@example.test", "someone@nullmx.test", msg,
                    source=TRUSTED)
    wait_log(s, rf"event=dsn_dropped qid={qid} to=<ghost@example\.test>")
    queue_empty(s)
    assert "domain not found" not in s.log()


def test_mx_host_without_address_defers_not_bounces(make_server, net):
    # the MX names a host the DNS has no address for: a resolver outage
    # looks the same through c-ares, so this waits and retries
    net.dns.mx("broken.test", 10, "mx.broken.test")
    s = remote_server(make_server, net)
    subject = token()
    qid = send_as_alice(s, "someone@broken.test", subject)
    wait_log(s, rf"event=deferred qid={qid} .*no address found for the mail exchangers")
    [m] = [m for m in server_queue(s) if m["id"] == qid]
    assert {r["state"] for r in m["recipients"]} == {"deferred"}
    assert not re.search(rf"event=bounce qid={qid}", s.log())
