"""The embedded HTTP server (issue 16, first part): /metrics in the
Prometheus text format and the read-only JSON API under /api/v1/, each
behind its bearer token, over plain HTTP and over implicit TLS; and what
the server does with requests it does not serve."""
import http.client
import json
import re
import socket
import ssl
import time

import pytest

from conftest import (free_port, message, smtp_send, tls_client_context, wait_port,
                      check_config)

METRICS_TOKEN = "m" * 24
API_TOKEN = "a1b2c3d4e5f6a7b8c9d0e1f2"


def web_server(make_server, tls="none", api=True, metrics_token=True):
    port = free_port()
    keys = f'address = "127.0.0.1:{port}"; tls = "{tls}";'
    if metrics_token:
        keys += f' metrics_token = "{METRICS_TOKEN}";'
    if api:
        keys += f' api_token = "{API_TOKEN}";'
    s = make_server(extra=f"web = {{ {keys} }};").start().provision()
    wait_port("127.0.0.1", port)
    s.web_port = port
    return s


def get(s, path, token=None, method="GET", tls=False):
    if tls:
        conn = http.client.HTTPSConnection("127.0.0.1", s.web_port, timeout=30,
                                           context=tls_client_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", s.web_port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request(method, path, headers=headers)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r, body


def samples(text):
    """{(name, labels): value} of a Prometheus text page; every line checked."""
    out = {}
    families = set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            families.add(line.split()[2])
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)', line)
        assert m, f"not a Prometheus sample line: {line!r}"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out, families


def test_metrics_need_the_token_and_count_what_happened(make_server):
    s = web_server(make_server)
    r, body = get(s, "/metrics")
    assert r.status == 401
    assert r.getheader("WWW-Authenticate", "").startswith("Bearer")
    r, body = get(s, "/metrics", token="wrong-token-of-length-24")
    assert r.status == 401

    r, body = get(s, "/metrics", token=METRICS_TOKEN)
    assert r.status == 200
    assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    before, families = samples(body)
    assert before[("floodgate_up", "")] == 1
    assert "floodgate_messages_accepted_total" in families
    assert "floodgate_queue_recipients" in families

    for i in range(3):
        smtp_send(s.ports["mx"], "someone@remote.test", ["alice@example.test"],
                  message(f"metrics {i}"))
    r, body = get(s, "/metrics", token=METRICS_TOKEN)
    after, _ = samples(body)
    mx = '{listener="mx",authenticated="false"}'
    assert after[("floodgate_messages_accepted_total", mx)] == \
        before.get(("floodgate_messages_accepted_total", mx), 0) + 3
    assert after[("floodgate_smtp_connections_total", '{listener="mx"}')] >= 3
    assert after[("floodgate_store_up", "")] == 1


def test_metrics_without_a_token_are_open(make_server):
    s = web_server(make_server, metrics_token=False, api=False)
    r, body = get(s, "/metrics")
    assert r.status == 200
    assert samples(body)[0][("floodgate_up", "")] == 1
    # without web.api_token the API is only for administrators logged in
    # to the web admin (test_web_admin.py), whatever the request carries
    r, body = get(s, "/api/v1/status", token=API_TOKEN)
    assert r.status == 401
    assert "api_token" in json.loads(body)["error"]


def test_api_answers_what_floodctl_answers(make_server):
    s = web_server(make_server)
    # from the trusted 127.0.0.3 to a domain no resolver answers for: both stay queued
    smtp_send(s.ports["mx"], "someone@remote.test", ["x@far.test"], message("api one"),
              source="127.0.0.3")
    smtp_send(s.ports["mx"], "other@remote.test", ["y@far.test"], message("api two"),
              source="127.0.0.3")

    r, body = get(s, "/api/v1/status")
    assert r.status == 401
    r, body = get(s, "/api/v1/status", token=METRICS_TOKEN)  # the other token is no key
    assert r.status == 401

    r, body = get(s, "/api/v1/status", token=API_TOKEN)
    assert r.status == 200 and r.getheader("Content-Type") == "application/json"
    status = json.loads(body)["result"]
    assert status["messages_accepted"] >= 2

    r, body = get(s, "/api/v1/queue?from=someone@remote.test", token=API_TOKEN)
    assert r.status == 200
    listed = json.loads(body)["result"]
    cli = json.loads(s.ctl("queue", "list", "--from", "someone@remote.test", "--json").stdout)
    ids = lambda rows: sorted(m["id"] for m in (rows["messages"] if isinstance(rows, dict)
                                                 else rows))
    assert ids(listed) == ids(cli) and len(ids(listed)) == 1

    r, body = get(s, "/api/v1/queue?limit=x", token=API_TOKEN)
    assert r.status == 400 and "limit" in json.loads(body)["error"]
    r, body = get(s, "/api/v1/../../etc/passwd", token=API_TOKEN)
    assert r.status == 404
    r, body = get(s, "/api/v1/queue", token=API_TOKEN, method="DELETE")
    assert r.status == 405


