"""floodctl as an administrator uses it: domains, users and aliases are
added, listed and deleted while the daemon runs and take effect at once;
passwords come from stdin or the terminal, never argv; status and queue
listing work with the daemon up or down."""
import json
import smtplib

import pytest

from conftest import (PASSWORDS, RawClient, delivered_with, message, queued_message,
                      server_queue, smtp_send, tls_client_context, token)


def can_login(server, user, password):
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as c:
        c.ehlo("admin.test")
        c.starttls(context=tls_client_context())
        c.ehlo("admin.test")
        try:
            c.login(user, password)
            return True
        except smtplib.SMTPAuthenticationError as e:
            assert e.smtp_code == 535
            return False


def rcpt_code(server, rcpt):
    with RawClient(server.ports["mx"]) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<x@remote.test>")[0] == 250
        return c.cmd(f"RCPT TO:<{rcpt}>")[0]


def test_domain_add_list_del(server):
    d = f"d{token()[:8]}.test"
    r = server.ctl("domain", "add", d)
    assert d in r.stdout
    assert rcpt_code(server, f"anyone@{d}") == 550  # local now, but no such user
    table = server.ctl("domain", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["Domain", "Users", "Aliases"]
    assert any(l.split()[0] == d for l in table[1:]), table
    js = json.loads(server.ctl("domain", "list", "--json").stdout)
    [entry] = [x for x in js if x["name"] == d]
    assert entry["users"] == 0 and entry["aliases"] == 0
    # adding it twice is an error, not a silent success
    assert server.ctl("domain", "add", d, check=False).returncode == 1
    server.ctl("domain", "del", d)
    assert d not in [x["name"] for x in json.loads(server.ctl("domain", "list", "--json").stdout)]
    assert rcpt_code(server, f"anyone@{d}") == 554  # remote again: relay denied


def test_domain_with_users_needs_force(server):
    d = f"d{token()[:8]}.test"
    server.ctl("domain", "add", d)
    server.ctl("user", "add", f"u@{d}", input="u-Secret-2026\n")
    r = server.ctl("domain", "del", d, check=False)
    assert r.returncode == 1
    assert "--force" in r.stderr
    assert f"u@{d}" in server.ctl("user", "list", d).stdout
    server.ctl("domain", "del", d, "--force")
    assert f"u@{d}" not in server.ctl("user", "list").stdout


def test_user_add_list_del(server):
    addr = f"carol{token()[:6]}@example.test"
    assert rcpt_code(server, addr) == 550
    r = server.ctl("user", "add", addr, input="Amber-Lantern-61\n")
    assert addr in r.stdout
    # takes effect at once, in the running daemon
    assert rcpt_code(server, addr) == 250
    subject = token()
    smtp_send(server.ports["mx"], "x@remote.test", addr, message(subject, to=addr))
    delivered_with(server, addr, subject)
    assert can_login(server, addr, "Amber-Lantern-61")
    table = server.ctl("user", "list").stdout.splitlines()
    assert table[0].split()[:2] == ["Address", "Created"]
    assert any(l.split()[0] == addr for l in table[1:])
    js = json.loads(server.ctl("user", "list", "example.test", "--json").stdout)
    [u] = [x for x in js if x["address"] == addr]
    assert u["suspended"] is False
    assert "password" not in u  # hashes are never shown
    assert "$argon2" not in server.ctl("user", "list", "--json").stdout
    server.ctl("user", "del", addr)
    assert addr not in server.ctl("user", "list").stdout
    assert rcpt_code(server, addr) == 550
    assert not can_login(server, addr, "Amber-Lantern-61")


def test_user_add_needs_existing_domain(server):
    r = server.ctl("user", "add", "x@no-such-domain.test", input="x-Secret-2026\n", check=False)
    assert r.returncode == 1
    assert "domain add" in r.stderr


def test_user_add_twice_is_refused(server):
    r = server.ctl("user", "add", "alice@example.test", input="other-Secret-2026\n", check=False)
    assert r.returncode == 1
    assert can_login(server, "alice@example.test", PASSWORDS["alice@example.test"])


@pytest.mark.parametrize("pw", ["", "short"])
def test_weak_password_is_refused(server, pw):
    addr = f"weak{token()[:6]}@example.test"
    r = server.ctl("user", "add", addr, input=pw + "\n", check=False)
    assert r.returncode == 1
    assert addr not in server.ctl("user", "list").stdout


def test_user_passwd_from_stdin(server):
    addr = f"dave{token()[:6]}@example.test"
    server.ctl("user", "add", addr, input="dave-Old-Secret-1\n")
    assert can_login(server, addr, "dave-Old-Secret-1")
    r = server.ctl("user", "passwd", addr, input="dave-New-Secret-2\n")
    assert addr in r.stdout
    assert not can_login(server, addr, "dave-Old-Secret-1")
    assert can_login(server, addr, "dave-New-Secret-2")


def test_user_passwd_of_unknown_user(server):
    r = server.ctl("user", "passwd", "ghost@example.test", input="ghost-Secret-1\n", check=False)
    assert r.returncode == 1
    assert "no such user" in r.stderr


@pytest.mark.parametrize("argv", [
    ["user", "add", "eve@example.test", "--password", "eve-Secret-2026"],
    ["user", "add", "eve@example.test", "--password=eve-Secret-2026"],
    ["user", "add", "eve@example.test", "eve-Secret-2026"],
    ["user", "passwd", "alice@example.test", "eve-Secret-2026"],
    ["user", "passwd", "alice@example.test", "-p", "eve-Secret-2026"],
])
def test_password_is_never_taken_from_argv(server, argv):
    r = server.ctl(*argv, input="", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "usage" in r.stderr
    assert "eve@example.test" not in server.ctl("user", "list").stdout
    assert not can_login(server, "alice@example.test", "eve-Secret-2026")


def test_help_mentions_no_password_option(server):
    r = server.ctl("help")
    assert "stdin" in r.stdout  # says where passwords come from
    assert "--password" not in r.stdout and " -p " not in r.stdout


def test_alias_add_list_del(server):
    alias = f"sales{token()[:6]}@example.test"
    assert rcpt_code(server, alias) == 550
    server.ctl("alias", "add", alias, "alice@example.test")
    server.ctl("alias", "add", alias, "bob@example.test")
    assert rcpt_code(server, alias) == 250
    subject = token()
    smtp_send(server.ports["mx"], "x@remote.test", alias, message(subject, to=alias))
    delivered_with(server, "alice@example.test", subject)
    delivered_with(server, "bob@example.test", subject)
    table = server.ctl("alias", "list").stdout.splitlines()
    assert table[0].split()[:2] == ["Address", "Target"]
    rows = [l.split()[:2] for l in table[1:] if l.startswith(alias)]
    assert sorted(rows) == [[alias, "alice@example.test"], [alias, "bob@example.test"]]
    js = json.loads(server.ctl("alias", "list", "--json").stdout)
    assert sorted(x["target"] for x in js if x["address"] == alias) == \
        ["alice@example.test", "bob@example.test"]
    # delete one target, then the rest
    server.ctl("alias", "del", alias, "bob@example.test")
    js = json.loads(server.ctl("alias", "list", "--json").stdout)
    assert [x["target"] for x in js if x["address"] == alias] == ["alice@example.test"]
    server.ctl("alias", "del", alias)
    assert alias not in server.ctl("alias", "list").stdout
    assert rcpt_code(server, alias) == 550


def test_alias_in_unknown_domain_is_refused(server):
    r = server.ctl("alias", "add", "x@no-such-domain.test", "alice@example.test", check=False)
    assert r.returncode == 1


def test_usage_errors_exit_2(server):
    for argv in (["frobnicate"], ["user"], ["user", "add"], ["domain", "list", "extra"],
                 ["queue", "list", "--state", "bogus"], ["queue", "list", "--limit", "0"]):
        r = server.ctl(*argv, check=False)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert "usage" in r.stderr, argv


def test_status_shows_counters(server):
    smtp_send(server.ports["mx"], "x@remote.test", "alice@example.test", message(token()))
    st = json.loads(server.ctl("status", "--json").stdout)
    assert st["pid"] == server.proc.pid
    assert st["messages_accepted"] >= 1
    assert st["sessions_total"] >= 1
    for key in ("uptime", "connections", "messages_rejected", "queue"):
        assert key in st
    text = server.ctl("status").stdout
    assert f"pid: {server.proc.pid}" in text
    assert "messages_accepted: " in text


def test_status_and_queue_with_daemon_stopped(make_server):
    s = make_server().start()
    s.ctl("domain", "add", "example.test")
    subject = token()
    qid = smtp_send(s.ports["mx"], "app@example.test", "someone@remote.test",
                    message(subject, to="someone@remote.test"), source="127.0.0.3")
    before = queued_message(s, qid)
    assert s.stop() == 0
    r = s.ctl("status", check=False)
    assert r.returncode == 1
    assert "not running" in r.stderr
    # the queue is read from the store: the same listing as from the daemon
    # (less what a delivery attempt in between may have changed)
    after = queued_message(s, qid)
    def stable(m):
        return ({k: v for k, v in m.items()
                 if k not in ("next_try", "status", "state", "recipients")},
                [r["address"] for r in m["recipients"]])
    assert stable(after) == stable(before)
    assert after["subject"] == subject
    assert qid in s.ctl("queue", "list").stdout
    js = json.loads(s.ctl("status", "--json", check=False).stdout)
    assert js["running"] is False


def test_queue_list_filters(server):
    q = server_queue(server, "--state", "queued")
    assert all(any(r["state"] == "queued" for r in m["recipients"]) for m in q)
    assert len(server_queue(server, "--limit", "1")) <= 1
    assert server_queue(server, "--auth-user", "nobody-at-all@example.test") == []


def test_aliases_that_include_each_other(server):
    """Group aliases that include each other ("staff" includes "teachers",
    "teachers" includes "staff") are a common admin setup.  Either floodctl
    refuses to close the cycle, or mail to them reaches every real member;
    what may not happen is a permanent temporary failure for every sender."""
    t = token()[:6]
    staff, teachers = f"staff{t}@example.test", f"teachers{t}@example.test"
    server.ctl("alias", "add", staff, "alice@example.test")
    server.ctl("alias", "add", staff, teachers)
    server.ctl("alias", "add", teachers, "bob@example.test")
    r = server.ctl("alias", "add", teachers, staff, check=False)
    assert r.returncode in (0, 1), r.stderr
    assert rcpt_code(server, staff) == 250
    assert rcpt_code(server, teachers) == 250
    subject = token()
    smtp_send(server.ports["mx"], "x@remote.test", staff, message(subject, to=staff))
    delivered_with(server, "alice@example.test", subject)
    delivered_with(server, "bob@example.test", subject)
