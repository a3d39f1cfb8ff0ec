"""Fair scheduling of remote delivery (delivery/destinations): destinations
take turns, so a tarpit holding many queued messages does not delay a
healthy domain; a destination that stops answering is marked dead and
costs one probe, not a connection per message; and inside one destination
the senders take turns, so one sender's flood does not delay another's
message to the same provider.  Every assertion is about order or counts,
never about time."""
import re

from conftest import (PASSWORDS, delivered_with, message, queued_message, server_queue, smtp_send,
                      smtp_send_many, token)
from netfixtures import net, remote_server, wait_for  # noqa: F401

TRUSTED = "127.0.0.3"   # relay.allow_groups = ["trusted"]
ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])


def message_id(data):
    m = re.search(rb"(?im)^Message-ID: *<([^>]+)>", data)
    assert m, data[:500]
    return m.group(1).decode()


def flood(s, domain, messages, rcpts_each=1, qids=None):
    """MESSAGES messages from the trusted IP in one session, each to
    RCPTS_EACH recipients at DOMAIN; returns their Message-IDs in order
    (and their queue ids in the list QIDS when given)."""
    mails = []
    for i in range(messages):
        rcpts = [f"u{i}-{k}@{domain}" for k in range(rcpts_each)]
        mails.append(("app@example.test", rcpts,
                      message(token(), sender="app@example.test", to=rcpts[0])))
    got = smtp_send_many(s.ports["mx"], mails, source=TRUSTED)
    if qids is not None:
        qids.extend(got)
    return [message_id(m[2]) for m in mails]


def test_a_healthy_domain_is_delivered_while_a_tarpit_holds_the_queue(make_server, net):
    # 30 messages x 20 recipients to a server that accepts TCP and never
    # greets, queued first; then one message to a healthy domain.
    tarpit = net.raw("silent")
    net.dns.mx("tarpit.test", 10, "mx.tarpit.test", tarpit.address)
    good = net.sink()
    net.dns.mx("good.test", 10, "mx.good.test", good.address)
    s = remote_server(make_server, net, command_timeout=30, connect_timeout=30)
    flood(s, "tarpit.test", 30, rcpts_each=20)
    mails = [("app@example.test", "someone@good.test",
              message(token(), sender="app@example.test", to="someone@good.test"))]
    [qid] = smtp_send_many(s.ports["mx"], mails, source=TRUSTED)
    good.wait(1, message_id(mails[0][2]), timeout=60)
    # (the event is logged once the outcome is recorded, just after)
    wait_for(lambda: re.search(rf"event=delivered qid={qid} ", s.log()), 15,
             "the delivery recorded")
    log = s.log()
    # ... while every tarpit recipient is still pending: its first attempt
    # (and the command timeout that ends it) has not come yet.  A first-in
    # first-out scheduler reached the healthy message only after them.
    assert not re.search(r"event=deferred qid=\S+ rcpt=\"?u\d+-\d+@tarpit\.test", log), log[-3000:]
    # the tarpit got its initial window of connections, no more
    assert tarpit.connections <= 2


def test_a_dead_destination_costs_one_probe_not_a_connection_per_message(make_server, net):
    tarpit = net.raw("silent")
    net.dns.mx("tarpit.test", 10, "mx.tarpit.test", tarpit.address)
    # queue.retry_initial = 1 (the tests' config): a dead destination rests
    # 1 s, then 2 s, before each probe
    s = remote_server(make_server, net, command_timeout=2, connect_timeout=2,
                      initial_per_domain=2)
    flood(s, "tarpit.test", 10)
    # the first cohort (the initial window, 2 attempts) times out: dead
    wait_for(lambda: re.search(r"event=destination_dead dest=\"?tarpit\.test", s.log()), 20,
             "the tarpit marked dead")
    # every message is deferred, the ones not attempted without a connection
    wait_for(lambda: len(set(re.findall(r"event=deferred qid=(\S+) rcpt=\"?u\d+-0@tarpit",
                                        s.log()))) == 10, 20, "all ten messages deferred")
    assert re.search(r"event=deferred .*error=\"delivery to tarpit\.test suspended: ", s.log())
    # a probe, failing, and the destination dead again
    wait_for(lambda: len(re.findall(r"event=destination_probe dest=\"?tarpit\.test", s.log())) >= 2,
             30, "two probes")
    s.stop()
    log = s.log()
    probes = len(re.findall(r"event=destination_probe dest=\"?tarpit\.test", log))
    deferrals = len(re.findall(r"event=deferred qid=\S+ rcpt=\"?u\d+-0@tarpit", log))
    # Every connection the tarpit saw was one of the first cohort or a probe
    # (a probe stopped by the shutdown before it connected is not one) ...
    assert 2 <= tarpit.connections <= 2 + probes, (tarpit.connections, probes)
    # ... while the messages were deferred many more times than that
    assert deferrals > tarpit.connections, (deferrals, tarpit.connections)


