"""Issue 14's scenarios that take hours, played through the real daemon
with its test clock (floodgated -T; control "clock.advance", see
docs/detector.md "The test clock"): the detector's windows (1 minute,
10 minutes, 1 hour), its baselines and the policy engine's hourly sending
limits all count in that clock, so simulated hours pass in seconds and
are counted for real.

- A slow-and-low spammer: an account with a quiet past that starts
  sending 40 messages an hour, one text, each to one stranger: under
  every hourly sending limit of the server and under every 10-minute
  threshold of the detector, but not under its hourly ones: contained
  within 50 spam messages, with the signals and figures in the incident.
- A steady sender at the same pace for hours, to the people it writes to,
  its own texts: no incident, nothing held, nothing refused (its 160
  messages in four simulated hours pass a limit of 50 an hour only
  because the hours pass)."""
import smtplib

import pytest

from conftest import advance_clock, control, message
from netfixtures import net, wait_for  # noqa: F401
from test_detector import ALERTS, DOMAINS, ctl_json
from test_detector_scenarios import add_users, client, own, signal, wait_actions

# The server's own hourly ceilings: both senders stay under them.
LIMITS = """
sending_limits = { messages_per_hour = 50; recipients_per_hour = 100; domains_per_hour = 60; };
sender_policy = { mode = "log"; };
"""
MALLORY = ("mallory@example.test", "Basalt-Heron-33")
ERIN = ("erin@example.test", "Lilac-Quarry-58")
PACE = 90  # seconds between two messages: 40 an hour
USUAL = [f"contact{k}@partner.test" for k in range(20)]


def clock_server(make_server, net, extra=""):
    """A daemon with the test clock, a loopback sink as every remote MX."""
    sink = net.sink()
    for d in DOMAINS + ["partner.test"]:
        net.route(d, sink)
    s = make_server(extra=net.config() + LIMITS + ALERTS + extra,
                    daemon_args=("-T",)).start().provision()
    return s, sink


def quiet_past(s, user, hours):
    """USER's usual hours: 10 messages an hour to its usual correspondents,
    each its own, the clock moving 6 minutes between two."""
    c = client(s, "127.0.0.1", *user)
    for i in range(10 * hours):
        to = USUAL[i % len(USUAL)]
        c.sendmail(user[0], [to], own(i, user[0], to))
        advance_clock(s, 360)
    c.quit()


def test_clock_refused_without_test_option(make_server):
    """A daemon started without -T refuses to move its clock: no client of
    the control socket can hand a sender a fresh hour."""
    s = make_server().start()
    r = control(s, {"cmd": "clock.advance", "seconds": 3600})
    assert not r["ok"] and "-T" in r["error"], r


def test_slow_and_low_spammer_contained(make_server, net):
    s, sink = clock_server(make_server, net)
    add_users(s, dict([MALLORY]))
    quiet_past(s, MALLORY, 2)  # the baseline learns two ordinary hours
    assert ctl_json(s, "incident", "list") == []

    # then one text to one stranger every 90 seconds
    c = client(s, "127.0.0.1", *MALLORY)
    accepted, stopped_by = 0, None
    for i in range(60):
        rcpt = f"prospect{i}@{DOMAINS[i % len(DOMAINS)]}"
        try:
            c.sendmail(MALLORY[0], [rcpt], message(
                "Exclusive offer for our valued partners", sender=MALLORY[0], to=rcpt,
                body=f"Dear customer {i},\r\nclaim your discount at http://offer.example/{i}\r\n"))
            accepted += 1
        except (smtplib.SMTPException, OSError) as e:
            stopped_by = repr(e)
            break
        advance_clock(s, PACE)
    print(f"slow and low: {accepted} spam messages accepted, stopped by {stopped_by}")
    # stopped by the containment (the session ended), not by a limit
    assert stopped_by and "451" not in stopped_by and accepted <= 50, stopped_by
    assert "event=limit" not in s.log()

    wait_for(lambda: [x["state"] for x in ctl_json(s, "incident", "list")] == ["contained"],
             what="the incident written as contained")
    [inc] = ctl_json(s, "incident", "list")
    assert inc["subject"] == MALLORY[0]
    shown = wait_actions(s, inc["id"], ("alert", "hold", "suspend", "end_sessions"))
    # the hour's strangers: each 10 minutes had only 7 of them, under
    # new_recipients_per_10min (30), which must not be what fired
    hour = signal(shown, "new_recipients_per_hour")
    assert hour and hour["value"] >= 25 and hour["threshold"] == 25 and hour["points"] > 0, \
        shown["signals"]
    assert signal(shown, "new_recipients_per_10min") is None, shown["signals"]
    assert signal(shown, "messages_per_minute") is None, shown["signals"]
    content = signal(shown, "same_content")
    assert content and content["value"] >= 10, shown["signals"]
    assert shown["counts"]["accepted"] >= 1
    assert all(x["subject"] == "Exclusive offer for our valued partners"
               for x in shown["samples"]), shown["samples"]
    assert shown["ips"][0]["ip"] == "127.0.0.1"


def test_steady_sender_no_incident(make_server, net):
    s, sink = clock_server(make_server, net)
    add_users(s, dict([ERIN]))
    quiet_past(s, ERIN, 2)
    # four hours at the spammer's pace, to the people she writes to
    c = client(s, "127.0.0.1", *ERIN)
    for i in range(160):
        to = [USUAL[i % len(USUAL)]] + ([USUAL[(i + 7) % len(USUAL)]] if i % 3 == 0 else [])
        c.sendmail(ERIN[0], to, own(40 + i, ERIN[0], to[0]))
        advance_clock(s, PACE)
        if i % 30 == 29:  # a session now and then, as a mail client does
            c.quit()
            c = client(s, "127.0.0.1", *ERIN)
    c.quit()
    incs = ctl_json(s, "incident", "list", "--all")
    assert incs == [], [ctl_json(s, "incident", "show", str(x["id"]))["signals"] for x in incs]
    assert ctl_json(s, "queue", "list", "--state", "held") == []
    assert "event=incident" not in s.log()
    assert "event=limit" not in s.log()


@pytest.mark.parametrize("seconds", [0, -5, 31 * 86400, "3600"])
def test_clock_advance_bounded(make_server, seconds):
    s = make_server(daemon_args=("-T",)).start()
    r = control(s, {"cmd": "clock.advance", "seconds": seconds})
    assert not r["ok"] and "seconds" in r["error"], r
