"""The outbreak detector end to end (docs/detector.md): the real daemon,
real SMTP clients bound to several loopback addresses, a loopback SMTP
sink as every remote MX.

- A stolen password used from a botnet of 5 IPs, on a server whose hourly
  limits were raised (as a newsletter sender's would be): contained within
  50 messages, with the evidence in `floodctl incident show`.
- An infected PC on the LAN relaying without AUTH: held by IP, never
  banned, and the administrator is told.
- A busy user and a bulk newsletter of 2,000 recipients: no incident."""
import json
import smtplib
import threading
import time

import pytest

from conftest import PASSWORDS, message, tls_client_context, wait_log
from netfixtures import net, wait_for  # noqa: F401

JACK = ("jack@example.test", "Violet-Canyon-52")
NEWS = ("news@example.test", "Amber-Lantern-61")
ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])
BOTS = [f"127.0.0.{n}" for n in range(21, 26)]
LAN_PC = "127.0.0.3"  # the harness' trusted group: relays without AUTH
DOMAINS = [f"victim{k}.test" for k in range(12)]

# Raised ceilings (a newsletter sender's server): the hourly limits do not
# stop anything here, only the detector can.
RAISED = """
sending_limits = { messages_per_hour = 100000; recipients_per_hour = 1000000;
                   domains_per_hour = 100000; };
sender_policy = { mode = "log"; };
"""
ALERTS = 'alerts = { mail_to = "alice@example.test"; min_interval = 0; };'


def detector_server(make_server, net, extra="", alerts=ALERTS):
    sink = net.sink()
    for d in DOMAINS + ["partner.test", "customers.test"]:
        net.route(d, sink)
    s = make_server(extra=net.config() + RAISED + alerts + extra).start().provision()
    return s, sink


def ctl_json(s, *args):
    return json.loads(s.ctl("--json", *args).stdout)


def spam(i, sender, rcpts):
    return message("Your invoice is overdue", sender=sender, to=rcpts[0],
                   body=f"Pay now at http://pay.example/{i}\r\n")


class Bot(threading.Thread):
    """One infected machine: log in as the stolen account and send until
    the server stops it; counts the messages answered 250."""

    def __init__(self, s, ip, start_at, go):
        super().__init__(daemon=True)
        self.s, self.ip, self.i, self.go = s, ip, start_at, go
        self.accepted = 0
        self.stopped_by = None

    def run(self):
        self.go.wait()
        try:
            c = smtplib.SMTP("127.0.0.1", self.s.ports["submission"],
                             source_address=(self.ip, 0), timeout=30)
            c.ehlo("bot")
            c.starttls(context=tls_client_context())
            c.ehlo("bot")
            c.login(*JACK)
            for n in range(60):
                i = self.i + n
                rcpts = [f"user{i}x{k}@{DOMAINS[(i + k) % len(DOMAINS)]}" for k in range(10)]
                c.sendmail(JACK[0], rcpts, spam(i, JACK[0], rcpts))
                self.accepted += 1
            c.quit()
        except (smtplib.SMTPException, OSError) as e:
            self.stopped_by = repr(e)


def test_botnet_contained(make_server, net):
    s, sink = detector_server(make_server, net)
    s.ctl("user", "add", JACK[0], input=JACK[1] + "\n")
    go = threading.Event()
    bots = [Bot(s, ip, k * 1000, go) for k, ip in enumerate(BOTS)]
    for b in bots:
        b.start()
    go.set()
    for b in bots:
        b.join(120)
    accepted = sum(b.accepted for b in bots)
    assert accepted <= 50, [(b.ip, b.accepted, b.stopped_by) for b in bots]
    assert all(b.stopped_by for b in bots), "a bot was never stopped"

    [inc] = ctl_json(s, "incident", "list")
    assert inc["subject"] == JACK[0] and inc["state"] == "contained"
    shown = ctl_json(s, "incident", "show", str(inc["id"]))
    # two kinds of evidence at least: the volume and one text fanned out,
    # or the many addresses
    names = {x["name"] for x in shown["signals"]}
    assert len(names) >= 2 and all(x["points"] > 0 and x["value"] >= x["threshold"]
                                   for x in shown["signals"]), shown["signals"]
    # the bots that got in before containment (a late one finds the account
    # suspended, or its address banned, and sends nothing)
    seen = {x["ip"] for x in shown["ips"]}
    assert seen <= set(BOTS) and len(seen) >= 2, seen
    print("botnet:", accepted, "messages accepted in all;",
          [(b.ip, b.accepted) for b in bots], shown["counts"])
    assert len(shown["samples"]) == 3
    assert all(x["subject"] == "Your invoice is overdue" for x in shown["samples"])
    actions = [a["action"] for a in shown["actions"]]
    for a in ("alert", "hold", "suspend", "end_sessions", "ban", "quarantine"):
        wait_for(lambda a=a: a in [x["action"] for x in
                                   ctl_json(s, "incident", "show", str(inc["id"]))["actions"]],
                 what=f"action {a}")
    banned = {b["ip"] for b in ctl_json(s, "ban", "list")}
    assert banned >= seen
    # the messages accepted since it opened are counted when they are
    # stored, and written with the next tick: wait for that write
    wait_for(lambda: ctl_json(s, "incident", "show", str(inc["id"]))["counts"]["accepted"] >= 1,
             what="the accepted messages written")
    wait_log(s, rf"event=incident id={inc['id']} subject=jack@example.test .*action=suspend")
    # suspended: the stolen password logs in no more (from a clean address)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=20) as c:
            c.starttls(context=tls_client_context())
            c.login(*JACK)
    # the administrator was mailed, with the incident's number
    mail = s.wait_delivered(ALICE[0], 1, timeout=30)
    assert f"incident {inc['id']}".encode() in mail[0].read_bytes()
    assert actions  # recorded before the wait loop above completed them


