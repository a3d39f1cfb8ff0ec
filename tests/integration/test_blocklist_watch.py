"""The daemon's blocklist watch (issue 15, item 4): soon after the start,
and every reputation.check_interval (at once after a reload), the daemon
looks its public addresses up on its blocklists, logs each change, mails
alerts.mail_to about a listing and a delisting (and tells the webhook and
the command hook of alerts { }, at most once per alerts.min_interval for
an address on a list), and `floodctl status` shows the last result.  A refusal or a DNS failure is "unknown": logged,
never mailed as a listing.  The lists are zones of a DNS server on
loopback."""
import json

import pytest

from conftest import wait_log
from netfixtures import DNSZone, wait_for
from test_alert_hooks import Receiver, command_script

ADDR = "198.51.100.25"
OTHER = "198.51.100.26"


def rev(addr):
    return ".".join(reversed(addr.split(".")))


@pytest.fixture
def zone():
    z = DNSZone()
    yield z
    z.close()


def watched(make_server, zone, alerts="min_interval = 0;", start=True):
    extra = f"""{zone.config()}
reputation = {{ public_addresses = [ "{ADDR}", "{OTHER}" ]; blocklists = [ "bl.test" ];
               check_interval = 3600; }};
alerts = {{ mail_to = "alice@example.test"; {alerts} }};
detector = {{ enabled = false; }};
"""
    s = make_server(extra=extra)
    # the accounts first: the first round may come before a provision
    # after the start would have made alice (a loaded machine, ASan)
    s.provision()
    if start:
        s.start()
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


HOOK_SCRIPT = """#!/bin/sh
# a test's alert command: its stdin and its FLOODGATE_ variables, kept
cat > {out}/stdin.$FLOODGATE_EVENT
env | grep '^FLOODGATE_' | sort > {out}/env.$FLOODGATE_EVENT
"""


def test_listing_reaches_the_webhook_and_the_command(make_server, zone):
    """A listing and a delisting are POSTed to the webhook (with the token)
    and given to the command on its stdin, as the mail tells them; an
    unknown answer is not."""
    zone.name("bl.test")
    zone.a(f"{rev(ADDR)}.bl.test", "127.0.0.2")
    zone.txt(f"{rev(ADDR)}.bl.test", "Listed: spam trap hits")
    zone.a(f"{rev(OTHER)}.bl.test", "127.255.255.254")      # refused: unknown
    rx = Receiver()
    try:
        # the script lives in the server's directory: made before it starts
        s = watched(make_server, zone, start=False, alerts=f"""min_interval = 0;
            webhook_url = "http://127.0.0.1:{rx.port}/alerts"; webhook_token = "t0ken";
            command = "/COMMAND";""")
        path, out = command_script(s, HOOK_SCRIPT)
        s.conf.write_text(s.conf.read_text().replace("/COMMAND", str(path)))
        s.start()
        wait_for(lambda: "blocklisted" in rx.events(), timeout=30, what="the listing POSTed")
        post = rx.posts[rx.events().index("blocklisted")]
        assert post["headers"]["Authorization"] == "Bearer t0ken"
        doc = post["json"]
        assert {k: doc[k] for k in ("event", "address", "list", "state", "code", "reason",
                                    "hostname")} == {
            "event": "blocklisted", "address": ADDR, "list": "bl.test", "state": "listed",
            "code": "127.0.0.2", "reason": "Listed: spam trap hits",
            "hostname": "mail.example.test"}, doc
        assert doc["at"].endswith("Z") and doc["meaning"]
        stdin = wait_for(lambda: (out / "stdin.blocklisted").exists() and
                         (out / "stdin.blocklisted").read_text(), what="the command's stdin")
        assert json.loads(stdin)["address"] == ADDR
        env = wait_for(lambda: (out / "env.blocklisted").exists() and
                       (out / "env.blocklisted").read_text(), what="the command's environment")
        assert env.splitlines() == [
            "FLOODGATE_EVENT=blocklisted",
            "FLOODGATE_HOSTNAME=mail.example.test",
            "FLOODGATE_INCIDENT_ID=0",
            "FLOODGATE_STATE=listed",
            f"FLOODGATE_SUBJECT={ADDR}",
        ]
        # delisted: a reload looks again at once
        zone.records.pop(f"{rev(ADDR)}.bl.test")
        s.ctl("reload")
        wait_for(lambda: "delisted" in rx.events(), timeout=30, what="the delisting POSTed")
        doc = rx.posts[rx.events().index("delisted")]["json"]
        assert doc["address"] == ADDR and doc["state"] == "clean" and doc["code"] is None, doc
        wait_for(lambda: (out / "env.delisted").exists(), what="the command run again")
        wait_log(s, r"event=alert_hook hook=command id=0 alert=delisted exit=0")
        # OTHER's "unknown" was never an alert
        assert all(p["json"]["address"] == ADDR for p in rx.posts)
        assert sorted(rx.events()) == ["blocklisted", "delisted"]
    finally:
        rx.close()


def test_blocklist_hooks_keep_the_rate_limit(make_server, zone):
    """Listed, then delisted within alerts.min_interval: the mail tells
    both at once; the hooks were told of the listing and hear of the
    delisting only once the interval has passed (not within this test)."""
    zone.name("bl.test")
    zone.a(f"{rev(ADDR)}.bl.test", "127.0.0.2")
    rx = Receiver()
    try:
        s = watched(make_server, zone, alerts=f"""min_interval = 3600;
            webhook_url = "http://127.0.0.1:{rx.port}/alerts";""")
        wait_for(lambda: rx.events() == ["blocklisted"], timeout=30, what="the listing POSTed")
        zone.records.pop(f"{rev(ADDR)}.bl.test")
        s.ctl("reload")
        wait_log(s, f"event=blocklist address={ADDR} list=bl.test state=delisted", timeout=30)
        s.wait_delivered("alice@example.test", 2, timeout=30)  # the mail told both
        wait_log(s, r"event=blocklist_round addresses=2 lists=1 listed=0", timeout=30)
        assert rx.events() == ["blocklisted"]
    finally:
        rx.close()
