"""Containment reaches live sessions (issue 14, item 4).

The policy engine keeps a registry of live SMTP sessions: floodctl session
list shows them, floodctl session kill ends them, and the admin actions that
take a right away end the sessions that hold it at once: a ban (an open
session of the banned IP used to go on sending), a suspension, a revoked app
password (only the sessions that logged in with it), and a reload that takes
an address out of a trusted group.  An ended session reads 421 4.7.0 and is
closed; the log says event=session_end with the reason."""
import base64
import json
import re
import socket

from conftest import PASSWORDS, RawClient, message, wait_log

ALICE = "alice@example.test"
BOB = "bob@example.test"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def mx_session(s, source):
    """An open session on the mx port from SOURCE, after EHLO."""
    c = RawClient(s.ports["mx"], source=source)
    c.ehlo()
    return c


def auth_session(s, user, password, source=None):
    """An authenticated session on the submission port (STARTTLS, AUTH PLAIN)."""
    c = RawClient(s.ports["submission"], source=source)
    c.ehlo()
    c.starttls()
    c.ehlo()
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    code, text = c.cmd(f"AUTH PLAIN {token}")
    assert code == 235, text
    return c


def send_one(c, sender, rcpt, subject):
    """One whole message on C, accepted."""
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    code, text = c.cmd(message(subject, sender=sender, to=rcpt).rstrip(b"\r\n") + b"\r\n.")
    assert code == 250, text


def assert_ended(c, why):
    """C was ended by the server: its 421 (whose text says WHY) is there to
    read without asking, the connection is closed, and a MAIL sent after it
    gets nothing more (on a build without the registry the session simply
    went on: the reply would be 250, or no 421 would come)."""
    c.sock.settimeout(5)
    code, text = c.reply()
    assert code == 421 and text.startswith("4.7.0 mail.example.test "), (code, text)
    assert why in text, text
    assert c.closed()
    try:
        c.send("MAIL FROM:<late@remote.test>\r\n")
        c.reply()
        raise AssertionError("the ended session still answered")
    except (EOFError, ConnectionResetError, BrokenPipeError):
        pass


def assert_alive(c, sender="someone@remote.test"):
    """C still works: a MAIL is accepted (and reset)."""
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    assert c.cmd("RSET")[0] == 250


def sessions(s):
    return json.loads(s.ctl("--json", "session", "list").stdout)


def test_ban_add_ends_the_open_session_of_that_ip(make_server):
    s = make_server().start().provision()
    banned, other = mx_session(s, "127.0.0.5"), mx_session(s, "127.0.0.6")
    send_one(banned, "a@remote.test", ALICE, "before the ban")
    s.ctl("ban", "add", "127.0.0.5", "--reason", "spam run")
    assert_ended(banned, "Your address has been blocked")
    wait_log(s, r"event=session_end session=\d+ ip=127\.0\.0\.5 user=- reason=ban")
    assert_alive(other)
    # and a new connection from it is refused, as before
    c = RawClient(s.ports["mx"], source="127.0.0.5", greet=False)
    assert c.reply()[0] == 421
    other.close()


def test_ban_of_a_network_ends_a_session_in_data(make_server):
    s = make_server().start().provision()
    c = mx_session(s, "127.0.0.9")
    assert c.cmd("MAIL FROM:<a@remote.test>")[0] == 250
    assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: half a message\r\n\r\nline one\r\n")
    s.ctl("ban", "add", "127.0.0.8/29")  # 127.0.0.8 to .15
    assert_ended(c, "Your address has been blocked")
    wait_log(s, r"event=data_aborted session=\d+ ip=127\.0\.0\.9 reason=ban")
    assert s.ctl("queue", "list").stdout.count("half a message") == 0


def test_suspend_ends_the_accounts_sessions(make_server):
    s = make_server().start().provision()
    alice = auth_session(s, ALICE, PASSWORDS[ALICE])
    bob = auth_session(s, BOB, PASSWORDS[BOB])
    r = s.ctl("user", "suspend", ALICE)
    assert "1 live session(s) ended" in r.stdout
    assert_ended(alice, "Your account has been suspended")
    wait_log(s, rf"event=session_end session=\d+ ip=127\.0\.0\.1 user={re.escape(ALICE)} "
                r"reason=suspended")
    assert_alive(bob, BOB)
    bob.close()