def lan_pc_spam(s, count=40):
    """An infected PC of the LAN relaying spam without AUTH, rotating its
    From: COUNT messages, each answered 250 (held or not); their ids."""
    ids = []
    with smtplib.SMTP("127.0.0.1", s.ports["mx"], source_address=(LAN_PC, 0), timeout=30) as c:
        c.ehlo("infected-pc")
        for i in range(count):
            frm = f"promo{i}@shop{i}.test"
            rcpts = [f"t{i}x{k}@{DOMAINS[(i + k) % len(DOMAINS)]}" for k in range(5)]
            msg = message(f"Cheap watches {i}", sender=frm, to=rcpts[0],
                          extra=[f"X-Mailer: bulk {i}"],
                          body="Cheap watches, best prices, buy today.\r\n")
            code, resp = c.mail(frm)
            assert code == 250
            for r in rcpts:
                assert c.rcpt(r)[0] == 250
            code, resp = c.data(msg)
            assert code == 250, resp  # held or not, the PC is never warned
            ids.append(resp.decode().split()[-1])
    return ids


def test_lan_pc_held(make_server, net):
    s, sink = detector_server(make_server, net)
    ids = lan_pc_spam(s)
    [inc] = ctl_json(s, "incident", "list")
    assert inc["subject"] == f"ip:{LAN_PC}" and inc["state"] == "held"
    held = ctl_json(s, "queue", "list", "--state", "held")
    assert {m["id"] for m in held} & set(ids)
    assert ctl_json(s, "ban", "list") == []
    shown = ctl_json(s, "incident", "show", str(inc["id"]))
    assert "from_changes" in {x["name"] for x in shown["signals"]}
    s.wait_delivered(ALICE[0], 1, timeout=30)


def test_legitimate_corpus(make_server, net):
    s, sink = detector_server(make_server, net)
    s.ctl("user", "add", NEWS[0], input=NEWS[1] + "\n")
    s.ctl("user", "limits", NEWS[0], "--bulk")
    # a busy sales user: 60 messages, each its own subject, to people it
    # mostly knows, some new prospects
    people = [f"contact{k}@partner.test" for k in range(25)]
    topics = ["Quote", "Meeting", "Contract", "Samples", "Pricing", "Delivery", "Visit",
              "Invoice question", "Catalogue", "Follow-up"]
    names = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne"]
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
        c.starttls(context=tls_client_context())
        c.login(*ALICE)
        for i in range(60):
            to = [people[i % 25]] + ([f"prospect{i}@customers.test"] if i % 4 == 0 else [])
            subject = f"{topics[i % 10]} for {names[i % 7]} ({'next' if i % 3 else 'this'} week)"
            c.sendmail(ALICE[0], to, message(subject, sender=ALICE[0], to=to[0],
                                             body=f"Hello {names[(i * 3) % 7]} team,\r\n"
                                                  f"about {topics[(i * 7) % 10]}.\r\n"))
    # a newsletter of 2,000 customers from the bulk account, 20 a message
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
        c.starttls(context=tls_client_context())
        c.login(*NEWS)
        for i in range(100):
            to = [f"customer{i * 20 + k}@customers.test" for k in range(20)]
            c.sendmail(NEWS[0], to, message("Our spring newsletter", sender=NEWS[0],
                                            to="customers@customers.test",
                                            body="Spring is here.\r\n"))
    assert ctl_json(s, "incident", "list", "--all") == []
    assert ctl_json(s, "queue", "list", "--state", "held") == []
    assert "event=incident" not in s.log()


def test_counters_survive_restart(make_server):
    """A restart hands no sender a fresh hour: the hourly sending counters
    (and the detector's windows) are saved at shutdown and read at start."""
    s = make_server(extra="sending_limits = { messages_per_hour = 3; };").start().provision()

    def send():
        with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
            c.starttls(context=tls_client_context())
            c.login(*ALICE)
            code, resp = c.mail(ALICE[0])
            if code != 250:
                return code
            c.rcpt("bob@example.test")
            return c.data(message("hourly", sender=ALICE[0], to="bob@example.test"))[0]

    assert [send() for _ in range(3)] == [250, 250, 250]
    s.restart()
    wait_log(s, r"event=detector_loaded subjects=[1-9]")
    assert send() == 451
