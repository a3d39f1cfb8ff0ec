"""The event loop never waits on the store (docs/design.md, "The threads";
issue 13 item 2).  What a session must read before it can answer (who a
recipient is, an alias's members, what the store says about the sender or
the logged-in account) is read on a lookup thread; meanwhile the session
reads no command, and every other session is answered.  What the engine
keeps in memory (the local domains) needs no lookup: a MAIL from a client
that does not log in, and an RCPT to another domain, are answered at once.

A store that hangs is played by the test-build control command
fault.lookup_hold, which keeps the lookups waiting on their threads.  The
fixtures also fail any test whose daemon ran a statement on the loop
(event=store_on_loop, conftest.py)."""
import json
import socket
import sqlite3
import threading

import pytest

from conftest import RawClient, control, message, token, wait_log
from netfixtures import wait_for
from test_big_aliases import add_users_fast, big_list

ALICE, BOB = "alice@example.test", "bob@example.test"


def hold_lookups(s, seconds):
    """Keep the sessions' store reads waiting SECONDS (0: let them go)."""
    r = control(s, {"cmd": "fault.lookup_hold", "seconds": seconds})
    if not r["ok"] and "unknown" in r["error"]:
        pytest.skip("floodgated built without -Dfault_injection=true")
    assert r["ok"], r


def waiting_session(s, state="lookup"):
    """The id of the one session in STATE (floodctl session list: "lookup",
    "storing"...); waits until there is one."""
    def find():
        live = json.loads(s.ctl("session", "list", "--json").stdout)
        ids = [x["id"] for x in live if x["state"] == state]
        return ids[0] if len(ids) == 1 else None
    return wait_for(find, what=f"a session in state {state}")


def nothing_yet(c):
    """True when the server has sent C nothing more (it waits for its lookup)."""
    c.sock.settimeout(0.3)
    try:
        c._fill()
        return False
    except (socket.timeout, TimeoutError):
        return c.buf == b""
    finally:
        c.sock.settimeout(20)


def test_pipelined_commands_wait_in_order_while_others_are_answered(make_server):
    s = make_server().start().provision()
    mark = token()
    with RawClient(s.ports["mx"]) as a, RawClient(s.ports["mx"]) as b:
        a.ehlo()
        b.ehlo()
        hold_lookups(s, 60)
        # RFC 2920: the whole envelope in one write
        a.send("MAIL FROM:<sender@remote.test>\r\n"
               f"RCPT TO:<{ALICE}>\r\nRCPT TO:<team@example.test>\r\n"
               "RCPT TO:<nobody@example.test>\r\nDATA\r\n")
        # MAIL needs nothing from the store (remote.test is not ours, the
        # engine knows): answered; the first RCPT waits for its lookup
        assert a.reply()[0] == 250
        waiting_session(s)
        # the loop is free: another session is answered, A is not
        for _ in range(3):
            assert b.cmd("NOOP")[0] == 250
        assert nothing_yet(a)
        hold_lookups(s, 0)
        # every pipelined command answered, in the order sent
        assert [a.reply()[0] for _ in range(4)] == [250, 250, 550, 354]
        a.send(message(mark, to=ALICE) + b"\r\n.\r\n")
        code, text = a.reply()
        assert code == 250, text
        assert a.cmd("QUIT")[0] == 221
    s.wait_delivered(ALICE, 1)
    s.wait_delivered(BOB, 1)


def test_a_client_that_leaves_while_its_lookup_runs(make_server):
    s = make_server().start().provision()
    hold_lookups(s, 60)
    a = RawClient(s.ports["mx"])
    a.ehlo()
    a.send(f"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<{ALICE}>\r\n")
    gone = waiting_session(s)
    a.close()
    hold_lookups(s, 0)
    # the answer finds a session whose client left: it ends, nothing else
    wait_log(s, rf"event=disconnect session={gone} ")
    mark = token()
    with RawClient(s.ports["mx"]) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(message(mark, to=ALICE) + b"\r\n.\r\n")
        assert c.reply()[0] == 250
    s.wait_delivered(ALICE, 1)


def test_session_kill_does_not_wait_for_the_lookup(make_server):
    s = make_server().start().provision()
    hold_lookups(s, 60)
    with RawClient(s.ports["mx"]) as a:
        a.ehlo()
        a.send(f"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<{ALICE}>\r\n")
        assert a.reply()[0] == 250  # MAIL; the RCPT waits for its lookup
        victim = waiting_session(s)
        s.ctl("session", "kill", str(victim))
        # while the lookup is still held: the 421, then the end
        code, text = a.reply()
        assert code == 421, text
        assert a.closed()
    hold_lookups(s, 0)
    wait_log(s, rf"event=session_end session={victim} ")
    with RawClient(s.ports["mx"]) as c:  # and the daemon serves on
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 250


