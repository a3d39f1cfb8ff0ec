"""The alerts' webhook and command hook (issue 14 item 7; docs/detector.md,
"Alerts"; alerts { } in floodgate.conf(5)), with the real daemon: an
infected PC of the LAN (as in test_detector.py) opens an incident, and

- a loopback HTTP receiver gets a JSON POST with the incident as
  `floodctl incident show --json` prints it and the Bearer token;
- a receiver that stalls, a port that refuses, a receiver that answers
  500 cost a logged failure (bounded retries) and no SMTP session waits;
- the command hook gets the same document on its stdin and FLOODGATE_*
  variables, its exit status is logged, one that hangs is killed;
- alerts.min_interval holds for the hooks as for the mail;
- config errors name the file, the line and the key."""
import json
import os
import re
import smtplib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import PASSWORDS, check_config, conf_line, message, tls_client_context, wait_log
from netfixtures import net, wait_for  # noqa: F401
from test_detector import LAN_PC, ctl_json, detector_server, lan_pc_spam

ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Receiver:
    """A webhook receiver on 127.0.0.1 (http.server in a thread): keeps
    every POST (headers and JSON body) and answers STATUS."""

    def __init__(self, status=200):
        self.posts = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.posts.append({"path": self.path, "headers": dict(self.headers),
                                    "json": json.loads(body)})
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def events(self):
        return [p["json"]["event"] for p in self.posts]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Staller:
    """A webhook receiver that takes the connection and never answers
    until released: the hook's thread is stuck in its POST meanwhile."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.got = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            self.got.set()

    def release(self):
        """Close everything: the POST under way ends without an answer and
        the next attempts are refused (shutdown first: a close alone leaves
        the socket listening while the accepting thread is in accept())."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


def refused_port():
    """A loopback port where nothing listens (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hooks(**keys):
    """alerts { } with the hooks' KEYS (and no mail)."""
    body = " ".join(f"{k} = {json.dumps(v) if isinstance(v, str) else v};"
                    for k, v in keys.items())
    return f"alerts = {{ {body} }};"


def incident_of(s):
    [inc] = wait_for(lambda: ctl_json(s, "incident", "list"), what="an incident")
    return inc


def alice_sends(s, subject="During the alert"):
    """Another user's session, from another address, while the hook runs:
    every reply is the usual one."""
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
        c.starttls(context=tls_client_context())
        c.login(*ALICE)
        refused = c.sendmail(ALICE[0], ["bob@example.test"],
                             message(subject, sender=ALICE[0], to="bob@example.test"))
        assert refused == {}
    s.wait_delivered("bob@example.test", 1, timeout=30)


def test_webhook_posts_the_incident(make_server, net):
    rx = Receiver()
    try:
        s, _ = detector_server(make_server, net, alerts=hooks(
            webhook_url=f"http://127.0.0.1:{rx.port}/floodgate/hook",
            webhook_token="Tok-3f9a.b_c~d", min_interval=0))
        lan_pc_spam(s)
        inc = incident_of(s)
        first = wait_for(lambda: rx.posts, what="the webhook's POST")[0]
        assert first["path"] == "/floodgate/hook"
        assert first["headers"]["Authorization"] == "Bearer Tok-3f9a.b_c~d"
        assert first["headers"]["Content-Type"] == "application/json"
        doc = first["json"]
        assert doc["event"] == "opened"
        assert doc["id"] == inc["id"] and doc["subject"] == f"ip:{LAN_PC}"
        assert doc["hostname"] == "mail.example.test" and ISO.match(doc["at"])
        shown = ctl_json(s, "incident", "show", str(inc["id"]))
        # the same document as floodctl incident show --json (read when it was sent)
        assert set(doc["incident"]) == set(shown)
        for k in ("id", "subject", "opened", "app_password"):
            assert doc["incident"][k] == shown[k], k
        assert doc["incident"]["state"] in ("open", "held")
        assert "alert" in [a["action"] for a in doc["incident"]["actions"]]
        wait_log(s, rf"event=alert_hook hook=webhook id={inc['id']} alert=opened status=200")
        # min_interval = 0: a climb to held after "opened" was told is told
        # too ("opened" may already show it held: then nothing more to say)
        wait_log(s, rf"event=incident id={inc['id']} subject=\S+ state=held")
        if doc["incident"]["state"] == "open":
            wait_for(lambda: "escalated" in rx.events(), what="the escalation")
        s.ctl("incident", "release", str(inc["id"]))
        wait_for(lambda: "released" in rx.events(), what="the release")
        released = rx.posts[-1]["json"]
        assert released["incident"]["state"] == "released"
        assert rx.events() in (["opened", "escalated", "released"], ["opened", "released"])
    finally:
        rx.close()


