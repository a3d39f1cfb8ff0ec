"""Inbound checks and the DNS (issue 15, items 5 and 6; the inbound2
review): DNSBL answers kept exactly as long as the DNS says (a listing for
its A record's TTL, a "not listed" for the NXDOMAIN's SOA negative TTL,
RFC 2308 5, or 300 s without one; never more than an hour), one resolver
per checks thread (not two per message) made anew when a reload changes
dns.servers, and the organizational domain of DMARC from the Public Suffix
List.  The time is the daemon's test clock (floodgated -T), moved with
control clock.advance; the questions are counted at the DNS server."""
import re
import signal

from conftest import advance_clock, message, smtp_send, wait_log
from netfixtures import DNSZone
from test_blocklist_watch import rev, zone  # noqa: F401 (zone: a fixture)
from test_inbound_checks import ALICE, SENDER, delivered_text, mail_from, send_raw

LISTED = "127.0.0.21"    # on bl.test, TTL 600: rejected
CLEAN = "127.0.0.24"     # on no list but long.test (weight 1, TTL a day)


def asked(zone, addr, lst):
    return len([q for q in zone.queries if q[0] == f"{rev(addr)}.{lst}" and q[1] == "A"])


def test_dnsbl_answers_are_kept_for_their_ttl(make_server, zone):
    zone.a(f"{rev(LISTED)}.bl.test", "127.0.0.2", ttl=600)
    # NXDOMAIN under bl.test: min(SOA TTL 120, MINIMUM 3000) = 120 s
    zone.soa("bl.test", ttl=120, minimum=3000)
    zone.a(f"{rev(CLEAN)}.long.test", "127.0.0.2", ttl=86400)   # cut to an hour
    # nosoa.test answers NXDOMAIN without a SOA: the default, 300 s
    s = make_server(extra=f"""{zone.config()}
inbound = {{ dnsbl = ( {{ zone = "bl.test"; weight = 5; }}, {{ zone = "nosoa.test"; weight = 1; }},
                      {{ zone = "long.test"; weight = 1; }} ); dnsbl_threshold = 5; }};
detector = {{ enabled = false; }};""", daemon_args=("-T",))
    s.start()

    def both():
        assert mail_from(s, LISTED, "x@remote.test")[0] == 554
        assert mail_from(s, CLEAN, "x@remote.test")[0] == 250

    def counts():
        return {(ip, lst): asked(zone, ip, lst) for ip in (LISTED, CLEAN)
                for lst in ("bl.test", "nosoa.test", "long.test")}

    both()
    first = counts()
    assert set(first.values()) == {1}, first
    both()
    assert counts() == first                     # all from the cache

    advance_clock(s, 200)                        # past the negative TTL of bl.test only
    both()
    c = counts()
    assert c[(CLEAN, "bl.test")] == 2, c
    assert c[(LISTED, "bl.test")] == 1 and c[(LISTED, "nosoa.test")] == 1, c

    advance_clock(s, 200)                        # 400 s: past the default 300 s
    both()
    c = counts()
    assert c[(LISTED, "nosoa.test")] == 2 and c[(CLEAN, "nosoa.test")] == 2, c
    assert c[(LISTED, "bl.test")] == 1, c        # the listing holds for 600 s

    advance_clock(s, 300)                        # 700 s
    both()
    c = counts()
    assert c[(LISTED, "bl.test")] == 2, c
    assert c[(CLEAN, "long.test")] == 1, c

    advance_clock(s, 3000)                       # 3700 s: past the one-hour cap
    both()
    assert counts()[(CLEAN, "long.test")] == 2


