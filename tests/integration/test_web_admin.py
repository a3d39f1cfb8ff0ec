"""The web admin (issue 16 items 4-6) over HTTP: floodctl admin, the
login with password and TOTP, session cookies, CSRF, the API with a
session, path traversal, login failures counted toward the bans, the
queue's bulk actions, escaped message views and /account."""
import json
import sqlite3
import re
import smtplib

from authcheck import totp
from conftest import PASSWORDS, message, smtp_send, wait_log
from test_hammering import hammering
from test_incidents import seed_incident
from webadmin import ADMIN, ADMIN_PASSWORD, Client, web_admin_server

ALICE = "alice@example.test"


def queue_ids(s, *args):
    out = json.loads(s.ctl("queue", "list", "--json", *args).stdout)
    rows = out["messages"] if isinstance(out, dict) else out
    return {m["id"]: m for m in rows}


def test_floodctl_admin_add_list_del(make_server):
    s = web_admin_server(make_server)
    listed = json.loads(s.ctl("admin", "list", "--json").stdout)
    assert [a["name"] for a in listed] == [ADMIN]
    assert set(listed[0]) == {"name", "created", "last_login"}
    assert re.fullmatch(r"[A-Z2-7]{32}", s.admin_secret)
    # the same policy as mail users' passwords
    weak = s.ctl("admin", "add", "weak", input="short\n", check=False)
    assert weak.returncode == 1 and "password refused" in weak.stderr
    dup = s.ctl("admin", "add", ADMIN, input=ADMIN_PASSWORD + "\n", check=False)
    assert dup.returncode == 1 and "exists already" in dup.stderr
    bad = s.ctl("admin", "add", "Bad Name", input=ADMIN_PASSWORD + "\n", check=False)
    assert bad.returncode == 1 and "bad admin name" in bad.stderr
    # the text form prints the otpauth URI (and its QR code) once
    text = s.ctl("admin", "add", "second", input="Copper-Lantern-58\n").stdout
    assert "otpauth://totp/Floodgate:second?secret=" in text
    assert s.ctl("admin", "del", "second").returncode == 0
    gone = s.ctl("admin", "del", "second", check=False)
    assert gone.returncode == 1 and "no such admin" in gone.stderr


