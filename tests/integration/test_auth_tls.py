"""SMTP AUTH and TLS as a mail client meets them: swaks authenticates with
PLAIN and LOGIN over STARTTLS and implicit TLS; passwords never travel in
plaintext; failures get 535 5.7.8 and every attempt is logged."""
import re
import subprocess

import pytest

from conftest import PASSWORDS, QUEUED_RE, RawClient, queued_message, token, wait_log

ALICE, BOB = "alice@example.test", "bob@example.test"


def swaks(server, port, *args, user=ALICE, password=None, to="someone@remote.test",
          subject=None):
    password = PASSWORDS[user] if password is None else password
    cmd = ["swaks", "--server", f"127.0.0.1:{server.ports[port]}", "--ehlo", "laptop.test",
           "--from", user, "--to", to, "--auth-user", user, "--auth-password", password,
           "--header", f"Subject: {subject or token()}", "--timeout", "30", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def queued_id(r):
    m = QUEUED_RE.search(r.stdout)
    assert r.returncode == 0 and m, r.stdout + r.stderr
    return m.group(1)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth_on_submission(server, mech):
    subject = token()
    r = swaks(server, "submission", "--tls", "--auth", mech, subject=subject)
    assert "235 2.7.0" in r.stdout, r.stdout
    qid = queued_id(r)
    m = queued_message(server, qid)
    assert m["auth_user"] == ALICE
    assert m["subject"] == subject
    assert m["listener"] == "submission"


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_implicit_tls_on_submissions(server, mech):
    r = swaks(server, "submissions", "--tlsc", "--auth", mech, user=BOB)
    assert "235 2.7.0" in r.stdout, r.stdout
    m = queued_message(server, queued_id(r))
    assert m["auth_user"] == BOB
    assert m["listener"] == "submissions"


def test_tls_is_recorded_in_the_envelope(server):
    r = swaks(server, "submissions", "--tlsc", "--auth", "PLAIN")
    m = queued_message(server, queued_id(r))
    assert m["tls"] and re.match(r"TLSv1\.[23]\b", m["tls"]), m["tls"]
    r = swaks(server, "submission", "--tls", "--auth", "PLAIN")
    m = queued_message(server, queued_id(r))
    assert m["tls"] and re.match(r"TLSv1\.[23]\b", m["tls"]), m["tls"]


def test_plaintext_envelope_has_no_tls(server):
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.ports['mx']}",
                        "--from", "x@remote.test", "--to", "someone@remote.test"],
                       capture_output=True, text=True, timeout=60)
    # relaying from 127.0.0.1 without AUTH is refused; send locally instead
    assert "554 5.7.1" in r.stdout
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.ports['mx']}",
                        "--from", "x@remote.test", "--to", "someone@remote.test",
                        "--local-interface", "127.0.0.3"],
                       capture_output=True, text=True, timeout=60)
    m = queued_message(server, queued_id(r))
    assert m["tls"] is None
    assert m["auth_user"] is None


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_wrong_password(server, mech):
    r = swaks(server, "submission", "--tls", "--auth", mech, password="not-the-password")
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout, r.stdout
    assert not QUEUED_RE.search(r.stdout)


def test_unknown_user(server):
    r = swaks(server, "submission", "--tls", "--auth", "PLAIN", user="mallory@example.test",
              password="whatever-Secret-1")
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout, r.stdout


def test_auth_results_are_logged(server):
    ok = swaks(server, "submission", "--tls", "--auth", "PLAIN", user=BOB)
    queued_id(ok)
    bad = swaks(server, "submission", "--tls", "--auth", "LOGIN", user=BOB, password="nope-nope-1")
    assert "535 5.7.8" in bad.stdout
    wait_log(server, r"event=auth result=ok .*user=\"?bob@example\.test\"? ip=127\.0\.0\.1")
    wait_log(server, r"event=auth result=fail .*user=\"?bob@example\.test\"? ip=127\.0\.0\.1"
                     r".*reason=bad_password")
    ghost = swaks(server, "submission", "--tls", "--auth", "PLAIN", user="ghost@example.test",
                  password="whatever-Secret-1")
    assert "535 5.7.8" in ghost.stdout
    wait_log(server, r"event=auth result=fail .*user=\"?ghost@example\.test\"? "
                     r"ip=127\.0\.0\.1.*reason=unknown_user")
    # the password itself is never logged
    assert PASSWORDS[BOB] not in server.log()
    assert "nope-nope-1" not in server.log()


def test_auth_not_offered_before_starttls(server):
    with RawClient(server.ports["submission"]) as c:
        caps = c.ehlo()
        assert "STARTTLS" in caps
        assert not any(l.upper().startswith("AUTH") for l in caps), caps
        code, text = c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1TZWNyZXQtMjAyNg==")
        assert code == 538, text
        assert text.startswith("5.7.11")
        code, text = c.cmd("AUTH LOGIN")
        assert code == 538, text
        # after STARTTLS it is offered
        c.starttls()
        caps = c.ehlo()
        assert any(l.upper().startswith("AUTH") and "PLAIN" in l and "LOGIN" in l
                   for l in caps), caps


def test_mail_without_auth_on_submission(server):
    with RawClient(server.ports["submission"]) as c:
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<alice@example.test>")
        assert (code, text[:5]) == (530, "5.7.0"), text
        c.starttls()
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<alice@example.test>")
        assert (code, text[:5]) == (530, "5.7.0"), text


def test_mx_does_not_offer_auth(server):
    with RawClient(server.ports["mx"]) as c:
        caps = c.ehlo()
        assert not any(l.upper().startswith("AUTH") for l in caps), caps
        assert c.cmd("AUTH PLAIN AGFAYgBj")[0] in (502, 503)
        c.starttls()
        caps = c.ehlo()
        assert not any(l.upper().startswith("AUTH") for l in caps), caps
        assert c.cmd("AUTH PLAIN AGFAYgBj")[0] in (502, 503)


def test_second_auth_is_refused(server):
    import base64
    cred = base64.b64encode(f"\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode()
    with RawClient(server.ports["submission"]) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        assert c.cmd("AUTH PLAIN " + cred)[0] == 235
        assert c.cmd("AUTH PLAIN " + cred)[0] == 503
        caps = c.ehlo()
        assert not any(l.upper().startswith("AUTH") for l in caps), caps


def test_auth_identity_of_someone_else_is_refused(server):
    """AUTH PLAIN with an authorization identity other than the user: we
    never act on behalf of another account."""
    import base64
    cred = base64.b64encode(f"{BOB}\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode()
    with RawClient(server.ports["submission"]) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        code, text = c.cmd("AUTH PLAIN " + cred)
        assert (code, text[:5]) == (535, "5.7.8")


def test_auth_abort(server):
    with RawClient(server.ports["submission"]) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        assert c.cmd("AUTH LOGIN")[0] == 334
        code, text = c.cmd("*")
        assert code == 501, text
        assert c.cmd("NOOP")[0] == 250


def test_starttls_twice_is_refused(server):
    with RawClient(server.ports["submission"]) as c:
        c.ehlo()
        c.starttls()
        caps = c.ehlo()
        assert "STARTTLS" not in caps
        assert c.cmd("STARTTLS")[0] == 503