def test_one_resolver_per_checks_thread_remade_on_reload(make_server, zone):
    zone.txt("pass.test", f"v=spf1 ip4:{SENDER} -all")
    s = make_server(extra=f"""{zone.config()}
inbound = {{ spf = true; dnsbl = ( "bl.test" ); }};
detector = {{ enabled = false; }};""")
    s.start()
    for i in range(12):
        assert mail_from(s, SENDER, f"x{i}@pass.test")[0] == 250
    made = re.findall(r"event=inbound_resolver made_for=\S+", s.log())
    # 12 messages, 2 questions each: at most one resolver per checks thread (4)
    assert 1 <= len(made) <= 4, made
    assert all(zone.server in m for m in made), made

    other = DNSZone()
    try:
        other.txt("pass.test", f"v=spf1 ip4:{SENDER} -all")
        s.conf.write_text(s.conf_text.replace(zone.server, other.server))
        s.proc.send_signal(signal.SIGHUP)
        wait_log(s, r"event=reload result=ok")
        before = len(zone.queries)
        for i in range(4):
            assert mail_from(s, SENDER, f"y{i}@pass.test")[0] == 250
        assert len(zone.queries) == before       # the old servers are asked no more
        assert [q for q in other.queries if q[0] == "pass.test"], other.queries
        remade = re.findall(r"event=inbound_resolver made_for=\S+", s.log())[len(made):]
        assert remade and all(other.server in m for m in remade), remade
    finally:
        other.close()


def psl_server(make_server, zone, extra=""):
    zone.txt("sender.test", f"v=spf1 ip4:{SENDER} -all")
    zone.txt("bounce.example.co.uk", f"v=spf1 ip4:{SENDER} -all")
    zone.txt("_dmarc.example.co.uk", "v=DMARC1; p=reject")
    s = make_server(extra=f"""{zone.config()}
inbound = {{ dmarc = true; {extra} }};
detector = {{ enabled = false; }};""")
    s.start()
    s.provision()
    return s


def test_dmarc_organizational_domain_from_the_public_suffix_list(make_server, zone):
    """co.uk is a public suffix of two labels: the organizational domain of
    mail.example.co.uk is example.co.uk (RFC 7489 3.2), whose p=reject
    applies to it; the last two labels (co.uk) would find no policy."""
    s = psl_server(make_server, zone)
    assert "event=public_suffix_list result=loaded" in s.log()
    # not aligned: SPF passes for sender.test only
    code, text = send_raw(s, SENDER, "x@sender.test", message("u", sender="ceo@mail.example.co.uk"))
    assert code == 550 and "example.co.uk" in text and "DMARC" in text, (code, text)
    assert [q for q in zone.queries if q[0] == "_dmarc.example.co.uk"]
    assert not [q for q in zone.queries if q[0] == "_dmarc.co.uk"]
    # aligned (relaxed): SPF passes for bounce.example.co.uk, a sibling under
    # the same organizational domain
    smtp_send(s.ports["mx"], "x@bounce.example.co.uk", ALICE,
              message("a", sender="news@mail.example.co.uk"), source=SENDER)
    text = delivered_text(s, 1, "a")
    assert "dmarc=pass (p=reject) header.from=mail.example.co.uk" in text, text


def test_missing_public_suffix_list_warns_and_falls_back(make_server, zone, tmp_path):
    s = psl_server(make_server, zone, f'public_suffix_list = "{tmp_path}/none.dat";')
    m = wait_log(s, r"event=public_suffix_list result=missing path=\S+none.dat.*")
    assert "publicsuffix" in m.group(0), m.group(0)
    # the fallback: the last two labels, _dmarc.co.uk, no policy
    code, text = send_raw(s, SENDER, "x@sender.test", message("f", sender="ceo@mail.example.co.uk"))
    assert code == 250, (code, text)
    assert [q for q in zone.queries if q[0] == "_dmarc.co.uk"]
    # the list appears and a reload loads it
    s.conf.write_text(s.conf_text.replace(f"{tmp_path}/none.dat",
                                          "/usr/share/publicsuffix/public_suffix_list.dat"))
    s.proc.send_signal(signal.SIGHUP)
    wait_log(s, r"event=public_suffix_list result=loaded")
    code, text = send_raw(s, SENDER, "x@sender.test", message("g", sender="ceo@mail.example.co.uk"))
    assert code == 550, (code, text)
