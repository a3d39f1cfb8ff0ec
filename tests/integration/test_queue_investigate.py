"""Finding the compromised account: the queue an administrator looks at
when mail piles up, and the floodctl views that answer "who sends all of
this?" (queue top, queue list with filters, sort, columns, CSV; queue
show and export).

The scenario is the one of the support articles: jack's password was
guessed; a spammer logs in as jack from one outside address and sends 40
messages, each with another From address, to big free-mail domains, while
alice, bob and an application send a few legitimate ones.  Nothing can be
delivered (the DNS the daemon asks does not answer), so everything stays
in the queue to be looked at."""
import csv
import io
import json
import os
import sqlite3
import subprocess
import time

import pytest

from conftest import (FLOODCTL, PASSWORDS, Server, message, server_queue, smtp_send,
                      smtp_send_many)
from netfixtures import wait_for

JACK = ("jack@example.test", "Violet-Canyon-52")
ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])
BOB = ("bob@example.test", PASSWORDS["bob@example.test"])

SPAM_IP = "127.0.0.66"       # "outside": not in any ip group
ALICE_IP = "127.0.0.5"
BOB_IP = "127.0.0.6"
APP_IP = "127.0.0.3"         # the trusted group: relays without AUTH
SPAM_DOMAINS = ["yahoo.test", "aol.test", "hotmail.test", "outlook.test"]
N_SPAM = 40

HOUR, DAY = 3600, 86400


def age(s, ids, seconds):
    """Make messages IDS look SECONDS older (created moves back): the only
    way to have an old queue in a fast test."""
    con = sqlite3.connect(str(s.state / "store.db"), timeout=10)
    with con:
        con.executemany("UPDATE messages SET created = created - ? WHERE id = ?",
                        [(seconds, i) for i in ids])
    con.close()


def ctl_bytes(s, *args):
    """floodctl with its stdout as bytes (text mode would turn CR LF into LF)."""
    env = dict(os.environ, FLOODGATE_CONFIG=str(s.conf))
    r = subprocess.run([str(FLOODCTL), *args], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, (args, r.returncode, r.stdout[-500:], r.stderr)
    return r.stdout


def stored_body(s, qid):
    with s.db() as con:
        row = con.execute("SELECT data FROM bodies WHERE message = ?", (qid,)).fetchone()
    assert row, f"{qid} has no stored body"
    return bytes(row[0])


def ids_of(listing):
    return {m["id"] for m in listing}


class Outbreak:
    """The queue of the articles: who sent what."""

    def __init__(self, s):
        self.s = s
        s.ctl("user", "add", JACK[0], input=JACK[1] + "\n")
        self.spam_from = [f"promo{i}@deals{i % 7}.test" for i in range(N_SPAM)]
        spam = []
        self.spam_domain = []
        for i, frm in enumerate(self.spam_from):
            dom = SPAM_DOMAINS[i % len(SPAM_DOMAINS)]
            self.spam_domain.append(dom)
            rcpts = [f"victim{i}@{dom}"]
            spam.append((frm, rcpts, message(f"You have won {i}", sender=frm, to=rcpts[0])))
        self.spam_msgs = [m for _, _, m in spam]
        self.jack = smtp_send_many(s.ports["submission"], spam, login=JACK, source=SPAM_IP,
                                   starttls=True, helo="win10-pc")
        self.alice_msgs = []
        mails = []
        for i in range(3):
            rcpts = ["team@partner.test"] + (["ceo@partner.test"] if i == 0 else [])
            # a subject with a comma and quotes: CSV must quote it
            m = message(f'Quarterly report, "final" {i}', to=", ".join(rcpts),
                        sender='"Alice Liddell" <alice@example.test>')
            mails.append(("alice@example.test", rcpts, m))
            self.alice_msgs.append(m)
        self.alice = smtp_send_many(s.ports["submission"], mails, login=ALICE, source=ALICE_IP,
                                    starttls=True)
        self.bob = smtp_send_many(s.ports["submissions"],
                                  [("bob@example.test", ["sales@supplier.test"],
                                    message(f"Order {i}", sender="bob@example.test",
                                            to="sales@supplier.test")) for i in range(2)],
                                  login=BOB, source=BOB_IP, implicit=True)
        self.app = [smtp_send(s.ports["mx"], "app@example.test", "customer@shop.test",
                              message("Invoice 42", sender="app@example.test",
                                      to="customer@shop.test"), source=APP_IP)]
        # bob's orders are two days old, the invoice three hours
        age(s, self.bob, 2 * DAY)
        age(s, self.app, 3 * HOUR)
        self.all = set(self.jack + self.alice + self.bob + self.app)

    def spam_to(self, domain):
        return {q for q, d in zip(self.jack, self.spam_domain) if d == domain}


@pytest.fixture(scope="module")
def outbreak(tls_files):
    # no "Delayed Mail" notices: the messages made to look days old would
    # get one, and its DSN would pass through the queue being looked at
    # The outbreak as the articles saw it, before Floodgate's sender policy:
    # jack's From changes on every message, so violations are only logged;
    # and before the outbreak detector, which would contain jack within his
    # first messages (test_detector.py): this is the investigation by hand.
    s = Server(tls_files, extra="delivery = { delay_warning = 0; };\n"
                                "sender_policy = { mode = \"log\"; };\n"
                                "detector = { enabled = false; };").start().provision()
    try:
        o = Outbreak(s)
    except BaseException:
        s.cleanup()  # a failed setup must not leave the daemon running
        raise
    yield o
    s.cleanup()
    assert not s.sanitizer, "sanitizer reports:\n" + "\n".join(s.sanitizer)


def top(s, *args):
    return json.loads(s.ctl("queue", "top", *args, "--json").stdout)


# ---- who sends: queue top ----

def test_top_by_auth_user_points_at_jack(outbreak):
    o = outbreak
    rows = top(o.s, "--by", "auth-user")
    first = rows[0]
    assert first["key"] == "jack@example.test", rows
    assert first["messages"] == N_SPAM
    assert first["share"] == pytest.approx(N_SPAM / len(o.all), abs=0.01)
    # the article's tell: the From address changes with every message
    assert first["distinct_from"] == N_SPAM
    assert first["distinct_rcpt_domains"] == len(SPAM_DOMAINS)
    assert first["oldest"] <= first["newest"] <= time.time() + 1
    by_key = {r["key"]: r for r in rows}
    assert by_key["alice@example.test"]["messages"] == 3
    assert by_key["alice@example.test"]["distinct_from"] == 1
    assert by_key["bob@example.test"]["messages"] == 2
    assert by_key[None]["messages"] == 1          # the application, without AUTH
    assert sum(r["messages"] for r in rows) == len(o.all)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0, abs=0.01)
    # bob's messages are two days old
    assert by_key["bob@example.test"]["newest"] < time.time() - 2 * DAY + 60


