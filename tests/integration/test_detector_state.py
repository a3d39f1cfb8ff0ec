"""The detector's state survives a restart (issue 14 item 5): its windows,
baselines and known networks, saved in the store (saved_state
"detector") at shutdown, are read at start, and the restarted daemon
counts on from them — also from a state written in the format of the
build before new_recipients_per_hour (15 baselines a subject, no hourly
"strangers" window).

The run: mallory has a home network, then logs in from another network
after 3 wrong passwords and writes 12 messages to 24 strangers, each its
own text — identity evidence and some volume, no incident. The daemon
restarts. Up to 8 more messages (16 strangers) from the new network: alone they
are nothing (16 strangers in 10 minutes, the network the first one seen,
no failure known), but counted on from the saved state they are 40
strangers after 3 failures on a new network: an incident, whose figures
show the counts from before the restart and the threshold raised by the
saved baseline."""
import smtplib
import sqlite3

import pytest

from conftest import tls_client_context, wait_log
from netfixtures import net, wait_for  # noqa: F401
from test_detector import DOMAINS, ctl_json, detector_server
from test_detector_scenarios import add_users, client, own, signal

MALLORY = ("mallory@example.test", "Basalt-Heron-33")
AWAY = "127.8.0.4"
SIG_N_BEFORE = 15  # signals of the build before new_recipients_per_hour
NEW_RECIPIENTS_10MIN = 2  # its index among the baselines


def write_strangers(s, c, first, n):
    """Up to N messages, each its own, to two strangers each, until the
    server stops the session; how many were accepted."""
    for i in range(first, first + n):
        rcpts = [f"cold{i}x{k}@{DOMAINS[(i + k) % len(DOMAINS)]}" for k in range(2)]
        try:
            c.sendmail(MALLORY[0], rcpts, own(i, MALLORY[0], rcpts[0]))
        except (smtplib.SMTPException, OSError):
            return i - first
    return n


def rewrite_state(s, before):
    """The saved detector state, with mallory's baseline of
    new_recipients_per_10min set to 12 (its threshold becomes 36 = 3 x 12),
    and, when BEFORE, in the previous build's format."""
    db = sqlite3.connect(s.state / "store.db", timeout=10)
    [(data,)] = db.execute("SELECT data FROM saved_state WHERE name = 'detector'").fetchall()
    text = bytes(data).decode()
    lines = []
    for line in text.splitlines():
        f = line.split("\t")
        if f[0] == "S" and f[1] == MALLORY[0]:
            base, hmax = f[5].split(","), f[6].split(",")
            assert len(base) == SIG_N_BEFORE + 1, base
            base[NEW_RECIPIENTS_10MIN] = "12.000"
            if before:
                base, hmax = base[:SIG_N_BEFORE], hmax[:SIG_N_BEFORE]
            f[5], f[6] = ",".join(base), ",".join(hmax)
        if before and f[0] == "W60" and f[1].endswith("\x1fN"):
            continue  # the hourly strangers window did not exist
        lines.append("\t".join(f))
    db.execute("UPDATE saved_state SET data = ? WHERE name = 'detector'",
               (("\n".join(lines) + "\n").encode(),))
    db.commit()
    db.close()


@pytest.mark.parametrize("fmt", ["current", "before"])
def test_restarted_daemon_counts_from_saved_state(make_server, net, fmt):
    s, sink = detector_server(make_server, net)
    add_users(s, dict([MALLORY]))
    home = client(s, "127.0.0.1", *MALLORY)  # the first network: its home
    home.quit()
    away = smtplib.SMTP("127.0.0.1", s.ports["submission"], source_address=(AWAY, 0), timeout=30)
    away.starttls(context=tls_client_context())
    for _ in range(3):
        with pytest.raises(smtplib.SMTPAuthenticationError):
            away.login(MALLORY[0], "Basalt-Heron-34")
    away.login(*MALLORY)
    assert write_strangers(s, away, 0, 12) == 12
    away.quit()
    assert ctl_json(s, "incident", "list", "--all") == []

    s.stop()  # saves the detector's state at shutdown
    rewrite_state(s, before=(fmt == "before"))
    s.start()
    wait_log(s, r"event=detector_loaded subjects=[1-9]")

    c = client(s, AWAY, *MALLORY)
    after = write_strangers(s, c, 100, 8)  # (contained on the way, maybe)
    try:
        c.quit()
    except (smtplib.SMTPException, OSError):
        pass
    strangers = 24 + 2 * after
    assert strangers > 30  # none of it an incident without the saved state
    wait_for(lambda: ctl_json(s, "incident", "list"), what="an incident")
    [inc] = ctl_json(s, "incident", "list")
    assert inc["subject"] == MALLORY[0]

    def shown():  # the incident as written after the last message
        x = ctl_json(s, "incident", "show", str(inc["id"]))
        v = signal(x, "new_recipients_per_10min")
        return x if v and v["value"] == strangers else None
    shown = wait_for(shown, what=f"the incident with {strangers} strangers")
    new10 = signal(shown, "new_recipients_per_10min")
    # the strangers of before the restart and after, against a threshold
    # that the saved baseline raised above the configured 30
    assert new10["threshold"] > 30, shown["signals"]
    # the failures of before the restart (smtplib tries two mechanisms)
    failed = signal(shown, "failed_logins")
    assert failed and failed["value"] >= 3, shown["signals"]
    assert signal(shown, "new_networks"), shown["signals"]
    hour = signal(shown, "new_recipients_per_hour")
    if fmt == "current":
        assert hour and hour["value"] == strangers, shown["signals"]
    else:  # not in the old state: only what came after the restart
        assert hour is None or hour["value"] == 2 * after, shown["signals"]