def test_a_ten_thousand_member_list_while_another_session_is_answered(make_server):
    s = make_server(extra="detector = { enabled = false; };").start().provision()
    add_users_fast(s, 10000)
    big_list(s)
    noops = []
    with RawClient(s.ports["mx"]) as a, RawClient(s.ports["mx"]) as b:
        a.ehlo()
        b.ehlo()
        assert a.cmd("MAIL FROM:<sender@remote.test>")[0] == 250

        def other():
            for _ in range(50):
                noops.append(b.cmd("NOOP")[0])

        t = threading.Thread(target=other)
        t.start()
        a.send("RCPT TO:<all@example.test>\r\n")
        code, text = a.reply()
        t.join()
        assert code == 250, text
        assert noops == [250] * 50
        assert a.cmd("DATA")[0] == 354
        a.send(message(token(), to="all@example.test") + b"\r\n.\r\n")
        code, text = a.reply()
        assert code == 250, text
    wait_log(s, r"event=accepted .* nrcpt=10000 ")


def short_command_timeout(make_server):
    """A started, provisioned server whose commands have 2 s (command_timeout)."""
    s = make_server()
    s.conf_text = s.conf_text.replace("command_timeout = 30;", "command_timeout = 2;")
    s.conf.write_text(s.conf_text)
    return s.start().provision()


def test_a_hanging_lookup_does_not_hold_the_session_past_its_deadline(make_server):
    s = short_command_timeout(make_server)
    hold_lookups(s, 60)
    with RawClient(s.ports["mx"]) as a:
        a.ehlo()
        assert a.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        a.send(f"RCPT TO:<{ALICE}>\r\n")
        # the store does not answer: the session's own deadline ends it (the
        # first reply to RCPT is the 421: RCPT was never answered)
        code, text = a.reply()
        assert code == 421 and "Timeout" in text, text
        assert a.closed()
    wait_log(s, r"event=timeout session=\d+ ip=127.0.0.1 reason=command")
    hold_lookups(s, 0)
    with RawClient(s.ports["mx"]) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@remote.test>")[0] == 250


def test_relayed_mail_needs_no_lookup(make_server):
    """A PC of the LAN (a trusted address) relays without logging in: its
    MAIL and its RCPTs to other domains are decided from the engine's copy
    of the local domains, so they are answered, and the message stored,
    while every store read hangs.  An RCPT to a user of ours still waits
    for its lookup."""
    s = make_server().start().provision()
    hold_lookups(s, 60)
    try:
        with RawClient(s.ports["mx"], source="127.0.0.3") as a:
            a.ehlo()
            assert a.cmd("MAIL FROM:<pc@example.test>")[0] == 250
            assert a.cmd("RCPT TO:<someone@remote.test>")[0] == 250
            # an address literal is refused by the engine's rule, at once
            code, text = a.cmd("RCPT TO:<other@[192.0.2.7]>")
            assert code == 550 and "literals are not accepted" in text, text
            assert a.cmd("DATA")[0] == 354
            a.send(message(token(), to="someone@remote.test") + b"\r\n.\r\n")
            code, text = a.reply()
            assert code == 250, text
            assert a.cmd("MAIL FROM:<pc@example.test>")[0] == 250
            a.send(f"RCPT TO:<{ALICE}>\r\n")
            waiting_session(s)
            assert nothing_yet(a)
            hold_lookups(s, 0)
            assert a.reply()[0] == 250
    finally:
        hold_lookups(s, 0)
    wait_log(s, r"event=accepted .*rcpts=someone@remote.test ")


def test_a_domain_added_by_hand_counts_after_a_reload(make_server):
    """floodctl domain add/del tell the running daemon (test_floodctl); a
    domain written into the store by other means is read at the next
    reload, as the config is."""
    s = make_server().start().provision()
    d = f"h{token()[:8]}.test"
    rw = sqlite3.connect(str(s.state / "store.db"), timeout=10)
    try:
        rw.execute("INSERT INTO domains(name, created) VALUES(?, 0)", (d,))
        rw.commit()
    finally:
        rw.close()

    def rcpt():
        with RawClient(s.ports["mx"]) as c:
            c.ehlo()
            assert c.cmd("MAIL FROM:<x@remote.test>")[0] == 250
            return c.cmd(f"RCPT TO:<anyone@{d}>")[0]
    assert rcpt() == 554  # not ours yet for the daemon: relay denied
    s.ctl("reload")
    # ours now, but no such user
    wait_for(lambda: rcpt() == 550, what=f"{d} to be local after the reload")
