"""Two-factor authentication and app passwords (issue 5, item 4).

Enrolment prints an otpauth:// URI and a QR code and takes effect only after
one code computed from the secret (here by an RFC 6238 implementation of the
test's own); then SMTP AUTH accepts only app passwords.  App passwords are
shown once, stored hashed, listed with their last use, revocable, and the
label used is recorded in the log and in every envelope."""
import json
import os
import re
import subprocess
import time


from authcheck import login, rfc6238_selftest, totp
from conftest import (FLOODCTL, PASSWORDS, message, queued_message, smtp_send, token,
                      wait_log)

ALICE = "alice@example.test"
BOB = "bob@example.test"
URI_RE = re.compile(r"otpauth://totp/Floodgate:([^?\s]+)\?secret=([A-Z2-7]+)&issuer=Floodgate")
APP_RE = re.compile(r"^\s+([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})$", re.M)


def test_totp_helper_matches_rfc6238():
    rfc6238_selftest()


def fresh_user(s, prefix="tfa"):
    addr = f"{prefix}{token()[:6]}@example.test"
    s.ctl("user", "add", addr, input="Violet-Canyon-52\n")
    return addr


def enrol_pending(s, addr):
    """Start an enrolment with no code on stdin: the secret from the URI."""
    r = s.ctl("user", "2fa", "enable", addr, input="", check=False)
    assert r.returncode == 1 and "no code given: 2FA stays off" in r.stderr, r.stderr
    m = URI_RE.search(r.stdout)
    assert m, r.stdout
    assert m.group(1) == addr
    return m.group(2), r.stdout


def add_app_password(s, addr, label):
    r = s.ctl("user", "app-password", "add", addr, "--label", label)
    m = APP_RE.search(r.stdout)
    assert m, r.stdout
    assert "not shown again" in r.stdout
    return m.group(1)


def state(s, addr):
    return json.loads(s.ctl("user", "show", addr, "--json").stdout)


# ---- enrolment ----

