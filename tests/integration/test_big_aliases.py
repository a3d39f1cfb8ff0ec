"""Lists that real organisations have (issue 14, item 9).

An alias of 10,000 users: one message to it is accepted whole, delivered to
every Maildir once, and counts as one message (and one recipient: the
address the sender wrote) for the sender's hourly limits.  Recipients are
deduplicated within the list and against those already in the envelope.
A list that would reach itself (a -> b -> a) is refused by floodctl, and
one already in the store gets a precise reply at RCPT naming the loop; a list past limits.max_expanded_recipients is refused whole."""
import json
import smtplib
import sqlite3
import time

from conftest import PASSWORDS, message, tls_client_context, token, wait_log

ALICE = "alice@example.test"
N = 10000


def add_users_fast(s, n):
    """N users u00000..u(N-1)@example.test, straight into the store with
    alice's password hash: 'floodctl user add' hashes each password with
    argon2id (tens of ms each), which would be the whole test's time."""
    db = sqlite3.connect(str(s.state / "store.db"), timeout=30)
    with db:
        h = db.execute("SELECT password FROM users WHERE address = ?", (ALICE,)).fetchone()[0]
        now = int(time.time())
        db.executemany("INSERT INTO users(address, domain, password, created) "
                       "VALUES(?, 'example.test', ?, ?)",
                       ((f"u{i:05d}@example.test", h, now) for i in range(n)))
    db.close()


def big_list(s, name="all@example.test", n=N):
    """Alias NAME of the first N of those users, from a file."""
    users = [f"u{i:05d}@example.test" for i in range(n)]
    # floodctl runs as the daemon's user: not under pytest's 0700 tmp dir
    f = s.dir / f"{name}.txt"
    # a comment, a blank line and a duplicate: the file is read as a person writes it
    f.write_text("# everyone\n\n" + "\n".join(users) + f"\n{users[0]}\n")
    r = s.ctl("alias", "add", name, "--from-file", str(f))
    assert f"{n} target(s) added, 1 already there" in r.stdout, r.stdout
    return users


def login_session(s):
    """alice logged in on the submission port."""
    c = smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=120)
    c.ehlo("client.test")
    c.starttls(context=tls_client_context())
    c.ehlo("client.test")
    c.login(ALICE, PASSWORDS[ALICE])
    return c


def test_one_message_to_ten_thousand(make_server):
    s = make_server().start().provision()
    add_users_fast(s, N)
    users = big_list(s)
    subject = token()
    with login_session(s) as c:
        assert c.mail(ALICE)[0] == 250
        # u00007 written to directly as well: it gets one copy
        assert c.rcpt("u00007@example.test")[0] == 250
        assert c.rcpt("all@example.test")[0] == 250
        code, text = c.data(message(subject, sender=ALICE, to="all@example.test"))
        assert code == 250, text
    wait_log(s, rf"event=accepted .*nrcpt={N} ")
    # every Maildir gets the message, once
    deadline = time.time() + 600
    while True:
        r = s.db().execute("SELECT count(*) FROM recipients").fetchone()[0]
        if r == 0 or time.time() > deadline:
            break
        time.sleep(1)
    assert r == 0, f"{r} recipients still queued"
    missing = [u for u in users
               if len(list((s.maildir(u) / "new").glob("*"))) != 1]
    assert missing == [], f"{len(missing)} Maildirs without exactly one copy: {missing[:5]}"
    # one message for alice's hourly limits, and two recipients: the two
    # addresses she wrote to, not the 10,000 the list has
    counters = json.loads(s.ctl("user", "limits", ALICE, "--json").stdout)["counters"]
    assert counters["messages"] == 1 and counters["recipients"] == 2, counters


def test_alias_loop_gets_a_precise_reply(make_server):
    s = make_server().start().provision()
    s.ctl("alias", "add", "a@example.test", "b@example.test")
    s.ctl("alias", "add", "staff@example.test", "bob@example.test")
    s.ctl("alias", "add", "staff@example.test", "a@example.test")
    # floodctl refuses to close the loop, and says which it would be
    r = s.ctl("alias", "add", "b@example.test", "a@example.test", check=False)
    assert r.returncode == 1
    assert ("b@example.test -> a@example.test would make a loop (b@example.test -> "
            "a@example.test -> b@example.test)") in r.stderr, r.stderr
    # a store from before that check may hold one all the same
    db = sqlite3.connect(str(s.state / "store.db"), timeout=30)
    with db:
        db.execute("INSERT INTO aliases(address, target, created) "
                   "VALUES('b@example.test', 'a@example.test', 0)")
    db.close()
    with smtplib.SMTP("127.0.0.1", s.ports["mx"], timeout=30) as c:
        c.ehlo("client.test")
        assert c.mail("sender@remote.test")[0] == 250
        code, text = c.rcpt("a@example.test")
        assert (code, text.decode()) == (
            550, "5.4.6 <a@example.test>: Alias loop (a@example.test -> b@example.test -> "
                 "a@example.test); tell the postmaster")
        # a list with a loop inside is refused too, naming the loop
        code, text = c.rcpt("staff@example.test")
        assert code == 550 and b"(a@example.test -> b@example.test -> a@example.test)" in text
        # the session goes on
        assert c.rcpt("bob@example.test")[0] == 250
    wait_log(s, r"event=alias_refused session=\d+ ip=127\.0\.0\.1 rcpt=a@example\.test "
                r"reason=loop why=\"a@example\.test -> b@example\.test -> a@example\.test\"")


def test_expansion_bound_per_message(make_server):
    s = make_server()
    # the harness' limits group, with the bound lowered to 100
    s.conf.write_text(s.conf.read_text().replace(
        "max_recipients = 20;", "max_recipients = 20; max_expanded_recipients = 100;"))
    s.start().provision()
    add_users_fast(s, 150)
    big_list(s, "big@example.test", 150)
    users = [f"u{i:05d}@example.test" for i in range(150)]
    first, second = s.dir / "first.txt", s.dir / "second.txt"
    first.write_text("\n".join(users[:60]) + "\n")
    second.write_text("\n".join(users[60:120]) + "\n")
    s.ctl("alias", "add", "first@example.test", "--from-file", str(first))
    s.ctl("alias", "add", "second@example.test", "--from-file", str(second))
    with smtplib.SMTP("127.0.0.1", s.ports["mx"], timeout=30) as c:
        c.ehlo("client.test")
        assert c.mail("sender@remote.test")[0] == 250
        code, text = c.rcpt("big@example.test")
        assert code == 550 and text.startswith(b"5.5.3 <big@example.test>: List expands to "
                                               b"more than 100 recipients"), text
        assert c.rcpt("first@example.test")[0] == 250
        # 60 + 60 > 100: this one waits for another message
        code, text = c.rcpt("second@example.test")
        assert code == 452 and text.startswith(b"4.5.3"), text
        code, _ = c.data(message(token(), to="first@example.test"))
        assert code == 250
    wait_log(s, r"event=accepted .*nrcpt=60 ")
