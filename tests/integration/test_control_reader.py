"""The control socket's store reads run on the control room's reader thread
(docs/design.md): a client's pipelined requests are still answered in
order, a client that leaves while its listing is being read does not upset
the daemon, and SMTP keeps working meanwhile."""
import json
import socket

from conftest import message, smtp_send


def control(s):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # A blocking connect: with a timeout, Python makes the socket
    # non-blocking and a full listen backlog is EAGAIN instead of a wait.
    sock.connect(str(s.state / "control.sock"))
    sock.settimeout(20)
    return sock


TRUSTED = "127.0.0.3"  # the harness' relay group


def read_list(s):
    with control(s) as sock:
        sock.sendall(b'{"cmd":"queue.list"}\n')
        (reply,) = read_replies(sock, 1)
    assert reply["ok"], reply
    return reply["result"]


def read_replies(sock, n):
    buf = b""
    while buf.count(b"\n") < n:
        chunk = sock.recv(65536)
        assert chunk, "the daemon closed the control connection"
        buf += chunk
    return [json.loads(line) for line in buf.split(b"\n")[:n]]


def test_pipelined_requests_are_answered_in_order(server):
    # Relayed from the trusted address; the resolver answers nothing, so it
    # stays queued.
    smtp_send(server.ports["mx"], "a@remote.test", ["nobody@far.test"], message("queued"),
              source=TRUSTED)
    with control(server) as sock:
        reqs = [{"cmd": "queue.list"}, {"cmd": "status"}, {"cmd": "queue.top", "by": "ip"},
                {"cmd": "queue.kick"}, {"cmd": "queue.list"}]
        sock.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in reqs))
        replies = read_replies(sock, len(reqs))
    assert all(r["ok"] for r in replies), replies
    assert isinstance(replies[0]["result"], list)    # queue.list
    assert "uptime" in replies[1]["result"]           # status
    assert replies[2]["result"] is not None           # queue.top
    assert replies[3]["result"] == {}                 # queue.kick
    assert replies[4]["result"] == replies[0]["result"]


def test_client_leaving_during_a_listing_does_no_harm(server):
    before = len(read_list(server))
    for i in range(3):
        smtp_send(server.ports["mx"], "a@remote.test", ["nobody@far.test"], message(f"m{i}"),
                  source=TRUSTED)
    for _ in range(20):
        sock = control(server)
        sock.sendall(b'{"cmd":"queue.top","by":"ip"}\n{"cmd":"queue.list"}\n')
        sock.close()  # gone before (or while) the reader answers
    assert len(read_list(server)) == before + 3
    # The daemon still serves SMTP and the log shows no sanitizer report
    # (the harness checks the log at teardown).
    smtp_send(server.ports["mx"], "a@remote.test", ["alice@example.test"], message("after"))
    server.wait_delivered("alice@example.test", 1)