def test_login_session_cookie_csrf_logout(make_server):
    s = web_admin_server(make_server)
    c = Client(s)
    # a browser without a session: the login page; the pages send it there
    r, page = c.get("/")
    assert r.status == 200 and 'action="/login"' in page and "Code from the app" in page
    r, _ = c.get("/admin/queue")
    assert r.status == 303 and r.getheader("Location") == "/"
    # the API answers 401 without a session or token
    r, body = c.get("/api/v1/status")
    assert r.status == 401 and "log in" in json.loads(body)["error"]

    # a wrong code, a wrong password, an unknown name: all 401, same words
    for kw in ({"code": "000000"}, {"password": "Wrong-Password-11"}, {"name": "nobody"}):
        r, page = c.login(**kw)
        assert r.status == 401 and "Wrong name, password or code" in page
        assert "fg_session" not in c.cookies
    # a login form posted without its token cookie is refused
    r, _ = Client(s).post("/login", {"name": ADMIN, "password": ADMIN_PASSWORD,
                                      "code": totp(s.admin_secret)})
    assert r.status == 403

    code = totp(s.admin_secret)
    r, _ = c.login(code=code)
    assert r.status == 303 and r.getheader("Location") == "/admin/"
    cookie = next(x for x in r.set_cookies if x.startswith("fg_session="))
    sid = cookie.split(";")[0].split("=")[1]
    assert re.fullmatch(r"[0-9a-f]{64}", sid)  # 256 random bits
    attrs = [a.strip() for a in cookie.split(";")[1:]]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs
    assert "Secure" not in attrs  # plain HTTP here; see the TLS test
    wait_log(s, r"event=web_login who=ops kind=admin ip=127.0.0.1")
    assert json.loads(s.ctl("admin", "list", "--json").stdout)[0]["last_login"]

    r, page = c.get("/admin/")
    assert r.status == 200 and "Dashboard" in page and "Queue by state" in page
    # the rates are the monitor's per-second figures, shown, not an empty "null"
    assert "<h2>Rates</h2><dl>" in page, page
    # the API with the session's cookie
    r, body = c.get("/api/v1/status")
    assert r.status == 200 and "messages_accepted" in json.loads(body)["result"]

    # state-changing requests without the CSRF token: 403
    r, page = c.post("/admin/queue/action", {"action": "hold", "id": "0123456789ABCDEF"})
    assert r.status == 403 and "CSRF" in page
    r, page = c.post("/admin/queue/action", {"action": "hold", "id": "0123456789ABCDEF",
                                              "csrf": "0" * 64})
    assert r.status == 403
    r, body = c.post("/api/v1/queue/hold?all=1", raw_body=None)
    assert r.status == 403 and "CSRF" in json.loads(body)["error"]
    r, _ = c.post("/logout")
    assert r.status == 403
    csrf = c.csrf()
    r, body = c.request("POST", "/api/v1/queue/hold?state=queued",
                        headers={"X-CSRF-Token": csrf})
    assert r.status == 200 and json.loads(body)["result"]["action"] == "hold"

    # logout ends the session on the server, not only in this browser
    r, _ = c.post("/logout", {"csrf": csrf})
    assert r.status == 303 and "fg_session" not in c.cookies
    stolen = Client(s)
    stolen.cookies["fg_session"] = sid
    r, _ = stolen.get("/admin/")
    assert r.status == 303
    r, _ = stolen.get("/api/v1/status")
    assert r.status == 401
    # the code that logged in does not log in a second time (RFC 6238 5.2),
    # nor does the refused attempt count as the admin's last login
    with sqlite3.connect(s.state / "store.db", timeout=10) as db:
        db.execute("UPDATE admins SET last_login = 1000 WHERE name = ?", (ADMIN,))
    r, page = c.login(code=code)
    assert r.status == 401 and "fg_session" not in c.cookies
    wait_log(s, r"event=web_login_code_replayed who=ops")
    assert json.loads(s.ctl("admin", "list", "--json").stdout)[0]["last_login"] in (
        1000, "1970-01-01T00:16:40Z"), s.ctl("admin", "list", "--json").stdout


def test_deleted_admin_loses_its_session(make_server):
    s = web_admin_server(make_server)
    c = Client(s)
    assert c.login()[0].status == 303
    assert c.get("/admin/")[0].status == 200
    s.ctl("admin", "del", ADMIN)
    assert c.get("/admin/")[0].status == 303
    wait_log(s, r"event=web_session_end who=ops reason=admin_deleted")


def test_secure_cookie_over_tls(make_server):
    s = web_admin_server(make_server, tls="implicit")
    c = Client(s)
    r, _ = c.login()
    assert r.status == 303
    cookie = next(x for x in r.set_cookies if x.startswith("fg_session="))
    assert "Secure" in [a.strip() for a in cookie.split(";")]
    assert c.get("/admin/")[0].status == 200


def test_path_traversal_and_unknown_paths_refused(make_server):
    s = web_admin_server(make_server)
    c = Client(s)
    c.login()
    for path in ("/admin/../../../../etc/passwd", "/admin/%2e%2e/%2e%2e/etc/passwd",
                 "/../../etc/passwd", "/admin/..%2f..%2fetc%2fpasswd", "/etc/passwd",
                 "/admin/queue/../../../etc/shadow", "/account/../../etc/passwd",
                 "/admin/message?id=../../../etc/passwd"):
        r, page = c.get(path)
        assert r.status in (400, 404), (path, r.status)
        assert "root:" not in page
    r, _ = c.request("DELETE", "/admin/queue")
    assert r.status == 405


def test_web_login_failures_ban_the_ip(make_server):
    s = web_admin_server(make_server, extra=hammering(failures=3))
    attacker = Client(s, source="127.0.0.2")
    for _ in range(3):
        r, _ = attacker.login(code="000000")
        assert r.status == 401
    wait_log(s, r"event=ban ip=127.0.0.2 reason=\"?web login failures")
    bans = {b["ip"]: b for b in json.loads(s.ctl("ban", "list", "--json").stdout)}
    assert "127.0.0.2" in bans
    # banned: even the right password and code are not tried
    r, page = attacker.login()
    assert r.status == 403 and "banned" in page
    # the ban is the one SMTP obeys: its greeting is a 421
    try:
        smtplib.SMTP("127.0.0.1", s.ports["mx"], source_address=("127.0.0.2", 0), timeout=10)
        code = None
    except smtplib.SMTPConnectError as e:
        code = e.smtp_code
    assert code == 421
    # another address logs in as usual
    assert Client(s).login()[0].status == 303


