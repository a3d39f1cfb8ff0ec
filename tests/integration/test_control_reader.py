"""The control socket's store reads (status, queue.list, queue.top) run on
the control room's reader threads (docs/design.md): while one is held, SMTP
sessions and the loop's own commands go on and status still answers; a
client's pipelined requests are answered in order; a client that leaves
while its listing is being read does not upset the daemon."""
import json
import smtplib
import socket

import pytest

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
    # the scheduler may record a deferral between the two listings: the
    # same messages, whatever their recipients' state by then
    assert [m["id"] for m in replies[4]["result"]] == [m["id"] for m in replies[0]["result"]]


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


def test_a_held_reader_stalls_nothing_else(server):
    """A listing that takes long (held on purpose, test builds only) keeps
    only its own client waiting: a message is accepted meanwhile, the
    loop's commands and status answer before the held listing does."""
    held = control(server)
    held.sendall(b'{"cmd":"fault.reader_hold","seconds":8}\n')
    other = control(server)
    other.sendall(b'{"cmd":"fault.reader_hold","seconds":0}\n')
    (probe,) = read_replies(other, 1)
    if not probe["ok"] and "unknown" in probe["error"]:
        pytest.skip("floodgated built without -Dfault_injection=true")
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=20) as c:
        c.sendmail("a@remote.test", ["alice@example.test"], message("while held"))
    other.sendall(b'{"cmd":"queue.kick"}\n{"cmd":"status"}\n')
    kick, status = read_replies(other, 2)
    assert kick["ok"] and status["ok"] and "queue" in status["result"]
    held.setblocking(False)
    with pytest.raises(BlockingIOError):
        held.recv(1)  # the held listing has not answered yet: nothing waited for it
    held.setblocking(True)
    (done,) = read_replies(held, 1)
    assert done["ok"]
    held.close()
    other.close()
