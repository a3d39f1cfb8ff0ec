"""The web admin's actions beyond the queue's (issue 16 item 4), over HTTP:
release and dismiss an incident, add and lift a ban, the queue grouped
(by authenticated sender, sender, client IP, recipient domain) with links
that filter it and bulk actions on what a filter selects, the dashboard,
and the end of an admin session after web.session_idle without a request
or web.session_lifetime after the login (the daemon's test clock)."""
import html
import json
import re

from conftest import PASSWORDS, RawClient, advance_clock, message, smtp_send, wait_log
from test_incidents import held_message, seed_incident
from webadmin import Client, web_admin_server

ALICE = "alice@example.test"


def ctl_json(s, *args):
    return json.loads(s.ctl(*args, "--json").stdout)


def queue_rows(s, *args):
    out = ctl_json(s, "queue", "list", *args)
    return out["messages"] if isinstance(out, dict) else out


def audit(s):
    return ctl_json(s, "audit", "list")


def logged_in(s):
    c = Client(s)
    r, _ = c.login()
    assert r.status == 303
    return c


def test_incident_release_and_dismiss_buttons(make_server):
    s = web_admin_server(make_server)
    qid = held_message(s)
    s.ctl("resume", "delivery")
    iid = seed_incident(s, ALICE, actions=[("ban", "127.0.0.66"),
                                           ("alert", "<script>alert(1)</script>")])
    s.ctl("ban", "add", "127.0.0.66", "--reason", "incident")
    other = seed_incident(s, ALICE)
    c = logged_in(s)
    r, page = c.get(f"/admin/incident?id={iid}")
    assert r.status == 200
    # the evidence is shown, escaped
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'action="/admin/incident/action"' in page and 'value="release"' in page

    # no CSRF token: 403, and nothing changed
    r, page = c.post("/admin/incident/action", {"id": str(iid), "action": "release"})
    assert r.status == 403 and "CSRF" in page
    assert ctl_json(s, "incident", "show", str(iid))["state"] == "contained"

    csrf = c.csrf(f"/admin/incident?id={iid}")
    r, page = c.post("/admin/incident/action", {"csrf": csrf, "id": str(iid),
                                                 "action": "explode"})
    assert r.status == 400 and "release or dismiss" in page
    r, page = c.post("/admin/incident/action", {"csrf": csrf, "id": "x", "action": "release"})
    assert r.status == 400 and "incident number" in page
    r, page = c.post("/admin/incident/action", {"csrf": csrf, "id": "999",
                                                 "action": "release"})
    assert r.status == 404 and "no incident 999" in page

    r, _ = c.post("/admin/incident/action", {"csrf": csrf, "id": str(iid), "action": "release"})
    assert r.status == 303
    where = r.getheader("Location")
    assert where.startswith(f"/admin/incident?id={iid}&done=")
    # what floodctl incident release does: state, held message out, ban lifted
    inc = ctl_json(s, "incident", "show", str(iid))
    assert inc["state"] == "released" and inc["closed_by"] == "ops"
    assert qid not in {m["id"] for m in queue_rows(s, "--state", "held")}
    assert "127.0.0.66" not in {b["ip"] for b in ctl_json(s, "ban", "list")}
    assert any(a["action"] == "incident.release" and a["admin"] == "ops" for a in audit(s))
    r, page = c.get(where)
    assert f"incident {iid} released: 1 held messages released" in page
    assert 'value="release"' not in page  # closed: no buttons
    # again: 409, in words
    r, page = c.post("/admin/incident/action", {"csrf": csrf, "id": str(iid),
                                                 "action": "dismiss"})
    assert r.status == 409 and "already released" in page

    r, _ = c.post("/admin/incident/action", {"csrf": csrf, "id": str(other),
                                              "action": "dismiss"})
    assert r.status == 303
    assert ctl_json(s, "incident", "show", str(other))["state"] == "dismissed"
    wait_log(s, rf"event=incident id={other} .*state=dismissed admin=\"?ops")


