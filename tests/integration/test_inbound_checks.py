"""Inbound checks on the MX listener (issue 15, items 5 and 6): DNSBL
scoring of the client address, SPF of the envelope sender (libspf2), DMARC
of the header From (libopendmarc), the Authentication-Results header; never
for authenticated clients or relay.allow_groups; a DNS failure (SERVFAIL,
timeout) skips the check or defers, never rejects.  Every answer comes from
a DNS server on loopback (dns.servers); the clients talk from chosen
127.x addresses, which are checked like any other (Floodgate does not take
libspf2's "localhost always passes" shortcut: core/spf_check.c)."""
import re
import urllib.request

import pytest

from conftest import PASSWORDS, RawClient, free_port, message, server_queue, smtp_send
from test_blocklist_watch import rev, zone  # noqa: F401 (zone: a fixture)

LISTED = "127.0.0.21"       # on bl.test (weight 5): at the threshold
HALF = "127.0.0.22"         # on half.test only (weight 3): below it
REFUSED = "127.0.0.23"      # half.test lists it, bl.test answers "refused"
CLEAN = "127.0.0.24"
TRUSTED = "127.0.0.3"       # the harness' relay.allow_groups
SENDER = "127.0.0.31"       # the address the SPF records authorise

ALICE = "alice@example.test"


def inbound_server(make_server, zone, inbound):
    s = make_server(extra=f"{zone.config()}\ninbound = {{ {inbound} }};\n"
                          "detector = { enabled = false; };")
    s.start()
    s.provision()
    return s


def mail_from(s, source, sender, port="mx"):
    """EHLO and MAIL FROM from SOURCE: the reply to MAIL."""
    c = RawClient(s.ports[port], source=source)
    c.ehlo("client.test")
    code, text = c.cmd(f"MAIL FROM:<{sender}>")
    c.cmd("QUIT")
    return code, text


def send_raw(s, source, sender, msg, rcpt=ALICE):
    """A whole transaction from SOURCE; the reply that ended it (MAIL, RCPT
    or the end of DATA) as (code, text)."""
    c = RawClient(s.ports["mx"], source=source)
    c.ehlo("client.test")
    for line in (f"MAIL FROM:<{sender}>", f"RCPT TO:<{rcpt}>", "DATA"):
        code, text = c.cmd(line)
        if code >= 400:
            return code, text
    c.send(msg + b"\r\n.\r\n")
    code, text = c.reply()
    c.cmd("QUIT")
    return code, text


def delivered_text(s, count, subject):
    """The delivered message with SUBJECT, once COUNT are in the Maildir
    (their file names do not sort in the order of delivery)."""
    texts = [f.read_text(errors="replace") for f in s.wait_delivered(ALICE, count)]
    [text] = [t for t in texts if f"\nSubject: {subject}\n" in t]
    return text


def dnsbl_questions(zone, addr):
    return [q for q in zone.queries if q[0].startswith(rev(addr) + ".") and q[1] == "A"]


DNSBL = ('dnsbl = ( { zone = "bl.test"; weight = 5; }, { zone = "half.test"; weight = 3; } );'
         ' dnsbl_threshold = 5;')


def test_dnsbl_listed_rejected_naming_the_list_and_cached(make_server, zone):
    zone.a(f"{rev(LISTED)}.bl.test", "127.0.0.2")
    zone.a(f"{rev(HALF)}.half.test", "127.0.0.4")
    zone.a(f"{rev(REFUSED)}.half.test", "127.0.0.2")
    zone.a(f"{rev(REFUSED)}.bl.test", "127.255.255.254")   # refused: not a listing
    s = inbound_server(make_server, zone, DNSBL)

    code, text = mail_from(s, LISTED, "someone@remote.test")
    assert code == 554 and text.startswith("5.7.1 ") and "bl.test" in text, (code, text)
    assert f"[{LISTED}]" in text and "half.test" not in text, text
    assert re.search(rf"event=inbound check=dnsbl result=listed action=reject .*ip={LISTED} "
                     r"score=5 threshold=5", s.log())
    # answered from the cache (TTL 60 s) the second time: no new question
    asked = len(dnsbl_questions(zone, LISTED))
    code, _ = mail_from(s, LISTED, "someone@remote.test")
    assert code == 554
    assert len(dnsbl_questions(zone, LISTED)) == asked

    # below the threshold, refused or clean: accepted and delivered
    for n, ip in enumerate((HALF, REFUSED, CLEAN), 1):
        smtp_send(s.ports["mx"], "someone@remote.test", ALICE, message(f"m{n}"), source=ip)
        delivered_text(s, n, f"m{n}")
    assert f"event=dnsbl ip={REFUSED} list=bl.test state=unknown code=127.255.255.254" in s.log()