def test_queue_page_hold_release_and_escaped_message(make_server):
    s = web_admin_server(make_server)
    evil = "<script>alert(1)</script>"
    # from the trusted 127.0.0.3 to a domain no resolver answers for: stays queued
    smtp_send(s.ports["mx"], "someone@remote.test", ["x@far.test"],
              message(evil, body=f"Hello {evil} & <b>bold</b>\r\n"), source="127.0.0.3")
    smtp_send(s.ports["mx"], "other@remote.test", ["y@far.test"], message("second"),
              source="127.0.0.3")
    ids = queue_ids(s)
    evil_id = next(i for i, m in ids.items() if m["subject"] == evil)
    c = Client(s)
    c.login()
    r, page = c.get("/admin/queue")
    assert r.status == 200
    for head in ("Authenticated Sender", "Sender IP", "127.0.0.3"):
        assert head in page
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # a filter
    r, page = c.get("/admin/queue?from=other%40remote.test")
    assert "second" in page and evil_id not in page

    csrf = c.csrf("/admin/queue")
    r, _ = c.post("/admin/queue/action", {"csrf": csrf, "action": "hold", "id": [evil_id]})
    assert r.status == 303 and r.getheader("Location").startswith("/admin/queue?done=")
    assert set(queue_ids(s, "--state", "held")) == {evil_id}
    wait_log(s, rf"admin=\"?ops\"?.*{evil_id}|{evil_id}.*admin=\"?ops")
    r, page = c.get(r.getheader("Location"))
    assert "hold: 1 message" in page
    # a notice from a link made elsewhere (not signed for this session) is not shown
    r, page = c.get("/admin/queue?done=Security+update%3A+all+clear")
    assert r.status == 200 and "all clear" not in page
    r, page = c.get("/admin/queue?done=Security+update%3A+all+clear&sig=" + "0" * 64)
    assert r.status == 200 and "all clear" not in page
    r, _ = c.post("/admin/queue/action", {"csrf": csrf, "action": "release",
                                           "id": list(ids)})
    assert r.status == 303 and queue_ids(s, "--state", "held") == {}
    r, page = c.post("/admin/queue/action", {"csrf": csrf, "action": "purge",
                                              "id": [evil_id]})
    assert r.status == 400

    r, page = c.get(f"/admin/message?id={evil_id.lower()}")
    assert r.status == 200
    assert evil not in page and "<b>bold" not in page
    assert "Subject: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "script-src 'self'" in r.getheader("Content-Security-Policy")


def test_pages_answer(make_server):
    s = web_admin_server(make_server)
    iid = seed_incident(s, ALICE, actions=[("alert", "score 120 <b>")])
    c = Client(s)
    c.login()
    for path, needle in (("/admin/incidents", f'href="/admin/incident?id={iid}"'),
                         (f"/admin/incident?id={iid}", "client_ips_per_hour"),
                         ("/admin/bans", "No address is banned"),
                         ("/admin/sessions", "Sessions"),
                         ("/admin/users", ALICE),
                         ("/admin/quarantine", "Quarantine")):
        r, page = c.get(path)
        assert r.status == 200 and needle in page, (path, page)
    r, page = c.get(f"/admin/incident?id={iid}")
    assert "score 120 &lt;b&gt;" in page
    assert c.get("/admin/incident?id=999")[0].status == 404
    assert c.get("/admin/incident?id=x")[0].status == 400
    # a user action from the page, as floodctl user suspend
    csrf = c.csrf("/admin/users")
    r, _ = c.post("/admin/users/action", {"csrf": csrf, "address": ALICE,
                                           "action": "suspend"})
    assert r.status == 303
    assert json.loads(s.ctl("user", "show", ALICE, "--json").stdout)["suspended"] is True
    # recorded as every admin action is (the API's operation: audit trail and log)
    wait_log(s, r"event=admin_action admin=\"?ops\"? action=user.suspend")
    assert any(a["action"] == "user.suspend" and a["admin"] == "ops"
               for a in json.loads(s.ctl("audit", "list", "--json").stdout))


