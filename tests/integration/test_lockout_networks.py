"""Lockout per account AND client network (issue 14, item 6).

Failed logins count per account and source network (an IPv4 /24 here):
a botnet guessing alice's password from 127.0.9.x locks 127.0.9.0/24 out
for alice, and alice still logs in from 127.0.0.1, where she logged in
before; the same failures from her own network lock her there.  Failures
from very many networks trip the account-wide valve, which still spares
the networks she logged in from lately."""
import json
import re
import time

from authcheck import login
from conftest import PASSWORDS, wait_log

ALICE = "alice@example.test"
BOB = "bob@example.test"
WRONG = "Wrong-Guess-1234"
# per-IP bans off: the guesses must reach the account's count
CONF = ("lockout = { failures = 10; window = 600; duration = 900; };\n"
        "hammering = { failures = 0; };")


def stored_locks(s, expected, timeout=15):
    """The locks floodctl lists, once they are EXPECTED [(address, network)]:
    the daemon logs a lock when it decides it, and the committer stores it a
    moment later."""
    deadline = time.time() + timeout
    while True:
        locks = json.loads(s.ctl("user", "lockouts", "--json").stdout)
        if [(l["address"], l["network"]) for l in locks] == expected or time.time() > deadline:
            assert [(l["address"], l["network"]) for l in locks] == expected
            return locks
        time.sleep(0.05)


def stored_lock(s, user, timeout=15):
    """Wait until 'user show' says USER is locked (from somewhere)."""
    deadline = time.time() + timeout
    while not json.loads(s.ctl("user", "show", user, "--json").stdout)["locked"]:
        assert time.time() < deadline, f"{user} never locked in the store"
        time.sleep(0.05)


def botnet_guesses(s, user, net, n=10):
    """N wrong guesses for USER from N addresses of the /24 NET (127.0.9)."""
    for i in range(1, n + 1):
        assert login(s, user, WRONG, source=f"{net}.{i}")[0] == 535


def test_botnet_locks_its_network_not_alice(make_server):
    s = make_server(extra=CONF).start().provision()
    # alice works from 127.0.0.1: her usual network
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.0.1")[0] == 235
    botnet_guesses(s, ALICE, "127.0.9")
    wait_log(s, rf"event=account_locked user={re.escape(ALICE)} failures=10 .*ip=127\.0\.9\.10")
    stored_lock(s, ALICE)
    # alice at her usual network still logs in
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.0.1")[0] == 235
    # the botnet's network is locked for alice, even with the right password
    code, text = login(s, ALICE, PASSWORDS[ALICE], source="127.0.9.200")
    assert code == 535 and text.startswith("5.7.8")
    wait_log(s, rf"event=auth result=fail .*user={re.escape(ALICE)} ip=127\.0\.9\.200 "
                r".*reason=locked")
    wait_log(s, rf"event=account_locked user={re.escape(ALICE)} failures=10 window=600s "
                r"until=\S+Z ip=127\.0\.9\.10 network=127\.0\.9\.0/24 scope=network")
    locks = stored_locks(s, [(ALICE, "127.0.9.0/24")])
    # and only alice is locked from there: bob is not
    assert login(s, BOB, PASSWORDS[BOB], source="127.0.9.5")[0] == 235
    # floodctl lists the lock with its network
    assert locks[0]["failures"] == 10
    assert locks[0]["locked_until"] > locks[0]["locked_at"] > 0
    text = s.ctl("user", "lockouts").stdout
    assert re.search(rf"^{re.escape(ALICE)}\s+127\.0\.9\.0/24\s", text, re.M)
    show = json.loads(s.ctl("user", "show", ALICE, "--json").stdout)
    assert show["locked"] is True and show["locked_account"] is False
    assert show["locked_networks"] == 1
    assert "locked from 1 network" in s.ctl("user", "list").stdout
    # the lock survives a restart; unlock lifts it
    s.restart()
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.9.200")[0] == 535
    assert "unlocked" in s.ctl("user", "unlock", ALICE).stdout
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.9.200")[0] == 235
    assert "no lockouts" in s.ctl("user", "lockouts").stdout


def test_failures_from_her_own_network_lock_her_there(make_server):
    s = make_server(extra=CONF).start().provision()
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.0.1")[0] == 235
    # someone at her own network (or her old phone) fails ten times
    for i in range(10):
        assert login(s, ALICE, WRONG, source=f"127.0.0.{2 + i % 3}")[0] == 535
    wait_log(s, rf"event=account_locked user={re.escape(ALICE)} failures=10 ")
    stored_lock(s, ALICE)
    # a known network that fails itself is locked like any other
    code, text = login(s, ALICE, PASSWORDS[ALICE], source="127.0.0.1")
    assert code == 535 and text.startswith("5.7.8")
    # the lock is that network's: another network is not affected
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.5.1")[0] == 235
    wait_log(s, rf"event=account_locked user={re.escape(ALICE)} failures=10 .*"
                r"network=127\.0\.0\.0/24 scope=network")
    assert [l["network"] for l in json.loads(s.ctl("user", "lockouts", ALICE,
                                                   "--json").stdout)] == ["127.0.0.0/24"]
    assert "scope=account" not in s.log()  # the valve (200 by default) did not fire


def test_account_wide_valve_spares_known_networks(make_server):
    # 3 failures lock a network; 7 from all networks lock the account
    s = make_server(extra="lockout = { failures = 3; account_failures = 7; "
                          "account_window = 600; };\nhammering = { failures = 0; };")
    s.start().provision()
    r = s.ctl("user", "app-password", "add", ALICE, "--label", "phone")
    app = re.search(r"^\s+(\S{19})$", r.stdout, re.M).group(1)
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.0.1")[0] == 235
    # seven guesses from seven networks: none reaches 3, all together 7
    for n in range(1, 8):
        assert login(s, ALICE, WRONG, source=f"127.0.{10 + n}.1")[0] == 535
    wait_log(s, rf"event=account_locked user={re.escape(ALICE)} failures=7 window=600s "
                r"until=\S+Z ip=127\.0\.17\.1 network=127\.0\.17\.0/24 scope=account")
    assert "scope=network" not in s.log()
    stored_locks(s, [(ALICE, "*")])
    # a network alice never logged in from is locked now, with the right password
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.30.1")[0] == 535
    # her usual network is not
    assert login(s, ALICE, PASSWORDS[ALICE], source="127.0.0.1")[0] == 235
    # nor her phone's app password, from anywhere
    assert login(s, ALICE, app, source="127.0.30.1")[0] == 235
    assert json.loads(s.ctl("user", "show", ALICE, "--json").stdout)["locked_account"] is True