def test_trusted_and_authenticated_clients_never_checked(make_server, zone):
    for ip in (TRUSTED, LISTED):
        zone.a(f"{rev(ip)}.bl.test", "127.0.0.2")
    zone.txt("fail.test", "v=spf1 ip4:192.0.2.1 -all")
    s = inbound_server(make_server, zone, DNSBL + " spf = true; dmarc = true;")
    # a client of relay.allow_groups on the MX listener
    smtp_send(s.ports["mx"], "x@fail.test", ALICE, message("trusted"), source=TRUSTED)
    # a listed address that logs in on the submission listener
    smtp_send(s.ports["submission"], ALICE, ALICE, message("auth", sender=ALICE),
              source=LISTED, starttls=True, login=(ALICE, PASSWORDS[ALICE]))
    for subject in ("trusted", "auth"):
        assert "Authentication-Results" not in delivered_text(s, 2, subject)
    assert dnsbl_questions(zone, TRUSTED) == [] and dnsbl_questions(zone, LISTED) == []
    assert not [q for q in zone.queries if q[0] == "fail.test"]
    # the same listed address without logging in is refused
    assert mail_from(s, LISTED, "x@remote.test")[0] == 554


def test_spf_fail_rejected_pass_and_softfail_accepted(make_server, zone):
    zone.txt("fail.test", "v=spf1 ip4:192.0.2.1 -all")
    zone.txt("pass.test", f"v=spf1 ip4:{SENDER} -all")
    zone.txt("soft.test", "v=spf1 ip4:192.0.2.1 ~all")
    s = inbound_server(make_server, zone, "spf = true;")

    # loopback is evaluated like any address: libspf2 alone would say pass
    code, text = mail_from(s, SENDER, "x@fail.test")
    assert code == 550 and text.startswith("5.7.23 <x@fail.test>"), (code, text)
    assert "fail.test" in text and f"[{SENDER}]" in text, text

    smtp_send(s.ports["mx"], "x@pass.test", ALICE, message("pass"), source=SENDER)
    head = delivered_text(s, 1, "pass").split("\n\n")[0]
    # above our Received: (RFC 8601 5), after what the local delivery adds
    assert ("\nAuthentication-Results: mail.example.test;\n\tspf=pass smtp.mailfrom=pass.test\n"
            "Received: from client.test ([127.0.0.31])") in head, head

    # a field forged with our authserv-id is taken out (RFC 8601 5), others stay
    forged = message("soft", extra=("Authentication-Results: MAIL.example.test;\r\n"
                                    "\tdmarc=pass header.from=bank.test",
                                    "Authentication-Results: other.test; spf=fail"))
    smtp_send(s.ports["mx"], "x@soft.test", ALICE, forged, source=SENDER)
    text = delivered_text(s, 2, "soft")
    assert "spf=softfail smtp.mailfrom=soft.test" in text
    assert "bank.test" not in text and text.count("Authentication-Results:") == 2, text
    assert "Authentication-Results: other.test; spf=fail" in text
    assert "event=inbound check=spf result=softfail action=mark" in s.log()
    # the null sender is checked as postmaster@HELO (RFC 7208 2.4)
    zone.txt("bad-helo.test", "v=spf1 -all")
    c = RawClient(s.ports["mx"], source=SENDER)
    c.ehlo("bad-helo.test")
    code, text = c.cmd("MAIL FROM:<>")
    assert code == 550 and "5.7.23" in text and "the HELO name bad-helo.test" in text, text
    # a domain without an SPF record: none, accepted
    smtp_send(s.ports["mx"], "x@nospf.test", ALICE, message("none"), source=SENDER)
    assert "spf=none smtp.mailfrom=nospf.test" in delivered_text(s, 3, "none")


