"""Admin actions are accountable (issue 17 item 4): every account, ban,
queue and quarantine action records who did it — the user running floodctl
(SUDO_USER under sudo), "api" for the bearer-token API — in the log (one
line event=admin_action) and in the store's audit table, and `floodctl audit
list` shows it with times in UTC ISO 8601."""
import json
import re
import time

from conftest import ctl_log, message, smtp_send
import test_web as web


def audit(s, *args):
    return json.loads(s.ctl("audit", "list", "--json", *args).stdout)


def test_actions_are_recorded_with_who_what_and_how_many(make_server, monkeypatch):
    s = web.web_server(make_server)
    ids = [smtp_send(s.ports["mx"], "bulk@remote.test", [f"v{i}@far.test"], message(f"a {i}"),
                     source="127.0.0.3") for i in range(3)]
    # provisioning was recorded too: domain, users and aliases added
    before = audit(s)
    assert [r["action"] for r in before] == ["domain.add", "user.add", "user.add", "alias.add",
                                             "alias.add", "alias.add"]

    monkeypatch.setenv("SUDO_USER", "carol")
    s.ctl("ban", "add", "127.0.0.9", "--reason", "test ban")
    s.ctl("user", "suspend", "bob@example.test")
    s.ctl("queue", "hold", "--from", "bulk@remote.test")
    s.ctl("user", "list")  # a listing is no action
    monkeypatch.delenv("SUDO_USER")
    r, body = web.post(s, f"/api/v1/queue/release?id={ids[0]}")
    assert r.status == 200, body

    rows = audit(s)[len(before):]
    got = [(r["admin"], r["action"], r["count"]) for r in rows]
    assert got == [("carol", "ban.add", 1), ("carol", "user.suspend", 1),
                   ("carol", "queue.hold", 3), ("api", "queue.release", 1)], rows
    assert rows[0]["selection"] == "127.0.0.9 --reason test ban"
    assert rows[1]["selection"] == "bob@example.test"
    assert json.loads(rows[2]["selection"]) == {"from": "bulk@remote.test"}
    for r in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["at"]), r

    log = ctl_log(s)
    assert 'event=admin_action admin=carol action=ban.add selection="127.0.0.9 --reason test ban"' \
        ' count=1' in log, log[-3000:]
    assert "event=admin_action admin=api action=queue.release" in log

    # --since: an ISO time after the last row, or a duration back from now
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert audit(s, "--since", later) == []
    assert len(audit(s, "--since", "1h")) == len(before) + 4
    table = s.ctl("audit", "list").stdout
    assert "carol" in table and "queue.hold" in table and "Time (UTC)" in table
    r = s.ctl("audit", "list", "--since", "yesterday", check=False)
    assert r.returncode == 2 and "--since" in r.stderr


def test_a_null_sender_selection_is_recorded_as_chosen(make_server):
    """`queue hold --from '<>'` selects the bounces (the null sender): its
    audit row says so, {"from": ""}, not an empty selection that reads as
    "every message"."""
    s = make_server().start().provision()
    smtp_send(s.ports["mx"], "", ["v@far.test"], message("a bounce"), source="127.0.0.3")
    smtp_send(s.ports["mx"], "bulk@remote.test", ["w@far.test"], message("not one"),
              source="127.0.0.3")
    s.ctl("queue", "hold", "--from", "<>")
    [row] = [r for r in audit(s) if r["action"] == "queue.hold"]
    assert row["count"] == 1, row
    assert json.loads(row["selection"]) == {"from": ""}, row