def test_enrolment_interactive_wrong_then_right_code(server):
    addr = fresh_user(server)
    env = dict(os.environ, FLOODGATE_CONFIG=str(server.conf))
    # a wrong code, typed after the URI was shown: 2FA stays off
    p = subprocess.Popen([str(FLOODCTL), "user", "2fa", "enable", addr], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out = ""
    while not URI_RE.search(out):
        line = p.stdout.readline()
        assert line, out
        out += line
    secret = URI_RE.search(out).group(2)
    wrong = f"{(int(totp(secret)) + 500000) % 1000000:06d}"
    rest, err = p.communicate(wrong + "\n", timeout=30)
    assert p.returncode == 1
    assert "wrong code" in err and "2FA stays off" in err
    assert state(server, addr)["totp_enabled"] is False
    assert login(server, addr, "Violet-Canyon-52")[0] == 235
    # the QR code is there, drawn in plain blocks when stdout is no terminal
    assert "##" in out and "\033[" not in out
    # the right code, interactively, in a new enrolment
    p = subprocess.Popen([str(FLOODCTL), "user", "2fa", "enable", addr], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out = ""
    while not URI_RE.search(out):
        line = p.stdout.readline()
        assert line, out
        out += line
    rest, err = p.communicate(totp(URI_RE.search(out).group(2)) + "\n", timeout=30)
    assert p.returncode == 0, err
    assert f"2FA on for {addr}" in rest
    st = state(server, addr)
    assert st["totp_enabled"] is True and st["totp_pending"] is False


def test_enrolment_scripted_with_code_option(server):
    addr = fresh_user(server)
    secret, _ = enrol_pending(server, addr)
    assert state(server, addr)["totp_pending"] is True
    r = server.ctl("user", "2fa", "enable", addr, "--code", "000000x", check=False)
    assert r.returncode == 1 and "wrong code" in r.stderr
    r = server.ctl("user", "2fa", "enable", addr, "--code", totp(secret))
    assert "2FA on" in r.stdout
    # the secret is stored, the code of the previous step is still accepted
    with server.db() as db:
        (hexsecret,) = db.execute("SELECT totp_secret FROM users WHERE address = ?",
                                  (addr,)).fetchone()
    import base64
    assert base64.b32encode(bytes.fromhex(hexsecret)).decode().rstrip("=") == secret
    # enrolling again while on is refused
    r = server.ctl("user", "2fa", "enable", addr, input="", check=False)
    assert r.returncode == 1 and "already on" in r.stderr


def test_code_option_without_pending_enrolment(server):
    addr = fresh_user(server)
    r = server.ctl("user", "2fa", "enable", addr, "--code", "123456", check=False)
    assert r.returncode == 1 and "no 2FA enrolment is pending" in r.stderr


def test_code_one_step_old_is_accepted(server):
    addr = fresh_user(server)
    secret, _ = enrol_pending(server, addr)
    server.ctl("user", "2fa", "enable", addr, "--code", totp(secret, at=time.time() - 30))
    assert state(server, addr)["totp_enabled"] is True


# ---- 2FA on: only app passwords ----

def test_main_password_refused_app_password_accepted(make_server):
    s = make_server().start().provision()
    secret, _ = enrol_pending(s, ALICE)
    s.ctl("user", "2fa", "enable", ALICE, "--code", totp(secret))
    code, text = login(s, ALICE, PASSWORDS[ALICE])
    assert code == 535 and text.startswith("5.7.8")
    wait_log(s, rf"event=auth result=fail .*user={re.escape(ALICE)} .*"
                r"reason=2fa_requires_app_password")
    pw = add_app_password(s, ALICE, "alice phone")
    assert login(s, ALICE, pw)[0] == 235
    wait_log(s, rf"event=auth result=ok .*user={re.escape(ALICE)} .*"
                r'app_password="alice phone"')
    # typed in capitals without dashes on a phone keyboard: still the same password
    assert login(s, ALICE, pw.replace("-", "").upper())[0] == 235
    # the envelope records the device
    subject = token()
    qid = smtp_send(s.ports["submission"], ALICE, "someone@remote.test",
                    message(subject, sender=ALICE), starttls=True, login=(ALICE, pw))
    assert queued_message(s, qid)["auth_app_password"] == "alice phone"
    out = s.ctl("queue", "list", "--columns", "id,auth_user,app_password").stdout
    assert any(qid in l and "alice phone" in l for l in out.splitlines()), out
    wait_log(s, rf"event=accepted qid={qid} .*app_password=\"alice phone\"")
    # last use and IP, through the committer
    deadline = time.time() + 10
    while time.time() < deadline:
        [ap] = json.loads(s.ctl("user", "app-password", "list", ALICE, "--json").stdout)
        if ap["last_ip"]:
            break
        time.sleep(0.1)
    assert ap["label"] == "alice phone" and ap["last_ip"] == "127.0.0.1"
    assert ap["last_used"] >= ap["created"]
    table = s.ctl("user", "app-password", "list", ALICE).stdout
    assert table.splitlines()[0].split()[:2] == ["Label", "Created"] and "127.0.0.1" in table
    # 2FA shows in the listings
    row = [l for l in s.ctl("user", "list").stdout.splitlines() if l.startswith(ALICE)][0]
    assert " on " in row
    assert "2FA:              on" in s.ctl("user", "show", ALICE).stdout
    # off again: the main password works again
    s.ctl("user", "2fa", "disable", ALICE)
    assert login(s, ALICE, PASSWORDS[ALICE])[0] == 235


def test_revoked_app_password_is_refused(make_server):
    s = make_server().start().provision()
    laptop = add_app_password(s, BOB, "Bob's Laptop")
    printer = add_app_password(s, BOB, "printer")
    assert login(s, BOB, laptop)[0] == 235  # app passwords work without 2FA
    assert login(s, BOB, PASSWORDS[BOB])[0] == 235
    r = s.ctl("user", "app-password", "revoke", BOB, "Bob's Laptop")
    assert "revoked" in r.stdout
    assert login(s, BOB, laptop)[0] == 535
    assert login(s, BOB, printer)[0] == 235
    labels = [a["label"] for a in
              json.loads(s.ctl("user", "app-password", "list", BOB, "--json").stdout)]
    assert labels == ["printer"]
    r = s.ctl("user", "app-password", "revoke", BOB, "Bob's Laptop", check=False)
    assert r.returncode == 1 and "no app password labelled" in r.stderr
    # the hash is stored, never the password
    with s.db() as db:
        rows = db.execute("SELECT hash FROM app_passwords").fetchall()
    assert all(h.startswith("$argon2id$") for (h,) in rows)
    assert printer not in s.log()


def test_app_password_labels_and_limit(server):
    addr = fresh_user(server, "apl")
    r = server.ctl("user", "app-password", "add", addr, check=False)
    assert r.returncode == 2 and "--label" in r.stderr
    add_app_password(server, addr, "phone")
    r = server.ctl("user", "app-password", "add", addr, "--label", "phone", check=False)
    assert r.returncode == 1 and "already has an app password labelled 'phone'" in r.stderr
    for i in range(19):
        add_app_password(server, addr, f"device {i}")
    r = server.ctl("user", "app-password", "add", addr, "--label", "one too many", check=False)
    assert r.returncode == 1 and "the most allowed" in r.stderr
    r = server.ctl("user", "app-password", "add", "ghost@example.test", "--label", "x",
                   check=False)
    assert r.returncode == 1 and "no such user" in r.stderr


def test_app_password_add_json(server):
    addr = fresh_user(server, "apj")
    out = json.loads(server.ctl("user", "app-password", "add", addr, "--label", "tablet",
                                "--json").stdout)
    assert out["label"] == "tablet" and re.fullmatch(r"([a-z0-9]{4}-){3}[a-z0-9]{4}",
                                                      out["password"])
    assert login(server, addr, out["password"])[0] == 235


def test_user_show(server):
    addr = fresh_user(server, "shw")
    add_app_password(server, addr, "phone")
    server.ctl("user", "expire", addr)
    out = server.ctl("user", "show", addr).stdout
    for needle in (f"address:          {addr}", "created:", "suspended:        no",
                   "password:         expired", "locked:           no", "2FA:              off",
                   "app passwords:    1", "phone"):
        assert needle in out, out
    js = json.loads(server.ctl("user", "show", addr, "--json").stdout)
    assert js["address"] == addr and js["password_expired"] is True
    assert [a["label"] for a in js["app_passwords"]] == ["phone"]
    assert "hash" not in json.dumps(js) and "$argon2" not in json.dumps(js)
    r = server.ctl("user", "show", "ghost@example.test", check=False)
    assert r.returncode == 1 and "no such user" in r.stderr