def test_account_self_service(make_server):
    s = web_admin_server(make_server)
    c = Client(s)
    r, page = c.get("/account")
    assert r.status == 200 and 'action="/account/login"' in page
    token = c.login_token("/account")
    r, _ = c.post("/account/login", {"login_token": token, "address": ALICE,
                                      "password": "Wrong-Password-11"})
    assert r.status == 401
    token = c.login_token("/account")
    r, _ = c.post("/account/login", {"login_token": token, "address": ALICE,
                                      "password": PASSWORDS[ALICE]})
    assert r.status == 303 and r.getheader("Location") == "/account"
    # a mail user's session opens no admin page and no API
    assert c.get("/admin/")[0].status == 303
    assert c.get("/api/v1/status")[0].status == 401
    r, page = c.get("/account")
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
    # no CSRF token: 403
    r, _ = c.post("/account/password", {"current": PASSWORDS[ALICE], "new": "x", "again": "x"})
    assert r.status == 403
    r, page = c.post("/account/password", {"csrf": csrf, "current": PASSWORDS[ALICE],
                                            "new": "alice1", "again": "alice1"})
    assert r.status == 400 and "password refused" in page
    # the current password again: one of the last 5, refused (issue 17 item 4)
    r, page = c.post("/account/password", {"csrf": csrf, "current": PASSWORDS[ALICE],
                                            "new": PASSWORDS[ALICE], "again": PASSWORDS[ALICE]})
    assert r.status == 400 and "repeats one of its last 5 passwords" in page
    # a second session of alice (another browser; the thief's, say)
    other = Client(s)
    token = other.login_token("/account")
    r, _ = other.post("/account/login", {"login_token": token, "address": ALICE,
                                          "password": PASSWORDS[ALICE]})
    assert r.status == 303 and 'action="/account/password"' in other.get("/account")[1]
    new = "Violet-Canyon-62"
    r, page = c.post("/account/password", {"csrf": csrf, "current": PASSWORDS[ALICE],
                                            "new": new, "again": new})
    assert r.status == 200 and "Password changed" in page
    # the change ends alice's other sessions, not this one
    r, page = other.get("/account")
    assert 'action="/account/login"' in page and 'action="/account/password"' not in page
    assert 'action="/account/password"' in c.get("/account")[1]
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=10) as smtp:
        smtp.starttls(context=__import__("conftest").tls_client_context())
        assert smtp.login(ALICE, new)[0] == 235

    # 2FA enrolment with a QR code as inline SVG
    r, page = c.post("/account/2fa", {"csrf": csrf})
    assert r.status == 200 and "<svg" in page
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", page).group(1)
    r, page = c.post("/account/2fa/confirm", {"csrf": csrf, "code": "000000"})
    assert r.status == 400
    r, page = c.post("/account/2fa/confirm", {"csrf": csrf, "code": totp(secret)})
    assert r.status == 200 and "2FA is on" in page
    # app passwords
    r, page = c.post("/account/app-password/add", {"csrf": csrf, "label": "phone <x>"})
    assert r.status == 200 and "phone &lt;x&gt;" in page
    pw = re.search(r"\): ([a-z0-9]{4}(?:-[a-z0-9]{4}){3})", page).group(1)
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=10) as smtp:
        smtp.starttls(context=__import__("conftest").tls_client_context())
        assert smtp.login(ALICE, pw)[0] == 235
    r, page = c.post("/account/app-password/revoke", {"csrf": csrf, "label": "phone <x>"})
    assert r.status == 200 and "revoked" in page
    # with 2FA on, the account login needs the code
    c2 = Client(s)
    token = c2.login_token("/account")
    r, _ = c2.post("/account/login", {"login_token": token, "address": ALICE, "password": new})
    assert r.status == 401
    token = c2.login_token("/account")
    r, _ = c2.post("/account/login", {"login_token": token, "address": ALICE, "password": new,
                                       "code": totp(secret)})
    assert r.status == 303
