"""Password policy, forced change and expiry (issue 5, items 1 and 2).

floodctl refuses a weak new password and says exactly why; an expired
password (forced with 'user expire', or older than passwords.max_age) no
longer logs in over SMTP until 'user passwd' sets a new one, and the 535
says it expired and where to change it (issue 17, item 4).  A new password
may not repeat the user's last 5."""
import json
import re
import time

import pytest

from authcheck import login
from conftest import PASSWORDS, check_config, conf_line, free_port, token, wait_log

ALICE = "alice@example.test"
BOB = "bob@example.test"
GOOD = "Violet-Canyon-52"


def add(s, addr, pw, check=False):
    return s.ctl("user", "add", addr, input=pw + "\n", check=check)


def fresh(prefix="pat"):
    return f"{prefix}{token()[:6]}@example.test"


# ---- policy ----

@pytest.mark.parametrize("pw, why", [
    ("Xq7-bnz", "it has 7 characters"),
    ("zebra-tide-harbor", "it uses 2 character classes (lowercase, others)"),
    ("ZEBRATIDEHARBOR", "it uses 1 character class (uppercase)"),
    ("Dictionary1!", "it fails the dictionary check"),
    ("Kq7-Example-Tide", "it contains 'example' from the domain name example.test"),
])
def test_policy_refuses_with_the_reason(server, pw, why):
    addr = fresh()
    r = add(server, addr, pw)
    assert r.returncode == 1, r.stdout
    assert r.stderr.startswith("floodctl: password refused: "), r.stderr
    assert why in r.stderr
    # and says what is required
    assert "Required: at least 12 characters, at least 3 of the 4 character classes" in r.stderr
    assert addr not in server.ctl("user", "list").stdout


@pytest.mark.parametrize("pw", ["Kq7-Patricia-Tide", "Kq7-PATRICIA-tide", "Kq7-aicirtap-Tide"])
def test_policy_refuses_the_user_name_in_any_case_and_reversed(server, pw):
    r = add(server, "patricia@example.test", pw)
    assert r.returncode == 1
    assert "it contains the user name 'patricia'" in r.stderr


def test_policy_names_every_problem_at_once(server):
    r = add(server, "patricia@example.test", "patricia1")
    assert r.returncode == 1
    assert ("password refused: it has 9 characters; it uses 2 character classes "
            "(lowercase, digits); it contains the user name 'patricia'") in r.stderr


def test_policy_looks_for_each_part_of_a_dotted_name(server):
    r = add(server, "john.smith@example.test", "Kq7-Smith-Tide-9")
    assert r.returncode == 1
    assert "it contains the user name 'smith'" in r.stderr


def test_good_password_is_accepted_and_logs_in(server):
    addr = fresh()
    add(server, addr, GOOD, check=True)
    assert login(server, addr, GOOD)[0] == 235


def test_passwd_enforces_the_policy_too(server):
    addr = fresh()
    add(server, addr, GOOD, check=True)
    r = server.ctl("user", "passwd", addr, input="short\n", check=False)
    assert r.returncode == 1 and "password refused: it has 5 characters" in r.stderr
    assert login(server, addr, GOOD)[0] == 235  # unchanged
    server.ctl("user", "passwd", addr, input="Amber-Lantern-61\n")
    assert login(server, addr, "Amber-Lantern-61")[0] == 235


def test_policy_follows_the_config(make_server):
    s = make_server(extra="passwords = { min_length = 20; min_classes = 4; "
                          "dictionary_check = false; };").start()
    s.ctl("domain", "add", "example.test")
    r = add(s, fresh(), "VioletCanyon52")
    assert r.returncode == 1
    assert "it has 14 characters; it uses 3 character classes" in r.stderr
    assert "at least 20 characters, at least 4 of the 4" in r.stderr
    assert "no dictionary word" not in r.stderr
    add(s, fresh(), "Dictionary1!-Kq7-Tide-x", check=True)


# ---- forced expiry ----

def test_expire_one_refuses_its_password_until_passwd(make_server):
    s = make_server().start().provision()
    r = s.ctl("user", "expire", ALICE)
    assert "expired" in r.stdout and f"floodctl user passwd {ALICE}" in r.stdout
    code, text = login(s, ALICE, PASSWORDS[ALICE])
    assert code == 535 and text.startswith("5.7.8"), text
    wait_log(s, rf"event=auth result=fail .*user={re.escape(ALICE)} .*reason=expired")
    assert login(s, BOB, PASSWORDS[BOB])[0] == 235  # only alice
    row = [l for l in s.ctl("user", "list").stdout.splitlines() if l.startswith(ALICE)][0]
    assert "expired" in row
    [u] = [u for u in json.loads(s.ctl("user", "list", "--json").stdout) if u["address"] == ALICE]
    assert u["password_expired"] is True and u["password_state"] == "expired"
    # a new password ends it
    before = int(time.time())
    s.ctl("user", "passwd", ALICE, input="Amber-Lantern-61\n")
    assert login(s, ALICE, "Amber-Lantern-61")[0] == 235
    with s.db() as db:
        expired, changed = db.execute("SELECT password_expired, password_changed FROM users"
                                      " WHERE address = ?", (ALICE,)).fetchone()
    assert expired == 0 and changed >= before


def test_expire_all(make_server):
    s = make_server().start().provision()
    r = s.ctl("user", "expire", "--all")
    assert "passwords of 2 user(s) expired" in r.stdout
    for user, pw in PASSWORDS.items():
        assert login(s, user, pw)[0] == 535
    wait_log(s, rf"user={re.escape(BOB)} .*reason=expired")
    s.ctl("user", "passwd", BOB, input="Amber-Lantern-61\n")
    assert login(s, BOB, "Amber-Lantern-61")[0] == 235
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 535


