"""The client checks that wait: a greeting delay that refuses clients who
talk first, a required reverse name (PTR) for the client's IP, and a sender
domain that must exist in DNS — with a real DNS server on loopback."""
import time

import pytest

from conftest import RawClient, free_port
from netfixtures import DNSZone

NAMED = "127.0.0.2"     # has a PTR record
NAMELESS = "127.0.0.4"  # has none
OFFICE = "127.0.0.5"    # exempt


@pytest.fixture
def dns():
    z = DNSZone()
    yield z
    z.close()


def checks(dns, **kw):
    body = " ".join(f"{k} = {v};" for k, v in kw.items())
    return dns.config() + f'\nclient_limits = {{ {body} exempt_groups = [ "office" ]; }};'


GROUPS = {"trusted": ["127.0.0.3"], "office": [OFFICE]}


def test_greeting_delay_refuses_early_talkers(make_server, dns):
    s = make_server(extra=checks(dns, greeting_delay=1), groups=GROUPS).start()
    t0 = time.time()
    c = RawClient(s.ports["mx"], source=NAMED)          # waits politely
    assert c.greeting[0] == 220 and time.time() - t0 >= 0.9
    assert c.cmd("EHLO client.test")[0] == 250
    early = RawClient(s.ports["mx"], source=NAMED, greet=False)
    early.send("EHLO spam-engine.test\r\n")              # before the 220
    code, text = early.reply()
    assert code == 554 and "talked before the greeting" in text
    assert "reason=talked_before_greeting" in s.log()
    t0 = time.time()
    assert RawClient(s.ports["mx"], source=OFFICE).greeting[0] == 220
    assert time.time() - t0 < 0.9                         # exempt: no delay


def test_reverse_dns_required(make_server, dns):
    dns.ptr(NAMED, "mail.client.test")
    s = make_server(extra=checks(dns, require_reverse_dns="true"), groups=GROUPS).start()
    assert RawClient(s.ports["mx"], source=NAMED).greeting[0] == 220
    code, text = RawClient(s.ports["mx"], source=NAMELESS).greeting
    assert code == 554 and text.startswith("5.7.25") and "reverse hostname" in text
    assert "[127.0.0.4]" in text
    assert RawClient(s.ports["mx"], source=OFFICE).greeting[0] == 220
    assert "reason=no_reverse_dns" in s.log()


def test_reverse_dns_tempfail_is_421(make_server):
    # a DNS server that does not answer: a temporary failure, not a verdict
    s = make_server(extra=f'dns = {{ servers = [ "127.0.0.1:{free_port()}" ]; }};\n'
                          'client_limits = { require_reverse_dns = true; };').start()
    code, text = RawClient(s.ports["mx"], source=NAMELESS, timeout=60).greeting
    assert code == 421 and text.startswith("4.7.25"), text


def test_sender_domain_must_exist(make_server, dns):
    dns.mx("real.test", 10, "mx.real.test", "192.0.2.1")
    dns.a("host-only.test", "192.0.2.2")
    dns.null_mx("nomail.test")
    s = make_server(extra=checks(dns, require_sender_domain="true"),
                    groups=GROUPS).start().provision()
    c = RawClient(s.ports["mx"], source=NAMED)
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@real.test>")[0] == 250
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<a@host-only.test>")[0] == 250   # implicit MX
    c.cmd("RSET")
    code, text = c.cmd("MAIL FROM:<a@made-up.test>")
    assert code == 550 and text == "5.1.8 <a@made-up.test>: Sender address rejected: " \
                                   "domain not found", text
    code, text = c.cmd("MAIL FROM:<a@nomail.test>")
    assert code == 550 and "accepts no mail" in text
    assert c.cmd("MAIL FROM:<>")[0] == 250                   # bounces have no domain
    c.cmd("RSET")
    # the session goes on normally after a lookup
    assert c.cmd("MAIL FROM:<a@real.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    o = RawClient(s.ports["mx"], source=OFFICE)
    o.ehlo()
    assert o.cmd("MAIL FROM:<a@made-up.test>")[0] == 250     # exempt


def test_submission_listeners_skip_the_greeting_checks(make_server, dns):
    # roaming users log in from hotel and mobile IPs without reverse names
    s = make_server(extra=checks(dns, greeting_delay=2, require_reverse_dns="true"),
                    groups=GROUPS).start()
    t0 = time.time()
    code, _ = RawClient(s.ports["submission"], source=NAMELESS).greeting
    assert code == 220 and time.time() - t0 < 1.5
    assert RawClient(s.ports["mx"], source=NAMELESS).greeting[0] == 554