def test_a_message_for_a_dead_destination_is_stored_deferred_at_once(make_server, net):
    # A spam run to dead domains must not cost each message two writes: a
    # message accepted while its destination is dead (and its probe not yet
    # due) is stored deferred in the transaction that accepts it, with the
    # row and log line the scheduler's deferral would write a moment later.
    tarpit = net.raw("silent")
    net.dns.mx("tarpit.test", 10, "mx.tarpit.test", tarpit.address)
    # a probe only after 60 s: the destination stays dead for this test
    s = remote_server(make_server, net, queue="retry_initial = 60; retry_max = 120;",
                      command_timeout=2, connect_timeout=2, initial_per_domain=2)
    flood(s, "tarpit.test", 2)
    wait_for(lambda: re.search(r"event=destination_dead dest=\"?tarpit\.test", s.log()), 20,
             "the tarpit marked dead")
    seen = tarpit.connections
    alice = ALICE[0]
    mark = token()
    qid = smtp_send(s.ports["mx"], "app@example.test", ["late@tarpit.test", alice],
                    message(mark, sender="app@example.test", to="late@tarpit.test"),
                    source=TRUSTED)
    # logged before the 250 went out: no pass of the scheduler came between
    assert re.search(rf"event=deferred qid={qid} rcpt=\"?late@tarpit\.test\"? mailer=smtp "
                     r"delay=0s attempts=1 code=0 error=\"delivery to tarpit\.test suspended: "
                     r"2 attempts in a row reached no server, next probe in \d+s", s.log())
    m = queued_message(s, qid)
    [far] = [r for r in m["recipients"] if r["address"] == "late@tarpit.test"]
    assert far["state"] == "deferred" and far["attempts"] == 1, far
    assert far["last_error"].startswith("delivery to tarpit.test suspended: "), far
    assert far["next_try"] >= m["created"] + 60, (far, m["created"])
    # the local recipient of the same message is delivered as usual
    delivered_with(s, alice, mark)
    assert tarpit.connections == seen


def test_senders_take_turns_inside_one_destination(make_server, net):
    # one connection at a time to the provider, and its first DATA held:
    # everything below is queued before anything is delivered
    sink = net.sink(hold_after=0)
    net.dns.mx("provider.test", 10, "mx.provider.test", sink.address)
    s = remote_server(make_server, net, max_per_domain=1, initial_per_domain=1)
    flood_ids = flood(s, "provider.test", 20)          # sender: the client IP
    wait_for(lambda: sink.held >= 1, 15, "the first flood message at the sink")
    msg = message(token(), sender=ALICE[0], to="colleague@provider.test")
    smtp_send_many(s.ports["submission"], [(ALICE[0], "colleague@provider.test", msg)],
                   starttls=True, login=ALICE)         # sender: the account
    sink.release.set()
    got = [message_id(t.data) for t in sink.wait(21, timeout=60)]
    assert sorted(got) == sorted(flood_ids + [message_id(msg)])
    order = got.index(message_id(msg))
    # first-in first-out would put it last (21st); taking turns puts it
    # right after the flood message that was already at the sink
    assert order <= 2, got
    assert order < got.index(flood_ids[-1])


def test_a_message_held_while_it_waits_in_memory_is_not_delivered(make_server, net):
    # the daemon keeps due messages in memory, per destination; floodctl
    # holds one of them in the store meanwhile: it must not go out
    sink = net.sink(hold_after=0)
    net.dns.mx("provider.test", 10, "mx.provider.test", sink.address)
    s = remote_server(make_server, net, max_per_domain=1, initial_per_domain=1)
    qids = []
    ids = flood(s, "provider.test", 3, qids=qids)
    wait_for(lambda: sink.held >= 1, 15, "the first message at the sink")
    s.ctl("queue", "hold", qids[2])
    # one more from the same sender: in that sender's line it comes after
    # the held one, so once it is delivered the held one had its chance
    later = flood(s, "provider.test", 1)
    sink.release.set()
    sink.wait(1, later[0], timeout=30)
    got = [message_id(t.data) for t in sink.received()]
    assert got == [ids[0], ids[1], later[0]], got
    [m] = [m for m in server_queue(s) if m["id"] == qids[2]]
    assert {r["state"] for r in m["recipients"]} == {"held"}, m
    assert not re.search(rf"qid={qids[2]} rcpt=", s.log())
