"""Remote delivery: MX routing through a test DNS server to SMTP sinks on
loopback, STARTTLS, several recipients and connection reuse, temporary
failures and retries, a smarthost with AUTH, servers that misbehave, and a
crash in the middle of a burst."""
import re
import time

from conftest import PASSWORDS, free_port, message, server_queue, smtp_send, token, wait_log
from netfixtures import net, remote_server, tempfail_first, wait_for  # noqa: F401

TRUSTED = "127.0.0.3"   # relay.allow_groups = ["trusted"]
ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])


def send(s, rcpts, subject=None, sender="app@example.test", body="Hello.\r\n"):
    """Relay one message from the trusted IP; returns (qid, message bytes)."""
    rcpts = [rcpts] if isinstance(rcpts, str) else rcpts
    msg = message(subject or token(), sender=sender, to=", ".join(rcpts), body=body)
    return smtp_send(s.ports["mx"], sender, rcpts, msg, source=TRUSTED), msg


def queue_empty(s, timeout=15):
    wait_for(lambda: server_queue(s) == [], timeout, "an empty queue")


def recipient(s, qid, address):
    for m in server_queue(s):
        if m["id"] == qid:
            for r in m["recipients"]:
                if r["address"] == address:
                    return r
    return None


def wait_error(s, qid, address, pattern, timeout=15):
    """Wait until ADDRESS of QID has a last_error matching PATTERN; returns
    the recipient as floodctl queue list --json shows it."""
    def check():
        r = recipient(s, qid, address)
        return r if r and r["last_error"] and re.search(pattern, r["last_error"]) else None
    try:
        return wait_for(check, timeout, f"last_error ~ {pattern!r}")
    except AssertionError:
        raise AssertionError(f"{qid} {address}: {recipient(s, qid, address)}\n"
                             f"{s.log()[-3000:]}") from None


def message_id(data):
    m = re.search(rb"(?im)^Message-ID: *<([^>]+)>", data)
    assert m, data[:500]
    return m.group(1).decode()


# ---- MX routing ----

def test_delivers_to_the_mx_and_leaves_the_queue(make_server, net):
    sink = net.sink()
    net.dns.mx("remote.test", 10, "mx1.remote.test", sink.address)
    s = remote_server(make_server, net)
    subject = token()
    body = (b"First line.\r\n.a line that starts with a dot\r\n..and two dots\r\n"
            b".\r\n. \r\nlast line\r\n")
    msg = message(subject, sender="alice@example.test", to="bob@remote.test", body=body)
    qid = smtp_send(s.ports["submission"], "alice@example.test", "bob@remote.test", msg,
                    starttls=True, login=ALICE)

    [t] = sink.wait(1, subject)
    assert t.mail_from == "alice@example.test"
    assert t.rcpt_tos == ["bob@remote.test"]
    assert t.helo == "mail.example.test"
    assert t.tls is False   # the sink offers no STARTTLS: opportunistic goes on in clear
    # what arrives is the queued message: our Received: line, then the
    # message exactly as submitted, dot-stuffed lines restored
    assert t.data.endswith(msg), t.data
    trace = t.data[:-len(msg)]
    assert re.fullmatch(rb"Received: [^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n", trace), trace
    assert f"id {qid}".encode() in trace
    assert b"\r\n.a line that starts with a dot\r\n..and two dots\r\n.\r\n. \r\n" in t.data

    wait_log(s, rf"event=delivered qid={qid} rcpt=\"?bob@remote\.test\"? mailer=smtp "
                rf"mx=\"?mx1\.remote\.test\[{re.escape(sink.address)}\]")
    queue_empty(s)


def test_mx_preference_falls_back_to_the_next_mx(make_server, net):
    sink = net.sink()
    net.dns.mx("pref.test", 10, "mx1.pref.test", net.refusing())
    net.dns.mx("pref.test", 20, "mx2.pref.test", sink.address)
    s = remote_server(make_server, net)
    qid, msg = send(s, "user@pref.test")
    [t] = sink.wait(1, message_id(msg))
    assert t.rcpt_tos == ["user@pref.test"]
    wait_log(s, rf"event=delivered qid={qid} .*mx=\"?mx2\.pref\.test\[")
    # the refused connection is no failure of the attempt: the next MX took it
    assert not re.search(rf"event=deferred qid={qid}", s.log())
    queue_empty(s)


def test_mx_preference_lowest_is_used_first(make_server, net):
    a, b = net.sink(), net.sink()
    net.dns.mx("order.test", 20, "mx-b.order.test", b.address)   # listed first on purpose
    net.dns.mx("order.test", 10, "mx-a.order.test", a.address)
    s = remote_server(make_server, net)
    ids = [message_id(send(s, f"u{i}@order.test")[1]) for i in range(3)]
    got = a.wait(3)
    assert sorted(message_id(t.data) for t in got) == sorted(ids)
    queue_empty(s)
    assert b.received() == [] and b.connections == 0


