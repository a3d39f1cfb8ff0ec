"""Inbound DKIM verification on the MX listener (issue 15 item 5): every
DKIM-Signature of a message from outside is verified with libopendkim,
its key asked of the test's DNS server on loopback (dns.servers); the
outcomes go into Authentication-Results (RFC 8601 2.7.1) and into DMARC,
so that an aligned DKIM pass passes DMARC when SPF fails (RFC 7489 4.2).
A DNS failure on the key is temperror, never a failure (issue 15 item 6).
The messages are signed by dkimpy (python3-dkim), a signer that is not
the one under test."""
import base64
import re
import signal
import subprocess

import dkim
import pytest

from conftest import PASSWORDS, free_port, message, smtp_send, wait_log
from netfixtures import DNSZone
from test_blocklist_watch import zone  # noqa: F401 (a fixture)
from test_inbound_checks import (ALICE, SENDER, TRUSTED, delivered_text, dmarc_zone,
                                 inbound_server, metrics, send_raw)


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    """An RSA 2048 key: (private PEM, the p= value of its DNS record)."""
    d = tmp_path_factory.mktemp("dkimkey")
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(d / "k.pem"), "2048"],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(d / "k.pem"), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return (d / "k.pem").read_bytes(), base64.b64encode(der).decode()


def publish(zone, key, domain, selector="sel"):
    zone.txt(f"{selector}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={key[1]}")


def signed(key, domain, msg, selector="sel", canon=b"relaxed", length=False):
    """MSG with a DKIM-Signature of DOMAIN on top (CANON/CANON; LENGTH:
    with an l= of the whole body as it is now)."""
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key[0],
                    canonicalize=(canon, canon),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                    linesep=b"\r\n", length=length)
    return sig + msg


def test_pass_fail_missing_key_and_unsigned(make_server, zone, key):
    publish(zone, key, "signed.test")
    dmarc_zone(zone)
    web = free_port()
    s = inbound_server(make_server, zone, f'dmarc = true; }};\nweb = {{ address = "127.0.0.1:{web}";')
    s.web_port = web

    msg = signed(key, "signed.test", message("good", sender="a@signed.test"))
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, msg, source=SENDER)
    text = delivered_text(s, 1, "good")
    assert "\tdkim=pass header.d=signed.test header.s=sel;" in text, text

    # the body changed after signing: the body hash does not verify
    msg = signed(key, "signed.test", message("changed", sender="a@signed.test"))
    msg = msg.replace(b"Hello.", b"Hello!")
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, msg, source=SENDER)
    text = delivered_text(s, 2, "changed")
    assert re.search(r'\tdkim=fail reason="[^"]*body hash[^"]*" header.d=signed.test '
                     r'header.s=sel;', text), text

    # no key record at the selector: RFC 6376 6.1.2, PERMFAIL (permerror)
    msg = signed(key, "signed.test", message("nokey", sender="a@signed.test"), selector="gone")
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, msg, source=SENDER)
    text = delivered_text(s, 3, "nokey")
    assert re.search(r'\tdkim=permerror reason="[^"]*" header.d=signed.test header.s=gone;',
                     text), text

    smtp_send(s.ports["mx"], "x@sender.test", ALICE, message("plain", sender="a@signed.test"),
              source=SENDER)
    assert "\tdkim=none;" in delivered_text(s, 4, "plain")

    # the keys were asked of the test's DNS server (dns.servers)
    asked = [q[0] for q in zone.queries if q[1] == "TXT" and "._domainkey." in q[0]]
    assert "sel._domainkey.signed.test" in asked and "gone._domainkey.signed.test" in asked
    log = s.log()
    assert re.search(r"event=inbound check=dkim result=pass .*domain=signed.test selector=sel",
                     log)
    m = metrics(s)
    for result in ("pass", "fail", "permerror", "none"):
        assert m[f'floodgate_inbound_checks_total{{check="dkim",result="{result}"}}'] == 1, m


def test_aligned_dkim_pass_passes_dmarc_when_spf_fails(make_server, zone, key):
    """reject.test publishes "v=spf1 -all" and p=reject: SPF fails for
    every client, so only its aligned DKIM signature gets its mail in."""
    dmarc_zone(zone)
    publish(zone, key, "reject.test")
    publish(zone, key, "signed.test")
    s = inbound_server(make_server, zone, "dmarc = true;")

    msg = signed(key, "reject.test", message("aligned", sender="ceo@reject.test"))
    code, text = send_raw(s, SENDER, "x@reject.test", msg)
    assert code == 250, (code, text)
    text = delivered_text(s, 1, "aligned")
    assert "spf=fail smtp.mailfrom=reject.test" in text, text
    assert "dkim=pass header.d=reject.test header.s=sel" in text
    assert "dmarc=pass (p=reject) header.from=reject.test" in text

    # relaxed alignment (RFC 7489 3.1.1): d= is the From: domain's
    # organizational domain
    msg = signed(key, "reject.test", message("relaxed", sender="ceo@mail.reject.test"))
    code, text = send_raw(s, SENDER, "x@reject.test", msg)
    assert code == 250, (code, text)

    # a valid signature of another domain does not align: the policy rejects
    msg = signed(key, "signed.test", message("unaligned", sender="ceo@reject.test"))
    code, text = send_raw(s, SENDER, "x@reject.test", msg)
    assert code == 550 and text.startswith("5.7.1 ") and "DMARC" in text, (code, text)
    assert "reject.test" in text
    assert re.search(r"event=inbound check=dkim result=pass .*domain=signed.test", s.log())

    # an aligned signature that does not verify does not pass either
    msg = signed(key, "reject.test", message("forged", sender="ceo@reject.test"))
    code, text = send_raw(s, SENDER, "x@reject.test", msg.replace(b"Hello.", b"Pay me."))
    assert code == 550 and "DMARC" in text, (code, text)


