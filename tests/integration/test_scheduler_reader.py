"""The scheduler's selection reads the store on its own reader thread, not
on the event loop (docs/design.md, "The threads"): while a selection is
held there (the test-build control command fault.scheduler_hold), open
sessions are answered; a selection that floodctl changed the queue under
is dropped and made again, so a message held meanwhile is not delivered
from the rows the old read brought."""
import json
import socket

import pytest

from conftest import (RawClient, delivered_with, maildir_grep, message, queued_message, smtp_send,
                      token, wait_log)

ALICE = "alice@example.test"


def hold_next_selection(s, seconds):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(s.state / "control.sock"))
    sock.settimeout(20)
    with sock:
        sock.sendall(json.dumps({"cmd": "fault.scheduler_hold", "seconds": seconds}).encode()
                     + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = sock.recv(4096)
            assert chunk, "the daemon closed the control connection"
            buf += chunk
    reply = json.loads(buf.split(b"\n")[0])
    if "unknown command" in reply.get("error", ""):
        pytest.skip("floodgated built without -Dfault_injection=true")
    assert reply["ok"], reply


def test_sessions_are_answered_while_a_selection_is_held(make_server):
    s = make_server().start().provision()
    with RawClient(s.ports["mx"]) as c:
        c.ehlo()
        hold_next_selection(s, 10)
        mark = token()
        qid = smtp_send(s.ports["mx"], "sender@remote.test", [ALICE], message(mark))
        wait_log(s, r"event=fault_scheduler_hold rows=1 ")
        # the selection that found the message is on the reader thread
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 503
        assert f"event=delivered qid={qid}" not in s.log()  # still held
    delivered_with(s, ALICE, mark)


def test_a_message_held_under_a_selection_in_flight_stays(make_server):
    s = make_server().start().provision()
    hold_next_selection(s, 5)
    mark = token()
    qid = smtp_send(s.ports["mx"], "sender@remote.test", [ALICE], message(mark))
    wait_log(s, r"event=fault_scheduler_hold rows=1 ")
    # the read in flight saw the message due; floodctl holds it meanwhile
    s.ctl("queue", "hold", qid, "--reason", "look first")
    wait_log(s, r"event=scheduler_read_dropped reason=queue_changed rows=1")
    # its rows started nothing; the next selections read the store again,
    # where the message is held
    assert f"event=delivered qid={qid}" not in s.log()
    assert maildir_grep(s, ALICE, mark) == []
    assert queued_message(s, qid)["state"] == "held"
    s.ctl("queue", "release", qid, "--reason", "fine")
    assert len(delivered_with(s, ALICE, mark)) == 1
    wait_log(s, rf"event=delivered qid={qid} ")