def test_implicit_mx_is_the_domain_address(make_server, net):
    sink = net.sink()
    net.dns.a("implicit.test", sink.address)   # no MX record at all
    s = remote_server(make_server, net)
    qid, msg = send(s, "user@implicit.test")
    [t] = sink.wait(1, message_id(msg))
    assert t.rcpt_tos == ["user@implicit.test"]
    wait_log(s, rf"event=delivered qid={qid} .*mx=\"?implicit\.test\[")
    assert ("implicit.test", "MX", "udp") in net.dns.queries
    queue_empty(s)


def test_big_mx_answer_is_fetched_over_tcp(make_server, net):
    sink = net.sink()
    long = "x" * 50
    for pref in range(20, 100, 10):   # eight more MX, all refusing: > 512 octets
        net.dns.mx("bigdns.test", pref, f"mx{pref}-{long}.bigdns.test", net.refusing())
    net.dns.mx("bigdns.test", 10, f"mx10-{long}.bigdns.test", sink.address)
    s = remote_server(make_server, net)
    qid, msg = send(s, "user@bigdns.test")
    [t] = sink.wait(1, message_id(msg))
    assert ("bigdns.test", "MX", "tcp") in net.dns.queries   # after a truncated UDP answer
    wait_log(s, rf"event=delivered qid={qid} .*mx=\"?mx10-x+\.bigdns\.test\[")
    queue_empty(s)


# ---- TLS ----

def test_starttls_is_used_when_offered(make_server, net):
    sink = net.sink(starttls=True)
    net.dns.mx("tls.test", 10, "mx.tls.test", sink.address)
    s = remote_server(make_server, net)
    qid, msg = send(s, "user@tls.test")
    [t] = sink.wait(1, message_id(msg))
    assert t.tls is True
    wait_log(s, rf"event=remote_connect qid={qid} domain=tls\.test mx=\S+ tls=\"?TLSv1\.[23] ")
    queue_empty(s)


def test_tls_required_defers_when_not_offered(make_server, net):
    sink = net.sink()   # no STARTTLS
    net.dns.mx("plain.test", 10, "mx.plain.test", sink.address)
    s = remote_server(make_server, net, tls="required")
    qid, _ = send(s, "user@plain.test")
    r = wait_error(s, qid, "user@plain.test", r"TLS is required")
    assert r["status"].startswith("deferred"), r
    assert "STARTTLS" in r["last_error"], r
    assert sink.received() == []
    wait_log(s, rf"event=deferred qid={qid} ")


# ---- transactions and connections ----

def test_two_recipients_one_transaction(make_server, net):
    sink = net.sink()
    net.dns.mx("multi.test", 10, "mx.multi.test", sink.address)
    s = remote_server(make_server, net)
    qid, msg = send(s, ["one@multi.test", "two@multi.test"])
    [t] = sink.wait(1, message_id(msg))
    assert sorted(t.rcpt_tos) == ["one@multi.test", "two@multi.test"]
    queue_empty(s)
    assert len(sink.received(message_id(msg))) == 1
    assert len(re.findall(rf"event=delivered qid={qid} ", s.log())) == 2


def test_connection_is_reused_for_a_burst(make_server, net):
    sink = net.sink()
    net.dns.mx("reuse.test", 10, "mx.reuse.test", sink.address)
    s = remote_server(make_server, net)
    ids = [message_id(send(s, f"u{i}@reuse.test")[1]) for i in range(5)]
    got = sink.wait(5)
    assert sorted(message_id(t.data) for t in got) == sorted(ids)
    queue_empty(s)
    assert 1 <= sink.connections < 5, sink.connections


def test_shutdown_closes_an_idle_connection(make_server, net):
    sink = net.sink()
    net.dns.mx("idle.test", 10, "mx.idle.test", sink.address)
    s = remote_server(make_server, net)
    _, msg = send(s, "user@idle.test")
    sink.wait(1, message_id(msg))
    wait_for(lambda: server_queue(s) == [], 10, "an empty queue")
    assert sink.open == 1          # parked for the next message to idle.test
    t0 = time.time()
    assert s.stop() == 0
    assert time.time() - t0 < 5
    # the connection ends with QUIT, not just a dropped socket, and nothing
    # of it is left behind (a sanitizer build would report a leak)
    wait_for(lambda: sink.open == 0, 5, "the idle connection to close")
    assert sink.quits == 1


