"""A lost or broken store is refused, not replaced (issue 12, item 5), and
the evidence stays readable (item 7): floodctl quarantine show and export
read a message wherever it lives."""
import json

from conftest import message, quarantine_file, smtp_send, token
from test_queue_investigate import ctl_bytes

TRUSTED = "127.0.0.3"   # relay.allow_groups = ["trusted"] in the harness


def relay_waiting(s, subject):
    """A message for a remote domain: the harness' DNS is a dead port, so it
    waits in the queue.  Returns (qid, bytes sent)."""
    msg = message(subject, sender="app@example.test", to="far@remote.test")
    return smtp_send(s.ports["mx"], "app@example.test", "far@remote.test", msg,
                     source=TRUSTED), msg


def test_quarantine_show_and_export_read_the_quarantine_file(make_server):
    s = make_server().start().provision()
    subject = "evidence " + token()
    qid, msg = relay_waiting(s, subject)
    s.ctl("queue", "quarantine", qid, "--reason", "compromised")
    f = quarantine_file(s, qid)
    assert f.exists()
    text = s.ctl("quarantine", "show", qid).stdout
    assert "(no stored message)" not in text
    assert f"Subject: {subject}" in text
    shown = json.loads(s.ctl("quarantine", "show", qid, "--json").stdout)
    assert f"Subject: {subject}" in shown["headers"]
    # queue show finds it in quarantine too
    assert f"Subject: {subject}" in s.ctl("queue", "show", qid).stdout
    exported = ctl_bytes(s, "quarantine", "export", qid)
    assert exported == f.read_bytes() and exported.endswith(msg)
    # a queued message is not in quarantine
    other, _ = relay_waiting(s, "still queued")
    r = s.ctl("quarantine", "export", other, check=False)
    assert r.returncode == 1 and "no message" in r.stderr