def test_bans_page_add_and_lift(make_server):
    s = web_admin_server(make_server)
    c = logged_in(s)
    r, page = c.get("/admin/bans")
    assert r.status == 200 and 'action="/admin/bans/add"' in page
    csrf = c.csrf("/admin/bans")
    r, _ = c.post("/admin/bans/add", {"ip": "127.0.0.9", "duration": "2h"})
    assert r.status == 403
    # bad input: 400 and floodctl's precise words, never a 500
    for form, words in (({"ip": "mail.example.com"}, "'mail.example.com' is not an IP address "
                         "or a CIDR network"),
                        ({"ip": "127.0.0.0/33"}, "is not an IP address or a CIDR network"),
                        ({"ip": ""}, "ip: give an IP address or a CIDR network"),
                        ({}, "ip: give an IP address or a CIDR network"),
                        ({"ip": "127.0.0.9", "duration": "soon"},
                         "give a duration such as 30m, 12h, 7d"),
                        ({"ip": "127.0.0.9", "duration": "99999d"}, "at most ten years")):
        r, page = c.post("/admin/bans/add", {"csrf": csrf, **form})
        assert r.status == 400, (form, r.status, page)
        assert words in html.unescape(page), (form, page)
    assert ctl_json(s, "ban", "list") == []

    r, _ = c.post("/admin/bans/add", {"csrf": csrf, "ip": "127.0.0.9", "duration": "2h",
                                       "reason": "probe <b>"})
    assert r.status == 303 and r.getheader("Location").startswith("/admin/bans?done=")
    done = r.getheader("Location")
    r, _ = c.post("/admin/bans/add", {"csrf": csrf, "ip": "127.0.1.77/24", "duration": "",
                                       "reason": ""})
    assert r.status == 303
    bans = {b["ip"]: b for b in ctl_json(s, "ban", "list")}
    assert set(bans) == {"127.0.0.9", "127.0.1.0/24"}  # the network's one spelling
    assert bans["127.0.0.9"]["reason"] == "probe <b>" and bans["127.0.0.9"]["created_by"] == "ops"
    assert bans["127.0.1.0/24"]["reason"] == "banned by the administrator"
    # the daemon was told: the banned address is refused at once
    smtp = RawClient(s.ports["mx"], source="127.0.0.9", greet=False)
    assert smtp.reply()[0] == 421
    smtp.close()
    r, page = c.get(done)
    assert "probe &lt;b&gt;" in page and "probe <b>" not in page
    assert "127.0.0.9 banned" in page

    r, page = c.post("/admin/bans/del", {"csrf": csrf, "ip": "not-an-ip"})
    assert r.status == 400 and "'not-an-ip' is not an IP address" in html.unescape(page)
    r, page = c.post("/admin/bans/del", {"csrf": csrf, "ip": "127.0.0.10"})
    assert r.status == 404 and "127.0.0.10 is not banned" in page
    r, _ = c.post("/admin/bans/del", {"csrf": csrf, "ip": "127.0.0.9"})
    assert r.status == 303
    assert {b["ip"] for b in ctl_json(s, "ban", "list")} == {"127.0.1.0/24"}
    actions = [(a["action"], a["admin"]) for a in audit(s)]
    assert actions.count(("ban.add", "ops")) == 2 and ("ban.del", "ops") in actions
    # the audit trail has the selection, never the form's CSRF token
    assert all(csrf not in json.dumps(a) for a in audit(s))
    smtp = RawClient(s.ports["mx"], source="127.0.0.9")  # lifted: greeted again
    assert smtp.greeting[0] == 220
    smtp.close()