def test_top_text_output_names_jack_first(outbreak):
    out = outbreak.s.ctl("queue", "top", "--by", "auth-user").stdout
    lines = [l for l in out.splitlines() if l.strip()]
    # a header, then jack's line with his count
    assert "jack@example.test" in lines[1], out
    assert str(N_SPAM) in lines[1].split()
    assert "alice@example.test" in out


def test_top_by_ip_shows_the_outside_address(outbreak):
    rows = top(outbreak.s, "--by", "ip")
    assert rows[0]["key"] == SPAM_IP
    assert rows[0]["messages"] == N_SPAM
    assert rows[0]["distinct_from"] == N_SPAM
    assert {r["key"] for r in rows} == {SPAM_IP, ALICE_IP, BOB_IP, APP_IP}


def test_top_with_selection_and_limit(outbreak):
    o = outbreak
    rows = top(o.s, "--by", "rcpt-domain", "--auth-user", "jack@example.test", "--limit", "2")
    assert len(rows) == 2
    assert all(r["key"] in SPAM_DOMAINS and r["messages"] == N_SPAM // 4 for r in rows), rows
    # shares are of the selection (jack's 40), not of the whole queue
    assert all(r["share"] == pytest.approx(0.25, abs=0.01) for r in rows), rows
    rows = top(o.s, "--by", "header-from", "--ip", SPAM_IP, "--limit", "5")
    assert len(rows) == 5 and all(r["messages"] == 1 for r in rows)
    assert all(r["key"] in o.spam_from for r in rows)
    rows = top(o.s, "--by", "from", "--unauthenticated")
    assert [(r["key"], r["messages"]) for r in rows] == [("app@example.test", 1)]
    rows = top(o.s, "--by", "subject", "--subject", "quarterly")
    assert sum(r["messages"] for r in rows) == 3


def test_top_unknown_grouping_is_a_usage_error(outbreak):
    r = outbreak.s.ctl("queue", "top", "--by", "colour", check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "auth-user" in r.stderr    # says what it can group by


# ---- queue list: every filter ----

def expected_sets(o):
    return {
        "auth_user": (["--auth-user", "jack@example.test"], set(o.jack)),
        "ip": (["--ip", SPAM_IP], set(o.jack)),
        "cidr_outside": (["--ip", "127.0.0.64/26"], set(o.jack)),
        "cidr_inside": (["--ip", "127.0.0.0/29"], set(o.alice + o.bob + o.app)),
        "cidr_all": (["--ip", "127.0.0.0/8"], o.all),
        "from": (["--from", "alice@example.test"], set(o.alice)),
        "from_case": (["--from", "ALICE@Example.TEST"], set(o.alice)),
        "header_from": (["--header-from", o.spam_from[7]], {o.jack[7]}),
        "header_from_display_name": (["--header-from", "alice@example.test"], set(o.alice)),
        "rcpt": (["--rcpt", "ceo@partner.test"], {o.alice[0]}),
        "rcpt_domain": (["--rcpt-domain", "supplier.test"], set(o.bob)),
        "rcpt_domain_case": (["--rcpt-domain", "AOL.test"], o.spam_to("aol.test")),
        "subject": (["--subject", "REPORT, \"final"], set(o.alice)),
        "listener_mx": (["--listener", "mx"], set(o.app)),
        "listener_submissions": (["--listener", "submissions"], set(o.bob)),
        "unauthenticated": (["--unauthenticated"], set(o.app)),
        "older_1d": (["--older-than", "1d"], set(o.bob)),
        "older_2h": (["--older-than", "2h"], set(o.bob + o.app)),
        "older_90s": (["--older-than", "90s"], set(o.bob + o.app)),
        "newer_15m": (["--newer-than", "15m"], set(o.jack + o.alice)),
        "newer_1w": (["--newer-than", "1w"], o.all),
        "older_1w": (["--older-than", "1w"], set()),
        "between": (["--older-than", "1h", "--newer-than", "1d"], set(o.app)),
        "combined": (["--auth-user", "jack@example.test", "--rcpt-domain", "aol.test",
                      "--newer-than", "1h", "--ip", "127.0.0.0/24"], o.spam_to("aol.test")),
        "ids": ([o.jack[3], o.bob[1]], {o.jack[3], o.bob[1]}),
        "ids_and_filter": ([o.jack[3], o.bob[1], "--auth-user", "bob@example.test"],
                           {o.bob[1]}),
        "all": (["--all"], o.all),
    }


FILTER_CASES = ["auth_user", "ip", "cidr_outside", "cidr_inside", "cidr_all", "from",
                "from_case", "header_from", "header_from_display_name", "rcpt", "rcpt_domain",
                "rcpt_domain_case", "subject", "listener_mx", "listener_submissions",
                "unauthenticated", "older_1d", "older_2h", "older_90s", "newer_15m",
                "newer_1w", "older_1w", "between", "combined", "ids", "ids_and_filter", "all"]


@pytest.mark.parametrize("case", FILTER_CASES)
def test_list_filter(outbreak, case):
    args, want = expected_sets(outbreak)[case]
    got = ids_of(server_queue(outbreak.s, *args))
    assert got == want, (args, sorted(got ^ want))


def test_list_without_filter_is_the_whole_queue(outbreak):
    assert ids_of(server_queue(outbreak.s)) == outbreak.all


@pytest.mark.parametrize("args", [
    ["--older-than", "5x"], ["--newer-than", "-3h"], ["--older-than", "1h30m"],
    ["--state", "stuck"], ["--limit", "0"], ["--ip", "127.0.0.1/33"],
    ["--ip", "not-an-address"], ["--sort", "colour"], ["--columns", "id,colour"],
])
def test_list_bad_values_are_usage_errors(outbreak, args):
    r = outbreak.s.ctl("queue", "list", *args, check=False)
    assert r.returncode == 2, (args, r.returncode, r.stdout[-300:], r.stderr)
    assert r.stderr.strip(), "an error says what is wrong"


def test_list_json_fields_tell_where_it_came_from(outbreak):
    o = outbreak
    [m] = server_queue(o.s, o.jack[0])
    assert m["auth_user"] == "jack@example.test"
    assert m["client_ip"] == SPAM_IP
    assert isinstance(m["client_port"], int) and m["client_port"] > 0
    assert m["helo"] == "win10-pc"
    assert m["listener"] == "submission"
    assert m["tls"].startswith("TLSv1.")
    assert m["sender"] == o.spam_from[0]
    assert m["header_from"] == o.spam_from[0]
    assert m["subject"] == "You have won 0"
    assert m["message_id"].startswith("<") and m["message_id"].endswith("@client.test>")
    assert [r["address"] for r in m["recipients"]] == ["victim0@yahoo.test"]
    [app] = server_queue(o.s, o.app[0])
    assert app["auth_user"] is None and app["tls"] is None and app["listener"] == "mx"


# ---- sort, limit, columns, CSV ----

def test_sort_and_limit(outbreak):
    s = outbreak.s
    default = server_queue(s)
    created = [m["created"] for m in default]
    assert created == sorted(created)                   # oldest first
    assert default[0]["id"] in outbreak.bob              # two days old
    by_size = server_queue(s, "--sort", "size", "--desc")
    sizes = [m["size"] for m in by_size]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == len(outbreak.all)
    by_sender = server_queue(s, "--sort", "sender")
    senders = [m["sender"] for m in by_sender]
    assert senders == sorted(senders)
    newest5 = server_queue(s, "--sort", "created", "--desc", "--limit", "5")
    assert len(newest5) == 5
    assert all(m["created"] >= max(created) - 60 for m in newest5)
    # the filter and the limit together: the first 3 of jack's
    first3 = server_queue(s, "--auth-user", "jack@example.test", "--sort", "id", "--limit", "3")
    assert [m["id"] for m in first3] == sorted(outbreak.jack)[:3]


def test_columns_choose_what_the_table_shows(outbreak):
    o = outbreak
    out = o.s.ctl("queue", "list", "--auth-user", "jack@example.test", "--columns",
                  "id,auth_user,client_ip,header_from", "--sort", "id", "--limit", "3").stdout
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 4, out                      # a header and three rows
    assert len(lines[0].split()) >= 4
    for line, qid in zip(lines[1:], sorted(o.jack)[:3]):
        cells = line.split()
        assert cells[0] == qid
        assert cells[1] == "jack@example.test"
        assert cells[2] == SPAM_IP
        assert cells[3] in o.spam_from
        assert len(cells) == 4, line                 # nothing else


def test_default_table_shows_the_articles_columns(outbreak):
    """Kerio's advice is to switch on "Authenticated Sender" and "Sender IP":
    the default listing shows both."""
    out = outbreak.s.ctl("queue", "list", outbreak.jack[0]).stdout
    head, row = [l for l in out.splitlines() if l.strip()][:2]
    assert "Authenticated sender" in head and "Sender IP" in head, head
    assert "jack@example.test" in row and SPAM_IP in row


def test_times_are_utc_iso8601_whatever_the_zone(outbreak, monkeypatch):
    """Every listing prints times one way: UTC, ISO 8601 with the zone,
    also when floodctl runs with another TZ (issue 17, item 4)."""
    monkeypatch.setenv("TZ", "America/New_York")
    o = outbreak
    with o.s.db() as db:
        created = db.execute("SELECT created FROM messages WHERE id = ?",
                             (o.alice[0],)).fetchone()[0]
    want = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    out = o.s.ctl("queue", "list", "--csv", "--columns", "id,created", o.alice[0]).stdout
    assert list(csv.reader(io.StringIO(out)))[1] == [o.alice[0], want]
    table = o.s.ctl("queue", "list", o.alice[0]).stdout
    assert want in table, table


def test_csv_output(outbreak):
    o = outbreak
    cols = ["id", "sender", "to", "auth_user", "client_ip", "listener", "subject", "state",
            "recipients"]
    out = o.s.ctl("queue", "list", "--csv", "--columns", ",".join(cols), "--sort", "created",
                  "--newer-than", "1h").stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == cols
    body = [dict(zip(cols, r)) for r in rows[1:]]
    assert all(len(r) == len(cols) for r in rows[1:])
    assert {r["id"] for r in body} == set(o.jack + o.alice)
    alice = [r for r in body if r["id"] in o.alice]
    # the comma and the quotes of the subject survive the round trip
    assert sorted(r["subject"] for r in alice) == [
        f'Quarterly report, "final" {i}' for i in range(3)]
    a0 = next(r for r in body if r["id"] == o.alice[0])
    assert a0["auth_user"] == "alice@example.test" and a0["client_ip"] == ALICE_IP
    assert "team@partner.test" in a0["to"] or "team@partner.test" in a0["recipients"]
    assert "ceo@partner.test" in a0["recipients"]
    j = next(r for r in body if r["id"] == o.jack[5])
    assert (j["sender"], j["listener"]) == (o.spam_from[5], "submission")
    # unauthenticated: an empty cell, not "null" or "-"
    app = o.s.ctl("queue", "list", "--csv", "--columns", "id,auth_user", o.app[0]).stdout
    assert list(csv.reader(io.StringIO(app)))[1] == [o.app[0], ""]


def test_state_filter(outbreak):
    """Nothing can be delivered: every message ends up deferred; one held
    message shows under --state held only."""
    o = outbreak
    wait_for(lambda: ids_of(server_queue(o.s, "--state", "deferred")) == o.all, 20,
             "every message deferred")
    assert server_queue(o.s, "--state", "held") == []
    target = o.jack[0]
    o.s.ctl("queue", "hold", target, "--reason", "look at it")
    try:
        [held] = server_queue(o.s, "--state", "held")
        assert held["id"] == target and held["state"] == "held"
        assert target not in ids_of(server_queue(o.s, "--state", "deferred"))
        # the state and the other filters together
        got = ids_of(server_queue(o.s, "--state", "deferred", "--rcpt-domain", "yahoo.test"))
        assert got == o.spam_to("yahoo.test") - {target}
        got = ids_of(server_queue(o.s, "--state", "held", "--rcpt-domain", "aol.test"))
        assert got == set()
    finally:
        o.s.ctl("queue", "release", target)
    assert server_queue(o.s, "--state", "held") == []


# ---- one message: show and export ----

def test_show(outbreak):
    o = outbreak
    qid = o.alice[0]
    js = json.loads(o.s.ctl("queue", "show", qid, "--json").stdout)
    assert js["id"] == qid
    assert js["sender"] == "alice@example.test"
    assert js["auth_user"] == "alice@example.test" and js["client_ip"] == ALICE_IP
    assert js["header_from"] == "alice@example.test"
    assert js["subject"] == 'Quarterly report, "final" 0'
    assert sorted(r["address"] for r in js["recipients"]) == ["ceo@partner.test",
                                                               "team@partner.test"]
    text = o.s.ctl("queue", "show", qid).stdout
    for needle in (qid, "alice@example.test", ALICE_IP, "ceo@partner.test",
                   "team@partner.test", "Quarterly report"):
        assert needle in text, (needle, text)


def test_export_is_the_stored_message(outbreak):
    o = outbreak
    for qid, sent in ((o.jack[11], o.spam_msgs[11]), (o.alice[2], o.alice_msgs[2])):
        out = ctl_bytes(o.s, "queue", "export", qid)
        assert out == stored_body(o.s, qid)
        # our Received: line, then exactly what the client sent
        assert out.startswith(b"Received: ") and out.endswith(sent)


def test_show_and_export_of_an_unknown_id(outbreak):
    for cmd in ("show", "export"):
        r = outbreak.s.ctl("queue", cmd, "0123456789ABCDEF", check=False)
        assert r.returncode == 1, (cmd, r.returncode, r.stderr)
        assert "0123456789ABCDEF" in r.stderr


def test_investigation_with_the_daemon_stopped(outbreak):
    """The article's "stop the server": the same answers from the store."""
    o = outbreak
    running_top = top(o.s, "--by", "auth-user")
    running_list = ids_of(server_queue(o.s, "--ip", "127.0.0.64/26"))
    o.s.stop()
    try:
        assert ids_of(server_queue(o.s, "--ip", "127.0.0.64/26")) == running_list == set(o.jack)
        assert [(r["key"], r["messages"]) for r in top(o.s, "--by", "auth-user")] == \
            [(r["key"], r["messages"]) for r in running_top]
        assert ids_of(server_queue(o.s, "--older-than", "1d")) == set(o.bob)
        out = ctl_bytes(o.s, "queue", "export", o.jack[1])
        assert out.endswith(o.spam_msgs[1])
        js = json.loads(o.s.ctl("queue", "show", o.jack[1], "--json").stdout)
        assert js["auth_user"] == "jack@example.test"
    finally:
        o.s.start()
