"""The queue counted by state, kept by the store (issue 16's /metrics target
at 1,000,000 messages): /metrics, floodctl status and the dashboard read
the counts the store keeps as recipients change (store/queue_counts:
triggers in the transaction of the change), never a scan of the queue.

They must equal a full count of the rows after every kind of change:
acceptance, local delivery of part of a message, hold, release, retry,
quarantine and its release, bounce (returning, then the DSN), purge; after
kill -9 in the middle of a burst and a restart; after floodctl actions with
the daemon stopped.  A store made before the counts gains them when it is
first opened, and floodctl store check compares them with a full count
(--repair counts again)."""
import json
import re
import sqlite3
import threading

from conftest import free_port, message, quarantine_file, smtp_send, token, wait_port
from netfixtures import net, wait_for  # noqa: F401 (a fixture)
from test_queue_actions import TRUSTED, queue_ids, relay, unreachable, wait_deferred
import test_web as web

ALICE = "alice@example.test"
PENDING = ("queued", "deferred", "held", "returning")


def counted_server(make_server, net):
    """A started daemon routing with NET's DNS, with /metrics (the detector
    off: it may hold a message of a burst, and the test counts the held)."""
    port = free_port()
    s = make_server(extra=net.config() + f'\nweb = {{ address = "127.0.0.1:{port}"; '
                    f'metrics_token = "{web.METRICS_TOKEN}"; }};\n'
                    'detector = { enabled = false; };').start().provision()
    wait_port("127.0.0.1", port)
    s.web_port = port
    return s


def full_count(s):
    """The queue counted row by row: (messages with a pending recipient,
    {state: recipients}, {state: messages with a recipient in it}), the
    three pending states always present, as floodctl status shows them."""
    con = sqlite3.connect(f"file:{s.state / 'store.db'}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute("SELECT state, count(*), count(DISTINCT message) FROM recipients"
                           " GROUP BY state").fetchall()
        pending = con.execute("SELECT count(DISTINCT message) FROM recipients WHERE state IN"
                              f" ({','.join('?' * len(PENDING))})", PENDING).fetchone()[0]
    finally:
        con.close()
    rcpts = {"queued": 0, "deferred": 0, "held": 0}
    msgs = dict(rcpts)
    for state, r, m in rows:
        rcpts[state], msgs[state] = r, m
    return pending, rcpts, msgs


def status_counts(s):
    """floodctl status --json's queue (daemon running or not)."""
    r = s.ctl("status", "--json", check=False)
    q = json.loads(r.stdout)["queue"]
    return q["messages"], q["recipients"]


def metrics_counts(s):
    r, body = web.get(s, "/metrics", token=web.METRICS_TOKEN)
    assert r.status == 200, body
    out, _ = web.samples(body)

    def by_state(name):
        return {re.fullmatch(r'\{state="(\w+)"\}', labels).group(1): int(v)
                for (n, labels), v in out.items() if n == name}
    return by_state("floodgate_queue_recipients"), by_state("floodgate_queue_messages")


def assert_exact(s, running=True):
    """What floodctl status (and /metrics when RUNNING) report is the full
    count.  Remote delivery is paused, but local mail and DSNs still move:
    the reports are compared with a full count that did not change while
    they were read."""
    for _ in range(50):
        before = full_count(s)
        status = status_counts(s)
        metrics = metrics_counts(s) if running else None
        if full_count(s) != before:
            continue
        pending, rcpts, msgs = before
        assert status == (pending, rcpts)
        assert metrics in (None, (rcpts, msgs))
        return before
    raise AssertionError("the queue never stood still for two reads")


def kept_counts_check(s, *args):
    """floodctl store check's exit status and its queue counts' differences
    (and what --repair did)."""
    r = s.ctl("store", "check", "--json", *args, check=False)
    counts = json.loads(r.stdout)["queue_counts"]
    return r.returncode, counts["differences"], counts["action"]