def test_queue_group_by_links_and_bulk_actions(make_server):
    s = web_admin_server(make_server)
    # from the trusted 127.0.0.3 and from alice (authenticated, 127.0.0.1),
    # to domains no resolver answers: they stay queued
    for i in range(3):
        smtp_send(s.ports["mx"], "spammer@remote.test", [f"x{i}@far.test"],
                  message(f"spam {i}"), source="127.0.0.3")
    smtp_send(s.ports["submission"], ALICE, ["y@near.test"], message("fine", sender=ALICE),
              starttls=True, login=(ALICE, PASSWORDS[ALICE]))
    assert len(queue_rows(s)) == 4
    c = logged_in(s)

    r, page = c.get("/admin/queue?group=ip")
    assert r.status == 200
    rows = re.findall(r'<a href="([^"]+)">([^<]+)</a></td><td>(\d+)</td>', page)
    assert {(text, int(n)) for _, text, n in rows} == {("127.0.0.3", 3), ("127.0.0.1", 1)}
    link = next(h for h, text, _ in rows if text == "127.0.0.3").replace("&amp;", "&")
    assert link == "/admin/queue?ip=127.0.0.3"

    r, page = c.get("/admin/queue?group=rcpt-domain")
    counts = {t: int(n) for _, t, n in
              re.findall(r'<a href="([^"]+)">([^<]+)</a></td><td>(\d+)</td>', page)}
    assert counts == {"far.test": 3, "near.test": 1}
    r, page = c.get("/admin/queue?group=from&ip=127.0.0.3")  # a group within a filter
    rows = re.findall(r'<a href="([^"]+)">([^<]+)</a></td><td>(\d+)</td>', page)
    assert [(t, int(n)) for _, t, n in rows] == [("spammer@remote.test", 3)]
    assert rows[0][0] == "/admin/queue?ip=127.0.0.3&amp;from=spammer%40remote.test"
    r, page = c.get("/admin/queue?group=auth-user")
    assert re.search(r'href="/admin/queue\?unauthenticated=1">\(none\)</a></td><td>3<', page)
    assert re.search(r'href="/admin/queue\?auth_user=alice%40example.test">alice@example.test'
                     r'</a></td><td>1<', page), page
    r, page = c.get("/admin/queue?group=colour")
    assert r.status == 400 and "auth-user, from, ip or rcpt-domain" in page

    # the group's link filters the queue; a selection there acts on it
    r, page = c.get(link)
    listed = set(re.findall(r'name="id" value="([0-9A-F]{16})"', page))
    spam = {m["id"] for m in queue_rows(s) if m["client_ip"] == "127.0.0.3"}
    assert listed == spam
    csrf = c.csrf(link)
    one = sorted(listed)[0]
    r, _ = c.post("/admin/queue/action", {"csrf": csrf, "action": "hold", "id": [one]})
    assert r.status == 303
    assert {m["id"] for m in queue_rows(s, "--state", "held")} == {one}
    # every message the filter selects, not only the ticked ones
    assert 'name="match" value="all"' in page and 'name="ip" value="127.0.0.3"' in page
    r, _ = c.post("/admin/queue/action", {"csrf": csrf, "action": "hold", "match": "all",
                                           "ip": "127.0.0.3"})
    assert r.status == 303
    notice = re.search(r'<p class="ok">([^<]*)</p>', c.get(r.getheader("Location"))[1])
    assert notice and notice.group(1) == "hold: 2 messages", notice  # one was held already
    assert {m["id"] for m in queue_rows(s, "--state", "held")} == spam
    # "all" without a filter would be the whole queue: refused
    r, page = c.post("/admin/queue/action", {"csrf": csrf, "action": "release",
                                              "match": "all"})
    assert r.status == 400 and "Filter the queue first" in page
    r, page = c.post("/admin/queue/action", {"csrf": csrf, "action": "release",
                                              "match": "all", "unauthenticated": "0"})
    assert r.status == 400
    r, _ = c.post("/admin/queue/action", {"csrf": csrf, "action": "release", "match": "all",
                                           "rcpt_domain": "far.test"})
    assert r.status == 303 and queue_rows(s, "--state", "held") == []
    assert any(a["action"] == "queue.release" and a["admin"] == "ops" and a["count"] == 3
               for a in audit(s))