@pytest.mark.parametrize("failure", ["servfail", "timeout"])
def test_key_dns_failure_is_temperror_never_a_rejection(make_server, zone, key, failure):
    dmarc_zone(zone)
    zone.txt("_dmarc.slow.test", "v=DMARC1; p=reject")
    (zone.servfail if failure == "servfail" else zone.silent).add("sel._domainkey.slow.test")
    s = inbound_server(make_server, zone, "dmarc = true; dns_timeout = 1;")
    # SPF passes for sender.test but does not align with slow.test: the
    # aligned signature decides, and its key cannot be fetched
    msg = signed(key, "slow.test", message("slow", sender="ceo@slow.test"))
    code, text = send_raw(s, SENDER, "x@sender.test", msg)
    assert code == 250, (code, text)
    text = delivered_text(s, 1, "slow")
    assert re.search(r'\tdkim=temperror reason="[^"]*" header.d=slow.test header.s=sel;', text)
    assert "dmarc=temperror (p=reject) header.from=slow.test" in text, text
    log = s.log()
    assert "event=inbound check=dmarc result=dns_failure action=skip" in log
    assert "result=fail" not in log


def test_key_dns_failure_defers_when_configured(make_server, zone, key):
    zone.txt("sender.test", f"v=spf1 ip4:{SENDER} -all")
    zone.txt("_dmarc.slow.test", "v=DMARC1; p=reject")
    zone.servfail.add("sel._domainkey.slow.test")
    s = inbound_server(make_server, zone, 'dmarc = true; dns_timeout = 1; dns_failure = "defer";')
    msg = signed(key, "slow.test", message("later", sender="ceo@slow.test"))
    code, text = send_raw(s, SENDER, "x@sender.test", msg)
    assert code == 451 and text.startswith("4.4.3 ") and "DMARC" in text, (code, text)


def test_signatures_past_the_cap_are_not_verified(make_server, zone, key):
    publish(zone, key, "signed.test")
    s = inbound_server(make_server, zone, "dkim = true; dkim_max_signatures = 1;")
    # the topmost signature is verified; the one below it is not
    msg = signed(key, "signed.test", message("two", sender="a@signed.test"))
    msg = signed(key, "signed.test", msg, selector="top")
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, msg, source=SENDER)
    text = delivered_text(s, 1, "two")
    assert "header.s=top" in text and "header.s=sel" not in text, text
    assert text.count("dkim=") == 1
    assert re.search(r"event=inbound check=dkim result=not_verified .*signatures=1 ", s.log())
    assert not [q for q in zone.queries if q[0] == "sel._domainkey.signed.test"]


def test_malformed_signature_is_permerror(make_server, zone, key):
    """A DKIM-Signature that cannot be a signature (no bh=, no h=, b= not
    base64) is reported, not taken for an unsigned message."""
    publish(zone, key, "signed.test")
    s = inbound_server(make_server, zone, "dkim = true;")
    broken = (b"DKIM-Signature: v=1; a=rsa-sha256; d=signed.test; s=sel; c=relaxed/relaxed;\r\n"
              b"\tb=!!not-base64!!\r\n")
    smtp_send(s.ports["mx"], "x@sender.test", ALICE,
              broken + message("broken", sender="a@signed.test"), source=SENDER)
    text = delivered_text(s, 1, "broken")
    assert re.search(r'\tdkim=permerror reason="[^"]+" header.d=signed.test header.s=sel', text), \
        text


def test_trusted_and_authenticated_clients_not_verified(make_server, zone, key):
    publish(zone, key, "signed.test")
    s = inbound_server(make_server, zone, "dkim = true;")
    msg = signed(key, "signed.test", message("trusted", sender="a@signed.test"))
    smtp_send(s.ports["mx"], "x@signed.test", ALICE, msg, source=TRUSTED)
    msg = signed(key, "signed.test", message("auth", sender=ALICE))
    smtp_send(s.ports["submission"], ALICE, ALICE, msg, starttls=True,
              login=(ALICE, PASSWORDS[ALICE]))
    for subject in ("trusted", "auth"):
        assert "Authentication-Results" not in delivered_text(s, 2, subject)
    assert not [q for q in zone.queries if "._domainkey." in q[0]]
    assert "check=dkim" not in s.log()