def test_spf_fail_marked_when_configured(make_server, zone):
    zone.txt("fail.test", "v=spf1 ip4:192.0.2.1 -all")
    s = inbound_server(make_server, zone, 'spf = true; spf_fail = "mark";')
    smtp_send(s.ports["mx"], "x@fail.test", ALICE, message("marked"), source=SENDER)
    assert "spf=fail smtp.mailfrom=fail.test" in delivered_text(s, 1, "marked")


def dmarc_zone(zone):
    zone.txt("sender.test", f"v=spf1 ip4:{SENDER} -all")
    zone.txt("reject.test", "v=spf1 -all")
    zone.txt("_dmarc.reject.test", "v=DMARC1; p=reject")
    zone.txt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine")
    zone.txt("_dmarc.none.test", "v=DMARC1; p=none")
    zone.txt("_dmarc.sender.test", "v=DMARC1; p=reject")


def metrics(s):
    """The /metrics page of S's web server as {sample line without value: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{s.web_port}/metrics", timeout=30) as r:
        lines = r.read().decode().splitlines()
    return {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in lines if l[:1] != "#"}


def test_dmarc_reject_quarantine_none_pass(make_server, zone):
    dmarc_zone(zone)
    web = free_port()
    s = inbound_server(make_server, zone, f'dmarc = true; }};\nweb = {{ address = "127.0.0.1:{web}";')
    s.web_port = web
    # SPF passes for sender.test, but From: is reject.test: not aligned
    code, text = send_raw(s, SENDER, "x@sender.test", message("r", sender="ceo@reject.test"))
    assert code == 550 and text.startswith("5.7.1 ") and "reject.test" in text, (code, text)
    assert "DMARC" in text

    # p=quarantine: 250, stored held, not delivered
    code, text = send_raw(s, SENDER, "x@sender.test", message("q", sender="a@quarantine.test"))
    assert code == 250, (code, text)
    qid = re.search(r"queued as ([0-9A-F]{16})", text).group(1)
    assert re.search(rf"event=hold qid={qid} .*reason=dmarc", s.log())
    assert [m["id"] for m in server_queue(s, "--state", "held")] == [qid]

    # p=none: delivered, marked
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, message("n", sender="a@none.test"),
              source=SENDER)
    text = delivered_text(s, 1, "n")
    assert "dmarc=fail (p=none) header.from=none.test" in text, text
    assert "spf=pass smtp.mailfrom=sender.test" in text
    # aligned with the SPF pass: pass, even under p=reject
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, message("a", sender="b@sender.test"),
              source=SENDER)
    assert "dmarc=pass (p=reject) header.from=sender.test" in delivered_text(s, 2, "a")
    # a subdomain's From: falls back to the organizational domain's record
    code, text = send_raw(s, SENDER, "x@sender.test", message("o", sender="c@mail.reject.test"))
    assert code == 550 and "reject.test" in text, (code, text)
    assert [m["id"] for m in server_queue(s, "--state", "held")] == [qid]
    m = metrics(s)
    assert m['floodgate_inbound_checks_total{check="dmarc",result="fail"}'] == 4, m
    assert m['floodgate_inbound_checks_total{check="dmarc",result="pass"}'] == 1
    assert m['floodgate_inbound_checks_total{check="spf",result="pass"}'] == 5


def test_dmarc_without_a_readable_from_rejected(make_server, zone):
    """RFC 7489 6.6.1: a message without a From: cannot be checked and is
    "typically rejected"; accepting it let a sender dodge p=reject by
    putting From: past the part of the header that is scanned (64 KB)."""
    dmarc_zone(zone)
    s = inbound_server(make_server, zone, "dmarc = true;")
    pad = [f"X-Pad-{i}: {'p' * 70}" for i in range(1000)]
    raw = ("\r\n".join(["To: alice@example.test", "Subject: padded", *pad,
                          "From: ceo@reject.test"]) + "\r\n\r\nHello.\r\n").encode()
    code, text = send_raw(s, SENDER, "x@sender.test", raw)
    assert code == 550 and text.startswith("5.7.1 ") and "From:" in text, (code, text)
    no_from = b"To: alice@example.test\r\nSubject: none\r\n\r\nHello.\r\n"
    code, text = send_raw(s, SENDER, "x@sender.test", no_from)
    assert code == 550 and text.startswith("5.7.1 "), (code, text)
    assert "event=inbound check=dmarc result=permerror action=reject" in s.log()
    # a message with its From: in reach still goes through
    code, text = send_raw(s, SENDER, "x@sender.test", message("ok", sender="b@sender.test"))
    assert code == 250, (code, text)


@pytest.mark.parametrize("failure", ["servfail", "timeout"])
def test_dns_failure_skips_by_default(make_server, zone, failure):
    broken = zone.servfail if failure == "servfail" else zone.silent
    broken.add(f"{rev(LISTED)}.bl.test")
    broken.add("broken.test")
    broken.add("_dmarc.broken.test")
    s = inbound_server(make_server, zone, DNSBL + " spf = true; dmarc = true; dns_timeout = 1;")
    smtp_send(s.ports["mx"], "x@broken.test", ALICE, message("skip", sender="a@broken.test"),
              source=LISTED)
    text = delivered_text(s, 1, "skip")
    assert "spf=temperror smtp.mailfrom=broken.test" in text, text
    assert "dmarc=temperror header.from=broken.test" in text, text
    log = s.log()
    assert "event=inbound check=dnsbl result=dns_failure action=skip" in log
    assert "event=inbound check=spf result=dns_failure action=skip" in log
    assert "event=inbound check=dmarc result=dns_failure action=skip" in log
    assert "result=listed" not in log


@pytest.mark.parametrize("failure", ["servfail", "timeout"])
def test_dns_failure_defers_when_configured(make_server, zone, failure):
    broken = zone.servfail if failure == "servfail" else zone.silent
    zone.txt("ok.test", f"v=spf1 ip4:{SENDER} -all")
    s = inbound_server(make_server, zone, DNSBL + ' spf = true; dmarc = true; dns_timeout = 1;'
                                                  ' dns_failure = "defer";')
    broken.add(f"{rev(LISTED)}.bl.test")
    code, text = mail_from(s, LISTED, "x@ok.test")
    assert code == 451 and text.startswith("4.4.3 ") and "bl.test" in text, (code, text)
    broken.add("broken.test")
    code, text = mail_from(s, SENDER, "x@broken.test")
    assert code == 451 and text.startswith("4.4.3 ") and "SPF" in text, (code, text)
    broken.add("_dmarc.dm.test")
    code, text = send_raw(s, SENDER, "x@ok.test", message("d", sender="a@dm.test"))
    assert code == 451 and text.startswith("4.4.3 ") and "DMARC" in text, (code, text)
    assert not (s.maildir(ALICE) / "new").exists() or not list((s.maildir(ALICE) / "new").glob("*"))


def test_config_errors_name_the_key(make_server, zone):
    for bad, expect in (('dnsbl = ( { zone = "bad zone"; } );', "inbound.dnsbl.[0]"),
                        ('dns_failure = "reject";', "inbound.dns_failure"),
                        ('spf_fail = "drop";', "inbound.spf_fail"),
                        ("dkim_max_signatures = 0;", "inbound.dkim_max_signatures"),
                        ("dkim_max_signatures = 9;", "inbound.dkim_max_signatures"),
                        ('dkim = "yes";', "inbound.dkim")):
        s = make_server(extra=f"inbound = {{ {bad} }};")
        s.start(wait=False)
        assert s.proc.wait(30) != 0
        assert expect in s.log(), s.log()


def test_dns_wait_never_holds_other_sessions_store_reads(make_server, zone):
    """The inbound checks' DNS runs on threads of their own: sessions whose
    DNSBL lookups hang do not hold up a logged-in user's MAIL and RCPT,
    which read the store on the lookup threads."""
    s = inbound_server(make_server, zone, DNSBL + " dns_timeout = 30;")
    zone.answering.clear()               # every DNS answer waits from now on
    waiting = []
    for ip in ("127.0.0.41", "127.0.0.42", "127.0.0.43"):
        c = RawClient(s.ports["mx"], source=ip)
        c.ehlo("client.test")
        c.send("MAIL FROM:<x@remote.test>\r\n")
        waiting.append(c)
    try:
        smtp_send(s.ports["submission"], ALICE, ALICE, message("meanwhile", sender=ALICE),
                  starttls=True, login=(ALICE, PASSWORDS[ALICE]))
        for c in waiting:                # still waiting for their DNS
            c.sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                c.sock.recv(1)
            c.sock.setblocking(True)
    finally:
        zone.answering.set()
    for c in waiting:
        assert c.reply()[0] == 250