def test_dashboard_shows_queue_incidents_and_server(make_server):
    s = web_admin_server(make_server)
    smtp_send(s.ports["mx"], "someone@remote.test", ["x@far.test"], message("queued"),
              source="127.0.0.3")
    iid = seed_incident(s, ALICE)
    c = logged_in(s)
    r, page = c.get("/admin/")
    assert r.status == 200
    queue = page.split("<h2>Queue by state</h2>")[1].split("<h2>")[0]
    assert re.search(r"<dt>messages</dt><dd>1</dd>", queue), queue
    incidents = page.split("<h2>Open incidents</h2>")[1].split("<h2>")[0]
    assert f"<td>{iid}</td>" in incidents and ALICE in incidents
    server = page.split("<h2>Server</h2>")[1]
    assert "<dt>uptime</dt>" in server and "<dt>messages_accepted</dt><dd>1</dd>" in server
    assert "<h2>Rates</h2><dl>" in page


def test_admin_session_ends_after_idle_time(make_server):
    s = web_admin_server(make_server, web_extra="session_idle = 60;", daemon_args=("-T",))
    c = logged_in(s)
    assert c.get("/admin/")[0].status == 200
    advance_clock(s, 50)
    assert c.get("/admin/")[0].status == 200  # a request: idle from now on
    advance_clock(s, 50)
    assert c.get("/admin/")[0].status == 200
    advance_clock(s, 61)
    r, _ = c.get("/admin/")
    assert r.status == 303 and r.getheader("Location") == "/"
    wait_log(s, r"event=web_session_end who=ops reason=idle")
    r, _ = c.get("/api/v1/status")
    assert r.status == 401


def test_admin_session_ends_after_its_lifetime(make_server):
    s = web_admin_server(make_server, web_extra="session_idle = 600; session_lifetime = 900;",
                         daemon_args=("-T",))
    c = logged_in(s)
    advance_clock(s, 500)
    assert c.get("/admin/")[0].status == 200
    advance_clock(s, 390)  # 890 s since the login
    assert c.get("/admin/")[0].status == 200
    advance_clock(s, 20)  # 910 s: busy, but too old
    r, _ = c.get("/admin/")
    assert r.status == 303 and r.getheader("Location") == "/"
    wait_log(s, r"event=web_session_end who=ops reason=lifetime")


def test_session_kill_and_user_expire_from_the_pages(make_server):
    """The sessions' Kill and the users' Expire buttons run the API's
    operations (floodctl session kill, user expire), audited by name."""
    s = web_admin_server(make_server)
    smtp = RawClient(s.ports["mx"])
    smtp.ehlo()
    [mine] = [x for x in ctl_json(s, "session", "list") if x["listener"] == "mx"]
    c = logged_in(s)
    r, page = c.get("/admin/sessions")
    assert r.status == 200
    assert f'action="/admin/sessions/kill"><input type="hidden" name="csrf"' in page
    assert f'name="id" value="{mine["id"]}"' in page
    csrf = c.csrf("/admin/sessions")
    r, page = c.post("/admin/sessions/kill", {"csrf": csrf, "id": "x"})
    assert r.status == 400 and "session number" in page
    r, _ = c.post("/admin/sessions/kill", {"csrf": csrf, "id": str(mine["id"])})
    assert r.status == 303
    assert "sessions ended: 1" in c.get(r.getheader("Location"))[1]
    assert smtp.reply()[0] == 421
    smtp.close()

    r, page = c.post("/admin/users/action", {"csrf": csrf, "address": "nobody@example.test",
                                              "action": "expire"})
    assert r.status == 404 and "nobody@example.test" in page
    r, _ = c.post("/admin/users/action", {"csrf": csrf, "address": ALICE, "action": "expire"})
    assert r.status == 303
    assert ctl_json(s, "user", "show", ALICE)["password_expired"] is True
    actions = {(a["action"], a["admin"]) for a in audit(s)}
    assert {("session.kill", "ops"), ("user.expire", "ops")} <= actions