def test_max_per_domain_limits_parallel_connections(make_server, net):
    sink = net.sink(data_delay=0.3)   # slow: the transactions overlap
    net.dns.mx("limit.test", 10, "mx.limit.test", sink.address)
    s = remote_server(make_server, net, max_per_domain=2)
    ids = [message_id(send(s, f"u{i}@limit.test")[1]) for i in range(8)]
    got = sink.wait(8, timeout=20)
    assert sorted(message_id(t.data) for t in got) == sorted(ids)
    queue_empty(s)
    assert sink.max_open <= 2, f"{sink.max_open} connections at once, max_per_domain = 2"


def test_temporary_failure_then_success_delivers_once(make_server, net):
    sink = net.sink(rcpt_reply=tempfail_first({"later@retry.test"}))
    net.dns.mx("retry.test", 10, "mx.retry.test", sink.address)
    s = remote_server(make_server, net)
    qid, msg = send(s, "later@retry.test")
    wait_log(s, rf"event=deferred qid={qid} rcpt=\"?later@retry\.test\"? .*code=451")
    [t] = sink.wait(1, message_id(msg), timeout=15)
    wait_log(s, rf"event=delivered qid={qid} ")
    queue_empty(s)
    assert sink.rcpt_seen["later@retry.test"] == 2
    assert len(sink.received(message_id(msg))) == 1


# ---- smarthost ----

def test_smarthost_with_auth_over_starttls(make_server, net):
    # on a port of its own: the MX port must not matter
    smarthost = net.sink(port=free_port(), starttls=True, auth=("relayuser", "relay-Secret-1"))
    # nothing about nomx.test in the DNS: the smarthost routes it
    s = remote_server(make_server, net, relayhost={
        "host": smarthost.address, "port": smarthost.port, "tls": "starttls",
        "user": "relayuser", "password": "relay-Secret-1"})
    qid, msg = send(s, "someone@nomx.test")
    [t] = smarthost.wait(1, message_id(msg))
    assert t.tls is True
    assert t.auth == ("relayuser", "relay-Secret-1")
    assert t.rcpt_tos == ["someone@nomx.test"]
    assert [l[1:] for l in smarthost.logins] == [("relayuser", "relay-Secret-1", True)]
    assert not [q for q in net.dns.queries if q[0] == "nomx.test"]
    wait_log(s, rf"event=delivered qid={qid} ")
    queue_empty(s)


# ---- misbehaving servers ----

def test_misbehaving_servers_defer_and_the_daemon_goes_on(make_server, net):
    bad = {
        "silent.test": (net.raw("silent"), r"timeout talking to mx\.silent\.test\b"),
        "garbage.test": (net.raw("garbage"),
                         r"protocol error from mx\.garbage\.test\b.*malformed reply"),
        "endless.test": (net.raw("endless"),
                         r"protocol error from mx\.endless\.test\b.*multi-line reply too long"),
        "closer.test": (net.raw("close_after_mail"), r"connection to mx\.closer\.test\b.* lost"),
    }
    for domain, (srv, _) in bad.items():
        net.dns.mx(domain, 10, f"mx.{domain}", srv.address)
    good = net.sink()
    net.dns.mx("good.test", 10, "mx.good.test", good.address)
    s = remote_server(make_server, net, connect_timeout=2, command_timeout=2)

    qids = {domain: send(s, f"user@{domain}")[0] for domain in bad}
    _, msg = send(s, "user@good.test")
    good.wait(1, message_id(msg), timeout=10)   # delivered while the others hang

    for domain, (srv, pattern) in bad.items():
        r = wait_error(s, qids[domain], f"user@{domain}", pattern)
        assert r["status"].startswith("deferred"), r
        assert srv.connections >= 1
    assert s.proc.poll() is None
    # and the daemon still serves: another message goes out at once
    _, msg = send(s, "again@good.test")
    good.wait(1, message_id(msg), timeout=10)
    assert s.proc.poll() is None


# ---- crash ----

def test_sigkill_in_a_burst_loses_nothing(make_server, net):
    sink = net.sink(hold_after=8)   # the 9th DATA on waits until released
    net.dns.mx("burst.test", 10, "mx.burst.test", sink.address)
    s = remote_server(make_server, net)
    ids = {message_id(send(s, f"u{i}@burst.test")[1]) for i in range(30)}
    assert len(ids) == 30
    sink.wait(8)
    wait_for(lambda: sink.held >= 1, 10, "a delivery in flight at the sink")
    s.kill9()
    done_before = {message_id(t.data) for t in sink.received()}
    assert 0 < len(done_before) < 30
    sink.release.set()
    s.start()

    def all_there():
        return {message_id(t.data) for t in sink.received()} >= ids
    wait_for(all_there, 25, "every message at the sink after the restart")
    assert {message_id(t.data) for t in sink.received()} == ids
    queue_empty(s)