def test_rate_limit_holds_for_the_hooks(make_server, net):
    """min_interval = 300: the incident opens and climbs to held within the
    interval, so the hooks hear "opened" once; the release ends the
    incident and is always told.  The hook's thread sends in order: once
    the release arrived, nothing else can have been sent before it."""
    rx = Receiver()
    try:
        s, _ = detector_server(make_server, net, alerts=hooks(
            webhook_url=f"http://127.0.0.1:{rx.port}/", min_interval=300))
        lan_pc_spam(s)
        inc = incident_of(s)
        wait_log(s, rf"event=incident id={inc['id']} subject=\S+ state=held")
        wait_for(lambda: rx.posts, what="the first POST")
        s.ctl("incident", "dismiss", str(inc["id"]))
        wait_for(lambda: "dismissed" in rx.events(), what="the dismissal")
        assert rx.events() == ["opened", "dismissed"]
    finally:
        rx.close()


def test_a_stalled_webhook_stalls_no_session(make_server, net):
    st = Staller()
    s, _ = detector_server(make_server, net, alerts=hooks(
        webhook_url=f"http://127.0.0.1:{st.port}/", webhook_timeout=300, min_interval=0))
    # the PC's messages after the incident opened, and another user's, are
    # answered while the hook's POST hangs (it waits up to 300 s)
    ids = lan_pc_spam(s, count=20)
    assert st.got.wait(30), "the webhook never connected"
    inc = incident_of(s)
    lan_pc_spam(s, count=5)
    alice_sends(s)
    assert len(ids) == 20 and "event=alert_failed" not in s.log()
    assert ctl_json(s, "incident", "show", str(inc["id"]))["id"] == inc["id"]
    # the receiver goes: the POST fails, the retries are refused, logged
    st.release()
    wait_log(s, rf"event=alert_failed hook=webhook id={inc['id']} alert=opened attempt=1 "
                r"error=\S.* retry=yes")
    wait_log(s, rf"event=alert_failed hook=webhook id={inc['id']} alert=opened attempt=3 "
                r".*retry=no", timeout=30)


def test_a_refused_webhook_is_logged(make_server, net):
    s, _ = detector_server(make_server, net, alerts=hooks(
        webhook_url=f"http://127.0.0.1:{refused_port()}/hook", min_interval=0))
    lan_pc_spam(s)
    inc = incident_of(s)
    alice_sends(s)
    m = wait_log(s, rf"event=alert_failed hook=webhook id={inc['id']} alert=opened attempt=1 "
                    r"error=(\S.*) retry=yes")
    assert "onnect" in m.group(1), m.group(0)  # "Failed to connect ... Connection refused"
    wait_log(s, rf"event=alert_failed hook=webhook id={inc['id']} alert=opened attempt=3 "
                r".*retry=no", timeout=30)


def test_a_webhook_answering_500_is_tried_three_times(make_server, net):
    rx = Receiver(status=500)
    try:
        s, _ = detector_server(make_server, net, alerts=hooks(
            webhook_url=f"http://127.0.0.1:{rx.port}/", min_interval=300))
        lan_pc_spam(s)
        inc = incident_of(s)
        wait_log(s, rf"event=alert_failed hook=webhook id={inc['id']} alert=opened attempt=3 "
                    r'error="HTTP status 500" retry=no', timeout=30)
        assert rx.events() == ["opened"] * 3
        alice_sends(s)
    finally:
        rx.close()


SCRIPT = """#!/bin/sh
# a test's alert command: its stdin and its FLOODGATE_ variables, kept
cat > {out}/stdin.$FLOODGATE_EVENT
env | grep '^FLOODGATE_' | sort > {out}/env.$FLOODGATE_EVENT
[ "$FLOODGATE_EVENT" = released ] && exit 7
exit 0
"""