def test_implicit_tls(make_server):
    s = web_server(make_server, tls="implicit")
    r, body = get(s, "/metrics", token=METRICS_TOKEN, tls=True)
    assert r.status == 200 and "floodgate_up 1" in body
    # plain HTTP on the TLS port gets no answer in clear text
    with socket.create_connection(("127.0.0.1", s.web_port), timeout=10) as c:
        c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = c.recv(4096)
    assert b"floodgate_up" not in data


def test_a_stalled_http_client_does_not_stall_smtp(make_server):
    """Connections that never finish their request hold HTTP threads only:
    SMTP and the other HTTP clients are served meanwhile."""
    s = web_server(make_server)
    stalled = []
    for _ in range(5):
        c = socket.create_connection(("127.0.0.1", s.web_port), timeout=10)
        c.sendall(b"GET /metr")
        stalled.append(c)
    smtp_send(s.ports["mx"], "someone@remote.test", ["alice@example.test"], message("busy web"))
    r, body = get(s, "/metrics", token=METRICS_TOKEN)
    assert r.status == 200
    for c in stalled:
        c.close()


def test_reload_takes_new_tokens(make_server):
    s = web_server(make_server)
    new = "n" * 30
    s.conf.write_text(s.conf.read_text().replace(METRICS_TOKEN, new))
    s.ctl("reload")
    r, _ = get(s, "/metrics", token=METRICS_TOKEN)
    assert r.status == 401
    r, _ = get(s, "/metrics", token=new)
    assert r.status == 200


@pytest.mark.parametrize("keys, complaint", [
    ('address = "127.0.0.1";', "web.address"),
    ('address = "127.0.0.1:8080"; tls = "maybe";', "web.tls"),
    ('address = "127.0.0.1:8080"; metrics_token = "short";', "web.metrics_token"),
    ('tls = "none";', "web.address"),
    ('address = "127.0.0.1:8080"; colour = "red";', "web.colour"),
    ('address = "127.0.0.1:8080"; session_lifetime = 10;', "web.session_lifetime"),
])
def test_bad_web_config_names_the_key(make_server, keys, complaint):
    s = make_server(extra=f"web = {{ {keys} }};")
    rc, out, err = check_config(s.conf)
    assert rc != 0
    assert complaint in err and "floodgate.conf:" in err


def post(s, path, token=API_TOKEN, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", s.web_port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read().decode()
    conn.close()
    return r, json.loads(data)


def test_api_actions_on_the_queue(make_server):
    """POST /api/v1/queue/ACTION runs the action floodctl runs, on the same
    selection, logged with admin=api, and the daemon sees the change."""
    s = web_server(make_server)
    spam = [smtp_send(s.ports["mx"], "bulk@remote.test", [f"v{i}@far.test"],
                      message(f"spam {i}"), source="127.0.0.3") for i in range(3)]
    keep = smtp_send(s.ports["mx"], "friend@remote.test", ["x@far.test"], message("keep"),
                     source="127.0.0.3")

    r, body = post(s, "/api/v1/queue/hold?from=bulk@remote.test", token=None)
    assert r.status == 401
    r, body = post(s, "/api/v1/queue/hold")
    assert r.status == 400 and "select" in body["error"]
    r, body = post(s, "/api/v1/queue/hold?from=bulk@remote.test", body=b"x" * 10)
    assert r.status == 413

    r, body = post(s, "/api/v1/queue/hold?from=bulk@remote.test&reason=spam%20run")
    assert r.status == 200, body
    assert body["result"] == {"action": "hold", "messages": 3}
    held = json.loads(s.ctl("queue", "list", "--state", "held", "--json").stdout)
    rows = held["messages"] if isinstance(held, dict) else held
    assert sorted(m["id"] for m in rows) == sorted(spam)
    log = s.log() + (s.state / "floodgate.log").read_text(errors="replace") \
        if (s.state / "floodgate.log").exists() else s.log()
    assert re.search(rf"event=queue_hold qid={spam[0]} .*admin=api", log), log[-2000:]

    r, body = post(s, f"/api/v1/queue/release?id={spam[0].lower()}")
    assert body["result"] == {"action": "release", "messages": 1}

    r, body = post(s, "/api/v1/queue/purge?state=held")
    assert r.status == 400 and "confirm=yes" in body["error"]
    r, body = post(s, "/api/v1/queue/purge?state=held&confirm=yes")
    assert body["result"] == {"action": "purge", "messages": 2}
    left = json.loads(s.ctl("queue", "list", "--json").stdout)
    rows = left["messages"] if isinstance(left, dict) else left
    assert sorted(m["id"] for m in rows) == sorted([spam[0], keep])

    r, body = post(s, "/api/v1/queue/explode?all=1")
    assert r.status == 404
    r, body = post(s, "/metrics")
    assert r.status == 405