def test_expire_needs_one_address_or_all(server):
    assert server.ctl("user", "expire", check=False).returncode == 2
    assert server.ctl("user", "expire", ALICE, "--all", check=False).returncode == 2
    r = server.ctl("user", "expire", "ghost@example.test", check=False)
    assert r.returncode == 1 and "no such user" in r.stderr


def test_user_add_records_when_the_password_was_set(server):
    addr = fresh()
    before = int(time.time())
    add(server, addr, GOOD, check=True)
    with server.db() as db:
        (changed,) = db.execute("SELECT password_changed FROM users WHERE address = ?",
                                (addr,)).fetchone()
    assert before <= changed <= time.time() + 1


# ---- maximum age ----

def test_max_age_warns_then_expires(make_server):
    s = make_server(extra="passwords = { max_age = 4; warn_before = 3600; };").start()
    s.ctl("domain", "add", "example.test")
    add(s, ALICE, PASSWORDS[ALICE], check=True)
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235
    wait_log(s, rf"event=password_expiring user={re.escape(ALICE)} "
                r"expires=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")
    assert "expires in" in s.ctl("user", "list").stdout
    time.sleep(4.5)
    code, _ = login(s, ALICE, PASSWORDS[ALICE])
    assert code == 535
    wait_log(s, rf"user={re.escape(ALICE)} .*reason=expired")
    assert "expired" in s.ctl("user", "list").stdout
    show = json.loads(s.ctl("user", "show", ALICE, "--json").stdout)
    assert show["password_state"] == "expired" and show["password_expired"] is False
    s.ctl("user", "passwd", ALICE, input="Amber-Lantern-61\n")
    assert login(s, ALICE, "Amber-Lantern-61")[0] == 235


def test_no_warning_without_max_age(server):
    assert login(server, ALICE, PASSWORDS[ALICE])[0] == 235
    assert "event=password_expiring" not in server.log()


# ---- the 535 of an expired password (issue 17, item 4) ----

def test_expired_535_says_where_to_change_it(make_server):
    port = free_port()
    s = make_server(extra=f'web = {{ address = "127.0.0.1:{port}"; '
                          f'public_url = "https://mail.example.test:8443/"; }};').start().provision()
    s.ctl("user", "expire", ALICE)
    code, text = login(s, ALICE, PASSWORDS[ALICE])
    assert (code, text) == (535, "5.7.8 Your password has expired: change it at "
                                 "https://mail.example.test:8443/account")
    # a wrong password learns nothing of the expiry
    code, text = login(s, ALICE, "Wrong-Password-77")
    assert (code, text) == (535, "5.7.8 Authentication credentials invalid")


def test_expired_535_without_public_url_says_ask_the_administrator(make_server):
    s = make_server().start().provision()
    s.ctl("user", "expire", "--all")
    for user, pw in PASSWORDS.items():
        code, text = login(s, user, pw)
        assert (code, text) == (535, "5.7.8 Your password has expired: ask your administrator "
                                     "to set a new one")


def test_public_url_must_be_a_web_url(make_server):
    port = free_port()
    s = make_server(extra=f'web = {{ address = "127.0.0.1:{port}"; public_url = "mail.test"; }};')
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert (f":{conf_line(s, 'public_url')}: web.public_url: an http:// or https:// URL") in err, err


# ---- no repeat of the last 5 passwords (issue 17, item 4) ----

HISTORY = ["Amber-Lantern-61", "Cobalt-River-83", "Saffron-Meadow-27", "Indigo-Harbor-45",
           "Copper-Thistle-19"]


def passwd(s, addr, pw):
    return s.ctl("user", "passwd", addr, input=pw + "\n", check=False)


def test_passwd_refuses_the_last_five(make_server):
    s = make_server().start().provision()
    r = passwd(s, ALICE, PASSWORDS[ALICE])  # the current one
    assert r.returncode == 1
    assert (f"the new password of {ALICE} repeats one of its last 5 passwords, which is not "
            "allowed") in r.stderr, r.stderr
    assert "nothing changed" in r.stderr
    for pw in HISTORY[:4]:
        assert passwd(s, ALICE, pw).returncode == 0
    # the current one and the 4 before it are the last 5
    for pw in [PASSWORDS[ALICE]] + HISTORY[:4]:
        r = passwd(s, ALICE, pw)
        assert r.returncode == 1 and "last 5 passwords" in r.stderr, (pw, r.stderr)
    code, _ = login(s, ALICE, HISTORY[3])  # still the password set last
    assert code == 235
    # one more change: the first one has left the last 5
    assert passwd(s, ALICE, HISTORY[4]).returncode == 0
    assert passwd(s, ALICE, PASSWORDS[ALICE]).returncode == 0
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235
    with s.db() as db:  # the store keeps 4 former hashes beside the current one
        n = db.execute("SELECT count(*) FROM password_history WHERE user = ?",
                       (ALICE,)).fetchone()[0]
    assert n == 4
    # bob's history is his own
    assert passwd(s, BOB, HISTORY[0]).returncode == 0


def test_repeat_rule_also_ends_an_expiry_only_with_a_new_password(make_server):
    s = make_server().start().provision()
    s.ctl("user", "expire", ALICE)
    r = passwd(s, ALICE, PASSWORDS[ALICE])
    assert r.returncode == 1 and "last 5 passwords" in r.stderr
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 535  # still expired
    assert passwd(s, ALICE, HISTORY[0]).returncode == 0
    assert login(s, ALICE, HISTORY[0])[0] == 235