def command_script(s, text):
    """An executable script beside the server's config (readable by the
    daemon's user) and a directory it may write in."""
    out = s.dir / "hook-out"
    out.mkdir()
    os.chmod(out, 0o777)
    path = s.dir / "alert-hook"
    path.write_text(text.format(out=out))
    os.chmod(path, 0o755)
    return path, out


def test_command_hook_gets_the_incident_on_stdin(make_server, net):
    s, _ = detector_server(make_server, net, alerts=hooks(min_interval=300))
    path, out = command_script(s, SCRIPT)
    s.conf.write_text(s.conf.read_text().replace(
        "min_interval = 300;", f'min_interval = 300; command = "{path}";'))
    s.ctl("reload")  # the hook is taken at a reload too
    lan_pc_spam(s)
    inc = incident_of(s)
    doc = json.loads(wait_for(lambda: (out / "stdin.opened").exists() and
                              (out / "stdin.opened").read_text(), what="the command's stdin"))
    assert doc["event"] == "opened" and doc["id"] == inc["id"]
    assert set(doc["incident"]) == set(ctl_json(s, "incident", "show", str(inc["id"])))
    env = wait_for(lambda: (out / "env.opened").exists() and (out / "env.opened").read_text(),
                   what="the command's environment")
    state = doc["incident"]["state"]
    assert env.splitlines() == [
        "FLOODGATE_EVENT=opened",
        "FLOODGATE_HOSTNAME=mail.example.test",
        f"FLOODGATE_INCIDENT_ID={inc['id']}",
        f"FLOODGATE_STATE={state}",
        f"FLOODGATE_SUBJECT=ip:{LAN_PC}",
    ]
    wait_log(s, rf"event=alert_hook hook=command id={inc['id']} alert=opened exit=0")
    s.ctl("incident", "release", str(inc["id"]))
    wait_log(s, rf"event=alert_failed hook=command id={inc['id']} alert=released "
                r"command=\S+ exit=7")
    assert json.loads((out / "stdin.released").read_text())["incident"]["state"] == "released"


def test_a_hanging_command_is_killed(make_server, net):
    s, _ = detector_server(make_server, net, alerts=hooks(min_interval=300))
    path, out = command_script(s, "#!/bin/sh\ntouch {out}/started\nexec sleep 600\n")
    s.conf.write_text(s.conf.read_text().replace(
        "min_interval = 300;", f'min_interval = 300; command = "{path}"; command_timeout = 2;'))
    s.ctl("reload")
    lan_pc_spam(s, count=20)
    inc = incident_of(s)
    wait_for(lambda: (out / "started").exists(), what="the command to start")
    alice_sends(s)
    wait_log(s, rf"event=alert_failed hook=command id={inc['id']} alert=opened command=\S+ "
                r"error=timeout_killed timeout=2")
    # killed with its process group: no sleep 600 is left behind
    assert not [p for p in os.listdir("/proc") if p.isdigit() and
                _cmdline(p).startswith("sleep\0600")]


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read()
    except OSError:
        return ""


@pytest.mark.parametrize("keys,key,says", [
    ('webhook_url = "ftp://hooks.example.org/x";', "alerts.webhook_url",
     "the scheme must be http:// or https://"),
    ('webhook_url = "https:///path";', "alerts.webhook_url", "it names no host"),
    ('webhook_url = "https://a.example/x"; webhook_token = "two words";',
     "alerts.webhook_token", "without spaces"),
    ('webhook_token = "abc";', "alerts.webhook_token", "without alerts.webhook_url"),
    ('webhook_url = "http://127.0.0.1:1/"; webhook_timeout = 0;', "alerts.webhook_timeout", ""),
    ('command = "hooks/alert.sh";', "alerts.command", "is not an absolute path"),
    ('command = "/bin/echo hello";', "alerts.command", "without a shell"),
    ('command_timeout = 0;', "alerts.command_timeout", ""),
])
def test_config_errors_name_file_line_and_key(make_server, keys, key, says):
    s = make_server(extra=f"alerts = {{\n  min_interval = 60;\n  {keys}\n}};")
    rc, out, err = check_config(s.conf)
    assert rc != 0, out
    line = conf_line(s, keys)
    assert f"{os.path.realpath(s.conf)}:{line}: {key}: " in err, err
    assert says in err, err
