"""Per-user sending limits (messages, recipients and distinct recipient
domains per hour; per-user overrides with floodctl user limits) and the
same limits keyed by IP for unauthenticated clients of a trusted group."""
import json
import smtplib

from conftest import PASSWORDS, message, tls_client_context

ALICE = "alice@example.test"
BOB = "bob@example.test"
TRUSTED = "127.0.0.3"


class Submitter:
    """One authenticated session (or, with LOGIN None, a trusted client on
    the MX port) that reports each reply instead of raising."""

    def __init__(self, s, login=ALICE, source=None):
        if login:
            self.c = smtplib.SMTP_SSL("127.0.0.1", s.ports["submissions"], timeout=30,
                                      context=tls_client_context())
            self.c.login(login, PASSWORDS[login])
        else:
            self.c = smtplib.SMTP("127.0.0.1", s.ports["mx"], timeout=30,
                                  source_address=(source, 0))
            self.c.ehlo("lan-pc.test")
        self.sender = login or "printer@example.test"

    def send(self, rcpts):
        """(code, text) of the first refusal, or (250, queue reply)."""
        code, text = self.c.mail(self.sender)
        if code != 250:
            self.c.rset()
            return code, text.decode()
        for r in rcpts:
            code, text = self.c.rcpt(r)
            if code != 250:
                self.c.rset()
                return code, text.decode()
        code, text = self.c.data(message("limits", sender=self.sender, to=rcpts[0]))
        return code, text.decode()

    def close(self):
        self.c.quit()


def test_messages_per_hour_override_and_reset(make_server):
    s = make_server().start().provision()
    r = s.ctl("user", "limits", ALICE, "--messages", "2")
    assert "messages_per_hour" in r.stdout and "(user)" in r.stdout
    a = Submitter(s)
    assert a.send(["x@remote.test"])[0] == 250
    assert a.send(["y@remote.test"])[0] == 250
    code, text = a.send(["z@remote.test"])
    assert code == 451 and text == "4.7.1 Sending limit reached: alice@example.test may send " \
                                   "2 messages per hour", text
    a.close()
    b = Submitter(s, BOB)    # bob is not affected
    assert b.send(["x@remote.test"])[0] == 250
    b.close()
    assert "event=limit" in s.log() and "limit=messages_per_hour max=2" in s.log()
    js = json.loads(s.ctl("user", "limits", ALICE, "--json").stdout)
    assert js["limits"]["messages_per_hour"] == {"limit": 2, "source": "user"}
    assert js["counters"]["messages"] == 2 and js["counters"]["recipients"] == 2
    status = json.loads(s.ctl("--json", "status").stdout)
    top = {t["sender"]: t for t in status["gate"]["top_senders"]}
    assert top[ALICE]["messages"] == 2 and top[BOB]["messages"] == 1
    s.ctl("user", "limits", ALICE, "--messages", "default")
    js = json.loads(s.ctl("user", "limits", ALICE, "--json").stdout)
    assert js["limits"]["messages_per_hour"] == {"limit": 500, "source": "config"}
    a = Submitter(s)
    assert a.send(["w@remote.test"])[0] == 250
    a.close()


def test_recipients_and_domains_per_hour(make_server):
    s = make_server(extra="sending_limits = { recipients_per_hour = 4; domains_per_hour = 2; };")
    s.start().provision()
    a = Submitter(s)
    assert a.send(["a1@one.test", "a2@one.test", "b1@two.test"])[0] == 250
    code, text = a.send(["c1@three.test"])     # a third domain this hour
    assert code == 451 and "may send to 2 domains per hour" in text, text
    assert a.send(["a3@one.test"])[0] == 250  # a known domain: the 4th recipient
    code, text = a.send(["a4@one.test"])
    assert code == 451 and "may send to 4 recipients per hour" in text, text
    a.close()


def test_trusted_lan_client_is_limited_by_ip(make_server):
    s = make_server(extra="sending_limits = { messages_per_hour = 1; };").start().provision()
    pc = Submitter(s, login=None, source=TRUSTED)
    assert pc.send(["x@remote.test"])[0] == 250
    code, text = pc.send(["y@remote.test"])
    assert code == 451 and "ip:127.0.0.3 may send 1 messages per hour" in text, text
    pc.close()


def test_no_limit_and_bad_values(make_server):
    s = make_server(extra="sending_limits = { messages_per_hour = 1; };").start().provision()
    s.ctl("user", "limits", ALICE, "--messages", "0")   # 0: no limit for alice
    a = Submitter(s)
    for i in range(3):
        assert a.send([f"r{i}@remote.test"])[0] == 250
    a.close()
    r = s.ctl("user", "limits", ALICE, "--messages", "lots", check=False)
    assert r.returncode == 2 and "a number per hour" in r.stderr
    r = s.ctl("user", "limits", "ghost@example.test", check=False)
    assert r.returncode == 1 and "no such user" in r.stderr
