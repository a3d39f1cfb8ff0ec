"""The JSON API (issue 16 item 3): every listing and action floodctl has,
answered by the same implementation — bans, users, sessions, incidents,
one message of the queue or the quarantine, the quarantine's listing and
actions, the audit trail — with their status codes, JSON shapes, 401
without the token, and the daemon told after a change."""
import base64
import json

from conftest import PASSWORDS, RawClient, message, smtp_send
from test_incidents import seed_incident
import test_web as web

ROUTES = [("GET", p) for p in ("/api/v1/bans", "/api/v1/users", "/api/v1/sessions",
                               "/api/v1/incidents", "/api/v1/incidents/show?id=1",
                               "/api/v1/queue/show?id=X", "/api/v1/quarantine",
                               "/api/v1/quarantine/show?id=X", "/api/v1/audit")] + \
    [("POST", p) for p in ("/api/v1/bans/add?ip=127.0.0.9", "/api/v1/bans/del?all=1",
                           "/api/v1/users/suspend?address=bob@example.test",
                           "/api/v1/users/unsuspend?address=bob@example.test",
                           "/api/v1/users/expire?all=1", "/api/v1/sessions/kill?id=1",
                           "/api/v1/incidents/release?id=1", "/api/v1/incidents/dismiss?id=1",
                           "/api/v1/quarantine/release?all=1",
                           "/api/v1/quarantine/purge?all=1&confirm=yes")]


def api(s, path, method="GET"):
    if method == "POST":
        r, body = web.post(s, path)
        return r.status, body
    r, body = web.get(s, path, token=web.API_TOKEN)
    return r.status, json.loads(body)


def ctl_json(s, *args):
    return json.loads(s.ctl(*args, "--json").stdout)


def test_every_route_wants_the_token(make_server):
    s = web.web_server(make_server)
    for method, path in ROUTES:
        if method == "GET":
            r, _ = web.get(s, path)
        else:
            r, _ = web.post(s, path, token=None)
        assert r.status == 401, (method, path)
    assert ctl_json(s, "ban", "list") == []  # nothing was done
    assert not any(u["suspended"] for u in ctl_json(s, "user", "list"))


def test_bans(make_server):
    s = web.web_server(make_server)
    code, body = api(s, "/api/v1/bans/add?ip=127.0.0.9&duration=2h&reason=probe", "POST")
    assert code == 200, body
    assert body["result"]["ip"] == "127.0.0.9" and body["result"]["reason"] == "probe"
    code, body = api(s, "/api/v1/bans")
    assert code == 200 and body["result"] == ctl_json(s, "ban", "list")
    assert [b["ip"] for b in body["result"]] == ["127.0.0.9"]
    assert body["result"][0]["created_by"] == "api"
    # the daemon was told: the banned IP is refused at once
    c = RawClient(s.ports["mx"], source="127.0.0.9", greet=False)
    assert c.reply()[0] == 421
    c.close()
    code, body = api(s, "/api/v1/bans/add?ip=999.1.1.1", "POST")
    assert code == 400 and "not an IP address" in body["error"]
    code, body = api(s, "/api/v1/bans/add?ip=127.0.0.8&duration=soon", "POST")
    assert code == 400 and "duration" in body["error"]
    code, body = api(s, "/api/v1/bans/add", "POST")
    assert code == 400 and "ip" in body["error"]
    code, body = api(s, "/api/v1/bans/del?ip=127.0.0.9", "POST")
    assert code == 200 and body["result"] == {"lifted": ["127.0.0.9"]}
    code, body = api(s, "/api/v1/bans/del?ip=127.0.0.9", "POST")
    assert code == 404 and "is not banned" in body["error"]
    assert ctl_json(s, "ban", "list") == []


def test_users(make_server):
    s = web.web_server(make_server)
    code, body = api(s, "/api/v1/users")
    assert code == 200 and body["result"] == ctl_json(s, "user", "list")
    assert sorted(u["address"] for u in body["result"]) == sorted(PASSWORDS)
    code, body = api(s, "/api/v1/users?domain=nowhere.test")
    assert code == 200 and body["result"] == []

    # a live session of bob ends when bob is suspended
    c = RawClient(s.ports["submission"])
    c.ehlo()
    c.starttls()
    c.ehlo()
    cred = base64.b64encode(f"\0bob@example.test\0{PASSWORDS['bob@example.test']}".encode())
    assert c.cmd(b"AUTH PLAIN " + cred)[0] == 235
    code, body = api(s, "/api/v1/users/suspend?address=bob@example.test", "POST")
    assert code == 200 and body["result"] == {"address": "bob@example.test", "suspended": True}
    assert c.reply()[0] == 421
    c.close()
    bob = [u for u in ctl_json(s, "user", "list") if u["address"] == "bob@example.test"][0]
    assert bob["suspended"] is True
    code, body = api(s, "/api/v1/users/unsuspend?address=bob@example.test", "POST")
    assert code == 200 and body["result"]["suspended"] is False
    code, body = api(s, "/api/v1/users/suspend?address=nobody@example.test", "POST")
    assert code == 404, body
    code, body = api(s, "/api/v1/users/suspend", "POST")
    assert code == 400 and "address" in body["error"]
    code, body = api(s, "/api/v1/users/expire?address=alice@example.test", "POST")
    assert code == 200 and body["result"] == {"expired": 1}


