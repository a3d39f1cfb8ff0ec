"""Inbound checks and the header (issue 15, item 5; the inbound2 review):
every author domain of the From: is checked for DMARC, the strictest
result applies (RFC 7489 6.6.1); and the fields the checks must see or
remove are found wherever they lie in the header, even past the 256 KB of
the message kept in memory: a forged Authentication-Results with our
authserv-id there (RFC 8601 5) or a From: there is refused, since neither
can be removed or read."""
import re

from conftest import message, smtp_send
from test_blocklist_watch import zone  # noqa: F401 (zone: a fixture)
from test_inbound_checks import (ALICE, SENDER, delivered_text, dmarc_zone, inbound_server,
                                 send_raw)

PAD = [f"X-Pad-{i}: {'p' * 90}" for i in range(3200)]     # about 300 KB of header


def raw(subject, head, body="Hello.\r\n"):
    return ("\r\n".join([*head, f"Subject: {subject}", "To: alice@example.test"]) +
            "\r\n\r\n" + body).encode()


def test_every_from_domain_is_checked_and_the_strictest_applies(make_server, zone):
    dmarc_zone(zone)
    s = inbound_server(make_server, zone, "dmarc = true;")
    # SPF passes (and aligns) for sender.test; reject.test fails under p=reject
    for head in (["From: a@sender.test, ceo@reject.test"],
                 ["From: a@sender.test", "From: ceo@REJECT.test"],
                 ['From: "A" <a@sender.test>, (c) ceo@reject.test']):
        code, text = send_raw(s, SENDER, "x@sender.test", raw("two", head))
        assert code == 550 and text.startswith("5.7.1 ") and "reject.test" in text, (head, text)
    # the strictest of quarantine and none: held
    code, text = send_raw(s, SENDER, "x@sender.test",
                          raw("held", ["From: a@none.test, b@quarantine.test"]))
    assert code == 250, (code, text)
    qid = re.search(r"queued as ([0-9A-F]{16})", text).group(1)
    assert re.search(rf"event=hold qid={qid} .*reason=dmarc", s.log())
    # every author passes: delivered, one result per domain
    smtp_send(s.ports["mx"], "x@sender.test", ALICE,
              raw("both", ["From: a@sender.test, b@Sender.test, c@mail.sender.test"]),
              source=SENDER)
    text = delivered_text(s, 1, "both")
    assert "dmarc=pass (p=reject) header.from=sender.test;" in text, text
    assert "dmarc=pass (p=reject) header.from=mail.sender.test" in text, text
    assert text.count("header.from=sender.test") == 1, text
    # an address without a domain among them, or too many domains: refused
    code, text = send_raw(s, SENDER, "x@sender.test",
                          raw("nodomain", ["From: a@sender.test, undisclosed"]))
    assert code == 550 and "without a domain" in text, (code, text)
    many = ", ".join(f"a@d{i}.test" for i in range(9))
    code, text = send_raw(s, SENDER, "x@sender.test", raw("many", [f"From: {many}"]))
    assert code == 550 and "more than 8 From: domains" in text, (code, text)


def test_forged_auth_results_past_the_header_in_memory_is_refused(make_server, zone):
    zone.txt("sender.test", f"v=spf1 ip4:{SENDER} -all")
    s = inbound_server(make_server, zone, "spf = true;")
    forged = "Authentication-Results: mail.example.test;\r\n\tdmarc=pass header.from=bank.test"
    code, text = send_raw(s, SENDER, "x@sender.test",
                          raw("forged", ["From: a@sender.test", *PAD, forged]))
    assert code == 550 and text.startswith("5.7.1 "), (code, text)
    assert "Authentication-Results" in text and "mail.example.test" in text, text
    assert "event=inbound check=auth_results result=forged action=reject" in s.log()
    # a quoted authserv-id, in another case, is ours too
    code, _ = send_raw(s, SENDER, "x@sender.test", raw("quoted", [
        "From: a@sender.test", *PAD, 'Authentication-Results: "MAIL.example.test"; spf=pass']))
    assert code == 550
    # another server's field there, or ours within the first 256 KB, is fine:
    # the first stays, the second is removed
    smtp_send(s.ports["mx"], "x@sender.test", ALICE, raw("other", [
        "From: a@sender.test", forged, *PAD,
        "Authentication-Results: other.test; dmarc=pass header.from=bank.test"]), source=SENDER)
    text = delivered_text(s, 1, "other")
    assert "Authentication-Results: other.test; dmarc=pass" in text
    assert "Authentication-Results: mail.example.test;\n\tdmarc=pass" not in text
    assert text.count("Authentication-Results: mail.example.test;") == 1   # ours


def test_from_past_the_header_in_memory_is_refused_with_dmarc(make_server, zone):
    dmarc_zone(zone)
    s = inbound_server(make_server, zone, "dmarc = true;")
    code, text = send_raw(s, SENDER, "x@sender.test",
                          raw("late", ["From: a@sender.test", *PAD, "From: ceo@reject.test"]))
    assert code == 550 and text.startswith("5.7.1 ") and "From:" in text, (code, text)
    assert "past the first" in text, text
