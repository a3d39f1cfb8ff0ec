"""The daemon's blocklist watch (issue 15, item 4): soon after the start,
and every reputation.check_interval (at once after a reload), the daemon
looks its public addresses up on its blocklists, logs each change, mails
alerts.mail_to about a listing and a delisting, and `floodctl status`
shows the last result.  A refusal or a DNS failure is "unknown": logged,
never mailed as a listing.  The lists are zones of a DNS server on
loopback."""
import json

import pytest

from conftest import wait_log
from netfixtures import DNSZone, wait_for

ADDR = "198.51.100.25"
OTHER = "198.51.100.26"


def rev(addr):
    return ".".join(reversed(addr.split(".")))


@pytest.fixture
def zone():
    z = DNSZone()
    yield z
    z.close()


def watched(make_server, zone):
    extra = f"""{zone.config()}
reputation = {{ public_addresses = [ "{ADDR}", "{OTHER}" ]; blocklists = [ "bl.test" ];
               check_interval = 3600; }};
alerts = {{ mail_to = "alice@example.test"; min_interval = 0; }};
detector = {{ enabled = false; }};
"""
    s = make_server(extra=extra)
    s.start()
    s.provision()
    return s


def status(s):
    return json.loads(s.ctl("--json", "status").stdout)


def test_listing_is_logged_mailed_and_shown(make_server, zone):
    zone.name("bl.test")
    zone.a(f"{rev(ADDR)}.bl.test", "127.0.0.2")
    zone.txt(f"{rev(ADDR)}.bl.test", "Listed: spam trap hits")
    zone.a(f"{rev(OTHER)}.bl.test", "127.255.255.254")      # refused: unknown
    s = watched(make_server, zone)
    wait_log(s, r"event=blocklist_round addresses=2 lists=1 listed=1 unknown=1", timeout=30)
    assert f"event=blocklist address={ADDR} list=bl.test state=listed code=127.0.0.2" in s.log()
    assert f"event=blocklist address={OTHER} list=bl.test state=unknown" in s.log()
    # one alert mail, about the listing only
    files = s.wait_delivered("alice@example.test", 1, timeout=30)
    mail = files[0].read_text(errors="replace")
    assert f"Subject: [floodgate] {ADDR} is on blocklist bl.test" in mail
    assert "Listed: spam trap hits" in mail and "delisting procedure" in mail
    bl = status(s)["blocklists"]
    assert bl["listed"] == 1 and bl["unknown"] == 1 and bl["checked"].endswith("Z"), bl
    by = {(r["address"], r["list"]): r for r in bl["results"]}
    assert by[(ADDR, "bl.test")]["state"] == "listed"
    assert by[(ADDR, "bl.test")]["code"] == "127.0.0.2"
    assert by[(OTHER, "bl.test")]["state"] == "unknown"
    out = s.ctl("status").stdout
    assert f"{ADDR} is listed on bl.test (127.0.0.2" in out, out

    # delisted: a reload looks again at once; one more mail, the delisting
    zone.records.pop(f"{rev(ADDR)}.bl.test")
    s.ctl("reload")
    wait_log(s, f"event=blocklist address={ADDR} list=bl.test state=delisted", timeout=30)
    files = s.wait_delivered("alice@example.test", 2, timeout=30)
    assert any(f"Subject: [floodgate] {ADDR} left blocklist bl.test" in
               f.read_text(errors="replace") for f in files)
    wait_for(lambda: status(s)["blocklists"]["listed"] == 0, what="status without listing")
    assert len(list((s.maildir("alice@example.test") / "new").glob("*"))) == 2


def test_dns_failure_never_listed(make_server, zone):
    zone.name("bl.test")
    zone.servfail.add(f"{rev(ADDR)}.bl.test")
    s = watched(make_server, zone)
    wait_log(s, r"event=blocklist_round addresses=2 lists=1 listed=0 unknown=1", timeout=30)
    assert f"event=blocklist address={ADDR} list=bl.test state=unknown" in s.log()
    assert "state=listed" not in s.log()
    bl = status(s)["blocklists"]
    assert bl["listed"] == 0
    new = s.maildir("alice@example.test") / "new"
    assert not new.exists() or not list(new.glob("*"))