def test_app_password_revoke_ends_only_the_session_that_used_it(make_server):
    s = make_server().start().provision()
    r = s.ctl("user", "app-password", "add", ALICE, "--label", "phone")
    app = re.search(r"^\s+(\S{19})$", r.stdout, re.M).group(1)
    phone = auth_session(s, ALICE, app, source="127.0.0.7")
    laptop = auth_session(s, ALICE, PASSWORDS[ALICE], source="127.0.0.8")
    listed = {x["ip"]: x for x in sessions(s)}
    assert listed["127.0.0.7"]["app_password"] == "phone"
    assert listed["127.0.0.8"].get("app_password") is None
    r = s.ctl("user", "app-password", "revoke", ALICE, "phone")
    assert "1 live session(s) ended" in r.stdout
    assert_ended(phone, "The app password of this session was revoked")
    wait_log(s, r"event=session_end session=\d+ ip=127\.0\.0\.7 .*reason=app_password_revoked")
    assert_alive(laptop, ALICE)
    laptop.close()


def test_session_list_shows_every_field(make_server):
    s = make_server().start().provision()
    mx = mx_session(s, "127.0.0.5")
    send_one(mx, "a@remote.test", ALICE, "counted")
    sub = auth_session(s, BOB, PASSWORDS[BOB], source="127.0.0.6")
    listed = sessions(s)
    assert [x["ip"] for x in listed] == ["127.0.0.5", "127.0.0.6"]  # oldest first
    m, b = listed
    for x in listed:
        assert ISO_UTC.match(x["started"]), x
        assert isinstance(x["id"], int) and isinstance(x["port"], int)
    assert (m["listener"], m["tls"], m["messages"], m["helo"], m["state"]) == \
        ("mx", False, 1, "client.test", "ready")
    assert m.get("auth_user") is None
    assert (b["listener"], b["tls"], b["auth_user"], b["messages"]) == \
        ("submission", True, BOB, 0)
    assert b["tls_info"].startswith("TLS")
    table = s.ctl("session", "list").stdout.splitlines()
    assert table[0].split()[:2] == ["ID", "Client"]
    assert any(f"127.0.0.6:{b['port']}" in l and BOB in l and "submission" in l for l in table)
    mx.close()
    sub.close()


def test_kill_by_id_ip_and_user(make_server):
    s = make_server().start().provision()
    one, two, three = (mx_session(s, ip) for ip in ("127.0.0.5", "127.0.0.6", "127.0.0.7"))
    bob = auth_session(s, BOB, PASSWORDS[BOB], source="127.0.0.8")
    by_ip = {x["ip"]: x["id"] for x in sessions(s)}
    r = s.ctl("session", "kill", str(by_ip["127.0.0.5"]))
    assert "1 session(s) ended" in r.stdout
    assert_ended(one, "Your session was closed by the administrator")
    wait_log(s, r"event=session_end session=\d+ ip=127\.0\.0\.5 user=- reason=admin")
    assert json.loads(s.ctl("--json", "session", "kill", "--ip", "127.0.0.6").stdout) == \
        {"ended": 1}
    assert_ended(two, "closed by the administrator")
    s.ctl("session", "kill", "--user", BOB.upper())
    assert_ended(bob, "closed by the administrator")
    assert_alive(three)
    assert [x["ip"] for x in sessions(s)] == ["127.0.0.7"]
    # what cannot be done says so
    r = s.ctl("session", "kill", str(by_ip["127.0.0.5"]), check=False)
    assert r.returncode == 1 and "no live session" in r.stderr
    r = s.ctl("session", "kill", check=False)
    assert r.returncode == 2
    r = s.ctl("session", "kill", "--ip", "not-an-address", check=False)
    assert r.returncode == 1
    three.close()


def test_reload_that_drops_an_ip_from_the_trusted_group_ends_its_session(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3", "127.0.0.4"]}).start().provision()
    dropped, kept = mx_session(s, "127.0.0.3"), mx_session(s, "127.0.0.4")
    outsider = mx_session(s, "127.0.0.5")
    # trusted: relays to a remote domain
    assert dropped.cmd("MAIL FROM:<pc@lan.test>")[0] == 250
    assert dropped.cmd("RCPT TO:<x@remote.test>")[0] == 250
    s.conf.write_text(s.conf_text.replace('"127.0.0.3", "127.0.0.4"', '"127.0.0.4"'))
    s.ctl("reload")
    assert_ended(dropped, "The permissions of your address changed")
    wait_log(s, r"event=session_end session=\d+ ip=127\.0\.0\.3 user=- reason=ip_groups")
    assert_alive(kept)
    assert_alive(outsider)
    kept.close()
    outsider.close()


def test_session_list_without_a_daemon_says_so(make_server):
    s = make_server()
    s.start().provision()
    s.stop()
    r = s.ctl("session", "list", check=False)
    assert r.returncode == 1 and "not running" in r.stderr