def test_counts_equal_a_full_count_through_everything(make_server, net):
    unreachable(net, "down.test")
    s = counted_server(make_server, net)
    tag = token()
    # one message partly delivered here, partly waiting for down.test
    part, _ = relay(s, [ALICE, "x@down.test"], f"part {tag}")
    pair, _ = relay(s, ["a@down.test", "b@down.test"], f"pair {tag}")
    held, quar, purged, retried, _ = [relay(s, f"{n}@down.test", f"{n} {tag}")[0]
                                      for n in ("held", "quar", "purged", "retried", "left")]
    bounced, _ = relay(s, "bounced@down.test", f"bounced {tag}", sender=ALICE)
    wait_deferred(s, [part, pair, held, quar, purged, retried, bounced])
    wait_for(lambda: s.maildir(ALICE).joinpath("new").exists(), what="alice's part delivered")

    s.ctl("queue", "hold", held)
    s.ctl("queue", "hold", pair)
    s.ctl("queue", "release", pair)
    s.ctl("queue", "retry", retried)
    s.ctl("queue", "quarantine", quar, "--reason", "counts")
    s.ctl("queue", "purge", purged, "--yes")
    s.ctl("queue", "bounce", bounced)
    # the bounce ends: its DSN is delivered to alice and the message goes
    wait_for(lambda: bounced not in queue_ids(s) and len(list(
        s.maildir(ALICE).joinpath("new").iterdir())) == 2, what="the bounce's DSN delivered")
    wait_deferred(s, [pair, retried])
    s.ctl("pause", "delivery")
    pending, rcpts, msgs = assert_exact(s)
    assert rcpts["delivered"] == msgs["delivered"] == 1     # alice's part of PART
    assert rcpts["held"] == msgs["held"] == 1
    assert rcpts["quarantined"] == 1 and rcpts["deferred"] == 5 and msgs["deferred"] == 4
    assert pending == 5

    # kill -9 in the middle of a burst (remote mail: paused, it stays
    # queued): what was acknowledged is counted
    acked = []

    def burst():
        try:
            for i in range(40):
                acked.append(smtp_send(s.ports["mx"], ALICE, [f"burst{i}@down.test"],
                                       message(f"burst {i} {tag}"), source=TRUSTED))
        except (OSError, AssertionError, EOFError) as e:
            acked.append(e)
    t = threading.Thread(target=burst)
    t.start()
    wait_for(lambda: len(acked) >= 10, what="10 messages of the burst acknowledged")
    s.kill9()
    t.join(60)
    s.start()
    pending, rcpts, _ = assert_exact(s)
    assert rcpts["queued"] >= len([q for q in acked if isinstance(q, str)]) >= 10

    # floodctl with the daemon stopped
    s.stop()
    s.ctl("queue", "hold", retried, "--reason", "offline")
    s.ctl("queue", "purge", pair, "--yes")
    s.ctl("queue", "bounce", held)
    s.ctl("quarantine", "release", quar)
    s.ctl("queue", "quarantine", part, "--reason", "offline")
    assert quarantine_file(s, part).exists()
    _, rcpts, msgs = assert_exact(s, running=False)
    assert rcpts["returning"] == 1 and rcpts["held"] == 1 and msgs["quarantined"] == 1
    assert kept_counts_check(s) == (0, [], None)

    # and running again, delivering what it can
    s.start()
    assert_exact(s)
    s.ctl("resume", "delivery")
    wait_for(lambda: full_count(s)[1]["queued"] == 0 and "returning" not in full_count(s)[1],
             what="the burst tried and the bounce's DSN sent")
    s.ctl("pause", "delivery")
    assert_exact(s)


def test_store_check_finds_and_repairs_wrong_counts(make_server, net):
    unreachable(net, "down.test")
    s = counted_server(make_server, net)
    ids = [relay(s, f"r{i}@down.test", token())[0] for i in range(3)]
    wait_deferred(s, ids)
    assert kept_counts_check(s) == (0, [], None)
    s.stop()
    con = sqlite3.connect(s.state / "store.db")
    with con:
        con.execute("UPDATE queue_counts SET recipients = recipients + 5 WHERE state = 'deferred'")
    con.close()
    assert kept_counts_check(s) == (1, [{
        "state": "deferred", "recipients_kept": 8, "recipients_counted": 3,
        "messages_kept": 3, "messages_counted": 3}], None)
    r = s.ctl("store", "check", check=False)
    assert "queue counts: 1 states differ from a full count" in r.stdout
    assert "floodctl store check --repair" in r.stdout
    assert kept_counts_check(s, "--repair")[2] == "rebuilt"
    assert kept_counts_check(s) == (0, [], None)
    assert status_counts(s)[1]["deferred"] == 3


def test_a_store_from_before_the_counts_gains_them(make_server, net):
    unreachable(net, "down.test")
    s = counted_server(make_server, net)
    ids = [relay(s, f"r{i}@down.test", token())[0] for i in range(4)]
    wait_deferred(s, ids)
    s.stop()
    # the store as a build without the counts left it, changed by that build
    con = sqlite3.connect(s.state / "store.db")
    con.execute("PRAGMA foreign_keys=ON")
    with con:
        con.executescript("DROP TRIGGER queue_counts_insert; DROP TRIGGER queue_counts_update;"
                          " DROP TRIGGER queue_counts_delete; DROP TABLE queue_counts;"
                          " DELETE FROM meta WHERE key = 'queue_counts';")
        con.execute("UPDATE recipients SET state = 'held' WHERE message = ?", (ids[0],))
        con.execute("DELETE FROM messages WHERE id = ?", (ids[1],))
    con.close()
    s.start()
    s.ctl("pause", "delivery")
    pending, rcpts, msgs = assert_exact(s)
    assert (pending, rcpts["held"], rcpts["deferred"]) == (3, 1, 2)
    assert re.search(r"event=store_queue_counts action=made recipients=3\b", s.log())
