"""Account lockout against password guessing (issue 5, item 3).

Failed AUTH with the main password, counted per account and client network
(127.0.0.2 and 127.0.0.3 are both in 127.0.0.0/24, like 127.0.0.1) within
lockout.window, lock the main password from that network for
lockout.duration (test_lockout_networks.py: other networks).  The lock is in
the store (it survives a restart, floodctl sees and lifts it), and app
passwords keep working meanwhile: a botnet guessing alice's password must not
lock her phone out."""
import json
import re

from authcheck import login
from conftest import PASSWORDS, wait_log

ALICE = "alice@example.test"
BOB = "bob@example.test"
# the per-IP anti-hammering is off here: this file is about the per-account count
CONF = ("lockout = { failures = 4; window = 600; duration = 900; };\n"
        "hammering = { failures = 0; };")


def locked_server(make_server):
    s = make_server(extra=CONF).start().provision()
    r = s.ctl("user", "app-password", "add", ALICE, "--label", "phone")
    app = re.search(r"^\s+(\S{19})$", r.stdout, re.M).group(1)
    # four wrong guesses from two client IPs
    for i, src in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3")):
        # LOGIN as well as PLAIN: the mechanism makes no difference
        assert login(s, ALICE, "Wrong-Guess-1234", source=src,
                     mech="LOGIN" if i % 2 else "PLAIN")[0] == 535
        if i < 3:
            assert "event=account_locked" not in s.log()
    wait_log(s, rf"event=account_locked user={re.escape(ALICE)} failures=4 window=600s "
                r"until=\S+Z ip=127\.0\.0\.3")
    return s, app


def test_lockout_after_failures_from_two_ips(make_server):
    s, app = locked_server(make_server)
    # the right password is refused now, with the same reply
    code, text = login(s, ALICE, PASSWORDS[ALICE], source="127.0.0.2")
    assert code == 535 and text.startswith("5.7.8")
    wait_log(s, rf"event=auth result=fail .*user={re.escape(ALICE)} .*reason=locked")
    # but the phone's app password still logs in
    assert login(s, ALICE, app)[0] == 235
    wait_log(s, rf"event=auth result=ok .*user={re.escape(ALICE)} .*app_password=phone")
    # only alice is locked
    assert login(s, BOB, PASSWORDS[BOB])[0] == 235
    # floodctl sees it
    row = [l for l in s.ctl("user", "list").stdout.splitlines() if l.startswith(ALICE)][0]
    assert "locked from 1 network" in row
    show = json.loads(s.ctl("user", "show", ALICE, "--json").stdout)
    assert show["locked"] is True and show["locked_networks"] == 1
    assert "locked from:      1 network" in s.ctl("user", "show", ALICE).stdout


def test_lock_survives_restart_and_unlock_lifts_it(make_server):
    s, app = locked_server(make_server)
    s.restart()
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 535
    r = s.ctl("user", "unlock", ALICE)
    assert "unlocked" in r.stdout
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235
    assert "was not locked" in s.ctl("user", "unlock", ALICE).stdout
    # the count starts again from zero after a lock: three new failures do
    # not lock, a success forgets them, and four lock again
    for _ in range(3):
        assert login(s, ALICE, "Wrong-Guess-1234")[0] == 535
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235  # resets the count
    for _ in range(4):
        assert login(s, ALICE, "Wrong-Guess-1234")[0] == 535
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 535
    assert login(s, ALICE, app)[0] == 235


def test_unlock_all(make_server):
    s, app = locked_server(make_server)
    for src in ("127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"):
        login(s, BOB, "Wrong-Guess-1234", source=src)
    wait_log(s, rf"event=account_locked user={re.escape(BOB)}")
    assert login(s, BOB, PASSWORDS[BOB])[0] == 535
    r = s.ctl("user", "unlock", "--all")
    assert "2 locked account(s) unlocked" in r.stdout
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235
    assert login(s, BOB, PASSWORDS[BOB])[0] == 235


def test_success_resets_the_count(make_server):
    s = make_server(extra=CONF).start().provision()
    for _ in range(3):
        assert login(s, ALICE, "Wrong-Guess-1234")[0] == 535
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235
    for _ in range(3):
        assert login(s, ALICE, "Wrong-Guess-1234")[0] == 535
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235
    assert "event=account_locked" not in s.log()


def test_failures_zero_disables_lockout(make_server):
    s = make_server(extra="lockout = { failures = 0; };\nhammering = { failures = 0; };")
    s.start().provision()
    for _ in range(12):
        assert login(s, ALICE, "Wrong-Guess-1234")[0] == 535
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235
    assert "event=account_locked" not in s.log()