def test_sessions(make_server):
    s = web.web_server(make_server)
    c = RawClient(s.ports["mx"])
    c.ehlo()
    code, body = api(s, "/api/v1/sessions")
    assert code == 200
    assert [x["id"] for x in body["result"]] == [x["id"] for x in ctl_json(s, "session", "list")]
    [mine] = [x for x in body["result"] if x["listener"] == "mx"]
    code, body = api(s, f"/api/v1/sessions/kill?id={mine['id']}", "POST")
    assert code == 200 and body["result"] == {"ended": 1}
    assert c.reply()[0] == 421
    c.close()
    code, body = api(s, "/api/v1/sessions/kill", "POST")
    assert code == 400
    code, body = api(s, "/api/v1/sessions/kill?id=x", "POST")
    assert code == 400


def test_incidents(make_server):
    s = web.web_server(make_server)
    s.ctl("ban", "add", "127.0.0.66")
    iid = seed_incident(s, "alice@example.test", actions=[("ban", "127.0.0.66")])
    code, body = api(s, "/api/v1/incidents")
    assert code == 200 and body["result"] == ctl_json(s, "incident", "list")
    assert [i["id"] for i in body["result"]] == [iid]
    code, body = api(s, f"/api/v1/incidents/show?id={iid}")
    assert code == 200 and body["result"] == ctl_json(s, "incident", "show", str(iid))
    code, body = api(s, "/api/v1/incidents/show?id=999")
    assert code == 404
    code, body = api(s, "/api/v1/incidents/show?id=abc")
    assert code == 400
    code, body = api(s, f"/api/v1/incidents/dismiss?id={iid}", "POST")
    assert code == 200, body
    r = body["result"]
    assert (r["id"], r["state"], r["unbanned"]) == (iid, "dismissed", ["127.0.0.66"])
    assert ctl_json(s, "ban", "list") == []
    code, body = api(s, f"/api/v1/incidents/release?id={iid}", "POST")
    assert code == 409 and "already dismissed" in body["error"]
    code, body = api(s, "/api/v1/incidents?all=1")
    assert [i["state"] for i in body["result"]] == ["dismissed"]


def test_queue_show_and_the_quarantine(make_server):
    s = web.web_server(make_server)
    qid = smtp_send(s.ports["mx"], "someone@remote.test", ["x@far.test"], message("api q"),
                    source="127.0.0.3")
    code, body = api(s, f"/api/v1/queue/show?id={qid.lower()}")
    assert code == 200 and body["result"]["id"] == qid
    cli = ctl_json(s, "queue", "show", qid)  # (a delivery attempt may come between)
    for key in ("id", "sender", "auth_user", "client_ip", "subject", "size", "listener"):
        assert body["result"][key] == cli[key], key
    code, body = api(s, "/api/v1/queue/show?id=0000000000000000")
    assert code == 404

    code, body = api(s, f"/api/v1/queue/quarantine?id={qid}&reason=looks%20bad", "POST")
    assert code == 200 and body["result"] == {"action": "quarantine", "messages": 1}
    code, body = api(s, "/api/v1/quarantine")
    assert code == 200 and body["result"] == ctl_json(s, "quarantine", "list")
    [m] = body["result"]
    assert m["id"] == qid and m["reason"] == "looks bad" and m["quarantined_by"] == "api"
    code, body = api(s, f"/api/v1/quarantine/show?id={qid}")
    assert code == 200 and body["result"]["reason"] == "looks bad"
    code, body = api(s, "/api/v1/quarantine/release", "POST")
    assert code == 400 and "select" in body["error"]
    code, body = api(s, f"/api/v1/quarantine/release?id={qid}", "POST")
    assert code == 200 and body["result"] == {"action": "unquarantine", "messages": 1}
    assert ctl_json(s, "quarantine", "list") == []

    # every action of this test is in the audit trail, by "api"
    code, body = api(s, "/api/v1/audit")
    mine = [(r["admin"], r["action"]) for r in body["result"] if r["admin"] == "api"]
    assert mine == [("api", "queue.quarantine"), ("api", "quarantine.release")]
