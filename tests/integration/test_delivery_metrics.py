"""floodgate_deliveries_total{result,mailer} on /metrics: each recorded
delivery attempt counts once per recipient, by its result and mailer."""
import re

from conftest import delivered_with, message, smtp_send, token, wait_log
import test_web as web


def deliveries(s):
    r, body = web.get(s, "/metrics", token=web.METRICS_TOKEN)
    assert r.status == 200, body
    out, families = web.samples(body)
    assert "floodgate_deliveries_total" in families
    return {labels: v for (name, labels), v in out.items() if name == "floodgate_deliveries_total"}


def series(counts, result, mailer):
    return sum(v for labels, v in counts.items()
               if f'result="{result}"' in labels and f'mailer="{mailer}"' in labels)


def test_recorded_deliveries_are_counted_by_result_and_mailer(make_server):
    s = web.web_server(make_server, api=False)
    before = deliveries(s)
    mark = token()
    qids = [smtp_send(s.ports["mx"], "someone@remote.test",
                      ["alice@example.test", "bob@example.test"], message(f"{mark} {i}"))
            for i in range(2)]
    delivered_with(s, "alice@example.test", mark, count=2)
    delivered_with(s, "bob@example.test", mark, count=2)
    for qid in qids:  # counted when the outcome is recorded, logged just then
        wait_log(s, rf"event=delivered qid={qid} rcpt=\"?bob")
        wait_log(s, rf"event=delivered qid={qid} rcpt=\"?alice")
    after = deliveries(s)
    assert series(after, "delivered", "maildir") == series(before, "delivered", "maildir") + 4
    assert series(after, "deferred", "maildir") == series(before, "deferred", "maildir")
    assert not any(re.search(r'mailer="smtp"', labels) for labels in after)
