"""/metrics complete (issue 16 item 2): real SMTP traffic, then the exact
series and values Prometheus scrapes — connections and open sessions per
listener, accepted messages per listener and login, every refusal by stage
and reason (counted where replies are written, with the policy engine's
reason), AUTH failures, the acceptance-latency histogram, the queue's
messages by state, active bans and the blocklist watch's last round."""
import base64

from conftest import RawClient, message, smtp_send, smtp_send_many, wait_log, PASSWORDS
from netfixtures import wait_for
from test_blocklist_watch import zone  # noqa: F401 (a fixture)
import test_web as web

ALICE = "alice@example.test"


def scrape(s):
    r, body = web.get(s, "/metrics", token=web.METRICS_TOKEN)
    assert r.status == 200, body
    return web.samples(body)


def family(s, name):
    """{labels: value} of the series of NAME."""
    out, _ = scrape(s)
    return {labels: v for (n, labels), v in out.items() if n == name}


def delta(after, before):
    """The series that changed, and by how much."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_connections_sessions_accepted_and_latency(make_server):
    s = web.web_server(make_server)
    out, families = scrape(s)
    for name in ("floodgate_smtp_connections_total", "floodgate_smtp_sessions",
                 "floodgate_messages_accepted_total", "floodgate_messages_rejected_total",
                 "floodgate_auth_failures_total", "floodgate_acceptance_duration_seconds",
                 "floodgate_queue_messages", "floodgate_bans_active", "floodgate_incidents_open"):
        assert name in families, name
    before_conn = family(s, "floodgate_smtp_connections_total")

    # two messages in one unauthenticated session on mx, one logged in on submission
    smtp_send_many(s.ports["mx"], [("someone@remote.test", ALICE, message("m1")),
                                   ("someone@remote.test", ALICE, message("m2"))])
    smtp_send(s.ports["submission"], ALICE, ["bob@example.test"], message("s1", sender=ALICE),
              starttls=True, login=(ALICE, PASSWORDS[ALICE]))

    accepted = family(s, "floodgate_messages_accepted_total")
    assert accepted == {'{listener="mx",authenticated="false"}': 2,
                        '{listener="submission",authenticated="true"}': 1}
    assert delta(family(s, "floodgate_smtp_connections_total"), before_conn) == \
        {'{listener="mx"}': 1, '{listener="submission"}': 1}

    hist = family(s, "floodgate_acceptance_duration_seconds_count")
    assert hist == {"": 3}
    out, _ = scrape(s)
    buckets = sorted(((float(l.split('le="')[1].rstrip('"}')), v) for (n, l), v in out.items()
                      if n == "floodgate_acceptance_duration_seconds_bucket"))
    assert buckets[-1] == (float("inf"), 3)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))  # cumulative
    assert out[("floodgate_acceptance_duration_seconds_sum", "")] > 0

    # an open session is counted on its listener, and no longer once it ends
    wait_for(lambda: family(s, "floodgate_smtp_sessions").get('{listener="mx"}') == 0,
             what="the finished sessions closed")
    c = RawClient(s.ports["mx"])
    assert family(s, "floodgate_smtp_sessions")['{listener="mx"}'] == 1
    c.cmd("QUIT")
    c.close()
    wait_for(lambda: family(s, "floodgate_smtp_sessions").get('{listener="mx"}') == 0,
             what="the session closed")


def submission_login(s, password):
    """One AUTH PLAIN for alice on submission, after STARTTLS: its code."""
    c = RawClient(s.ports["submission"])
    try:
        c.ehlo()
        c.starttls()
        c.ehlo()
        cred = base64.b64encode(f"\0{ALICE}\0{password}".encode()).decode()
        return c.cmd(f"AUTH PLAIN {cred}")[0]
    finally:
        c.close()


def test_every_stage_counts_its_refusals_with_a_reason(make_server):
    s = web.web_server(make_server)
    before = family(s, "floodgate_messages_rejected_total")

    # connect: a banned IP is refused by the engine before its greeting
    s.ctl("ban", "add", "127.0.0.9")
    wait_for(lambda: scrape(s)[0][("floodgate_bans_active", "")] == 1, what="ban seen")
    c = RawClient(s.ports["mx"], source="127.0.0.9", greet=False)
    assert c.reply()[0] == 421
    c.close()

    # auth: a wrong password (the engine's reason), on submission
    assert submission_login(s, "Wrong-Guess-1x") == 535

    c = RawClient(s.ports["mx"])
    assert c.cmd("HELO")[0] == 501                             # helo, syntax
    c.ehlo()
    assert c.cmd("DATA")[0] == 503                             # data, bad_sequence
    assert c.cmd("MAIL FROM:<not an address>")[0] == 501       # mail, syntax
    assert c.cmd("MAIL FROM:<someone@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<nobody@example.test>")[0] == 550    # rcpt, unknown_user
    assert c.cmd("RCPT TO:<x@far.test>")[0] == 554             # rcpt, relay
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1100 + b".\r\n")
    assert c.reply()[0] == 552                                 # end_of_data, too_big
    assert c.cmd("FROB")[0] == 500                             # other, syntax
    c.cmd("QUIT")
    c.close()

    got = delta(family(s, "floodgate_messages_rejected_total"), before)
    assert got == {
        '{stage="connect",reason="banned"}': 1,
        '{stage="auth",reason="bad_password"}': 1,
        '{stage="helo",reason="syntax"}': 1,
        '{stage="data",reason="bad_sequence"}': 1,
        '{stage="mail",reason="syntax"}': 1,
        '{stage="rcpt",reason="unknown_user"}': 1,
        '{stage="rcpt",reason="relay"}': 1,
        '{stage="end_of_data",reason="too_big"}': 1,
        '{stage="other",reason="syntax"}': 1,
    }, got
    assert family(s, "floodgate_auth_failures_total") == {'{listener="submission"}': 1}


def test_queue_messages_by_state(make_server):
    s = web.web_server(make_server)
    # from the trusted 127.0.0.3 to a domain no resolver answers for: they stay
    ids = [smtp_send(s.ports["mx"], "someone@remote.test", [f"x{i}@far.test"],
                     message(f"q {i}"), source="127.0.0.3") for i in range(3)]
    s.ctl("queue", "hold", ids[0])
    q = family(s, "floodgate_queue_messages")
    assert q['{state="held"}'] == 1
    assert q['{state="queued"}'] + q['{state="deferred"}'] == 2, q
    r = family(s, "floodgate_queue_recipients")
    assert r['{state="held"}'] == 1 and '{state="messages"}' not in r


def test_blocklisted_from_the_watch(make_server, zone):
    listed, clean = "198.51.100.25", "198.51.100.26"
    zone.name("bl.test")
    zone.a(".".join(reversed(listed.split("."))) + ".bl.test", "127.0.0.2")
    port = web.free_port()
    s = make_server(extra=f"""{zone.config()}
reputation = {{ public_addresses = [ "{listed}", "{clean}" ]; blocklists = [ "bl.test" ];
               check_interval = 3600; }};
web = {{ address = "127.0.0.1:{port}"; metrics_token = "{web.METRICS_TOKEN}"; }};
detector = {{ enabled = false; }};
""").start().provision()
    s.web_port = port
    web.wait_port("127.0.0.1", port)
    # the watch records each address as its answer comes: read once the
    # round is over (its log line), not at the first sample
    wait_log(s, r"event=blocklist_round ", timeout=30)
    got = family(s, "floodgate_blocklisted")
    assert got == {f'{{address="{listed}",zone="bl.test"}}': 1,
                   f'{{address="{clean}",zone="bl.test"}}': 0}