# Runs of WSP, WSP at the ends of lines and empty lines at the end: the
# canonical body (RFC 6376 3.4.3, 3.4.4) is shorter than the one sent, so
# an l= of the whole canonical body is below the octets on the wire.
ODD_BODY = b"Hello  there,\t \r\n\r\nthe  figures.\r\n-- \r\nBob\r\n\r\n\r\n"
TAIL = b"P.S. the account number changed: pay to 666.\r\n"


@pytest.mark.parametrize("canon", [b"relaxed", b"simple"])
def test_body_length_signature(make_server, zone, key, canon):
    """RFC 6376 8.2: a signature whose l= covers the whole body passes; the
    same signature with text appended after the signed part is valid but
    leaves that text unsigned: dkim=policy, and no DKIM pass for DMARC
    (reject.test: SPF fails, p=reject, so the mail is refused)."""
    dmarc_zone(zone)
    publish(zone, key, "signed.test")
    publish(zone, key, "reject.test")
    web = free_port()
    s = inbound_server(make_server, zone, f'dmarc = true; }};\nweb = {{ address = "127.0.0.1:{web}";')
    s.web_port = web

    whole = signed(key, "signed.test", message("whole", body=ODD_BODY, sender="a@signed.test"),
                   canon=canon, length=True)
    assert re.search(rb"\bl=\d+;", whole)
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, whole, source=SENDER)
    text = delivered_text(s, 1, "whole")
    assert "\tdkim=pass header.d=signed.test header.s=sel;" in text, text

    grown = signed(key, "signed.test", message("grown", body=ODD_BODY, sender="a@signed.test"),
                   canon=canon, length=True) + TAIL
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, grown, source=SENDER)
    text = delivered_text(s, 2, "grown")
    signed_len = int(re.search(rb"\bl=(\d+);", grown).group(1))
    m = re.search(r'\tdkim=policy reason="l=(\d+) leaves the last (\d+) of (\d+) body octets '
                  r'unsigned" header.d=signed.test header.s=sel;', text)
    assert m, text
    # ODD_BODY's two empty lines at its end are part of the body now that
    # TAIL follows them: unsigned too
    assert int(m.group(1)) == signed_len and int(m.group(2)) == 4 + len(TAIL)
    assert int(m.group(3)) == signed_len + 4 + len(TAIL)
    assert re.search(r"event=inbound check=dkim result=policy .*domain=signed.test", s.log())
    counts = metrics(s)
    assert counts['floodgate_inbound_checks_total{check="dkim",result="policy"}'] == 1, counts
    assert counts['floodgate_inbound_checks_total{check="dkim",result="pass"}'] == 1, counts

    # reject.test: SPF fails, so only an aligned DKIM pass gets the mail in
    msg = signed(key, "reject.test", message("lwhole", body=ODD_BODY, sender="ceo@reject.test"),
                 canon=canon, length=True)
    code, reply = send_raw(s, SENDER, "x@reject.test", msg)
    assert code == 250, (code, reply)
    assert "dmarc=pass (p=reject) header.from=reject.test" in delivered_text(s, 3, "lwhole")
    msg = signed(key, "reject.test", message("lgrown", body=ODD_BODY, sender="ceo@reject.test"),
                 canon=canon, length=True) + TAIL
    code, reply = send_raw(s, SENDER, "x@reject.test", msg)
    assert code == 550 and reply.startswith("5.7.1 ") and "DMARC" in reply, (code, reply)


def test_keys_asked_of_the_servers_after_a_reload(make_server, zone, key):
    """Each checks thread keeps its libopendkim handle, but asks the keys
    through the resolver of the message's config: after a reload that
    changes dns.servers, the old server is asked nothing more."""
    publish(zone, key, "signed.test")
    s = inbound_server(make_server, zone, "dkim = true;")
    for i in range(6):  # more messages than checks threads: each has its handle
        smtp_send(s.ports["mx"], "x@sender.test", ALICE,
                  signed(key, "signed.test", message(f"a{i}", sender="a@signed.test")),
                  source=SENDER)
    assert "\tdkim=pass header.d=signed.test" in delivered_text(s, 6, "a5")
    other = DNSZone()
    try:
        publish(other, key, "signed.test")
        s.conf.write_text(s.conf_text.replace(zone.server, other.server))
        s.proc.send_signal(signal.SIGHUP)
        wait_log(s, r"event=reload result=ok")
        before = len(zone.queries)
        for i in range(6):
            smtp_send(s.ports["mx"], "x@sender.test", ALICE,
                      signed(key, "signed.test", message(f"b{i}", sender="a@signed.test")),
                      source=SENDER)
        for i in range(6):
            assert "\tdkim=pass header.d=signed.test" in delivered_text(s, 12, f"b{i}")
        assert len(zone.queries) == before
        assert len([q for q in other.queries if q[0] == "sel._domainkey.signed.test"]) >= 6
    finally:
        other.close()
