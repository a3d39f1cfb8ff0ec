"""More of issue 14's scenarios end to end (docs/detector.md): the real
daemon, real SMTP clients bound to loopback addresses of different /24
and /16 networks (127.1.0.5 and 127.9.0.7 are as far apart to the
detector as two providers), a loopback SMTP sink as every remote MX.

Attacks, each contained within 50 spam messages, with the incident's
contents checked:
- credential stuffing: one IP tries a list of stolen passwords on many
  accounts, gets into three, and sends from them; and one that spams from
  one account while holding the others' sessions open: containing the one
  contains every account it got into;
- a hijack with a rotating From and display name, from a far network,
  while the owner is logged in at the office (concurrent sessions).
Delivery feedback: bounces coming back to an account that writes to
strangers open an incident; read receipts and auto-replies do not count.
Legitimate corpus, no incident: a mailing list of 320 members, and an
employee travelling (a typo, a new network, the usual correspondents,
the office desktop still logged in)."""
import re
import smtplib
import time

import pytest

from conftest import message, tls_client_context, wait_log
from netfixtures import net, wait_for  # noqa: F401
from test_big_aliases import add_users_fast
from test_detector import DOMAINS, ctl_json, detector_server


def client(s, ip, user, password):
    """A session from IP on the submission port, logged in as USER."""
    c = smtplib.SMTP("127.0.0.1", s.ports["submission"], source_address=(ip, 0), timeout=30)
    c.ehlo("client.test")
    c.starttls(context=tls_client_context())
    c.ehlo("client.test")
    c.login(user, password)
    return c


def add_users(s, users):
    """USERS {address: password} through floodctl, as an admin would."""
    for addr, pw in users.items():
        s.ctl("user", "add", addr, input=pw + "\n")


WORDS = ["quote", "meeting", "contract", "samples", "pricing", "delivery", "visit", "catalogue",
         "agenda", "budget", "review", "planning", "training", "launch", "survey", "report",
         "proposal", "schedule", "warranty", "shipping"]


def prose(j):
    """Text number J (< 400) of a person's own: no two alike in their
    letters (the detector's fingerprint ignores digits and punctuation,
    as a template's numbering)."""
    a = j % 20
    return f"{WORDS[a].capitalize()} and {WORDS[(j // 20 + a + 1) % 20]}"


def own(j, sender, to):
    """Message J of a person's own to TO."""
    return message(prose(j), sender=sender, to=to,
                   body=f"Hello,\r\nabout the {prose(j + 200).lower()}.\r\n")


def signal(shown, name):
    """The signal NAME of an incident as `floodctl incident show --json`
    gives it, or None."""
    return next((x for x in shown["signals"] if x["name"] == name), None)


def wait_actions(s, inc_id, actions):
    """Wait until incident INC_ID recorded every one of ACTIONS (the
    ladder's steps run just after the event that climbed it)."""
    for a in actions:
        wait_for(lambda a=a: a in [x["action"] for x in
                                   ctl_json(s, "incident", "show", str(inc_id))["actions"]],
                 what=f"action {a} of incident {inc_id}")
    return ctl_json(s, "incident", "show", str(inc_id))


# ---- credential stuffing -------------------------------------------------

STUFFER = "127.6.0.9"
VICTIMS = {f"staff{k}@example.test": f"Granite-Orchid-{k:02d}" for k in range(8)}
BROKEN = ["staff1@example.test", "staff4@example.test", "staff6@example.test"]


def test_credential_stuffing_contained(make_server, net):
    s, sink = detector_server(make_server, net)
    add_users(s, VICTIMS)
    # the list of stolen credentials: right for three accounts, an old
    # password for the others, and some that never existed
    tried = list(VICTIMS) + ["former1@example.test", "former2@example.test"]
    into = {}
    for user in tried:
        c = smtplib.SMTP("127.0.0.1", s.ports["submission"], source_address=(STUFFER, 0),
                         timeout=30)
        c.starttls(context=tls_client_context())
        try:
            c.login(user, VICTIMS[user] if user in BROKEN else "Summer2019!")
            into[user] = c
        except smtplib.SMTPAuthenticationError:
            c.quit()
    assert sorted(into) == sorted(BROKEN)

    # then spam from each account in turn, until the server stops it
    accepted = {u: 0 for u in BROKEN}
    stopped = {}
    start = time.time()
    for i in range(60):
        user = BROKEN[i % 3]
        if user in stopped:
            continue
        rcpts = [f"lead{i}x{k}@{DOMAINS[(i + k) % len(DOMAINS)]}" for k in range(5)]
        try:
            into[user].sendmail(user, rcpts, message(
                "Your account statement", sender=user, to=rcpts[0],
                body=f"See your statement at http://statement.example/{i}\r\n"))
            accepted[user] += 1
        except (smtplib.SMTPException, OSError) as e:
            stopped[user] = repr(e)
    elapsed = time.time() - start
    total = sum(accepted.values())
    print(f"stuffing: {total} messages accepted in all in {elapsed:.1f} s:", accepted, stopped)
    assert total <= 50 and sorted(stopped) == sorted(BROKEN), (accepted, stopped)

    # the incidents are written by the committer, just after the steps
    # that stopped the stuffer: wait for the writes, not for a state
    def incidents():
        return {x["subject"]: x for x in ctl_json(s, "incident", "list")}
    wait_for(lambda: set(incidents()) >= set(BROKEN) and
             any(x["state"] == "contained" for x in incidents().values()),
             what="the incidents of the three accounts, one contained")
    incidents = incidents()
    contained = [u for u in BROKEN if incidents[u]["state"] == "contained"]
    shown = wait_actions(s, incidents[contained[0]]["id"],
                         ("alert", "hold", "suspend", "end_sessions", "ban", "quarantine"))
    st = signal(shown, "stuffing_accounts")
    # the one IP logged into the three accounts, with failures around it
    assert st and st["value"] >= 3 and st["threshold"] == 3 and st["points"] > 0, shown["signals"]
    assert len(shown["signals"]) >= 2  # and another kind: the spam itself
    assert [x["ip"] for x in shown["ips"]] == [STUFFER]
    assert shown["ips"][0]["logins"] >= 1
    assert shown["ips"][0]["messages"] >= 1
    assert 1 <= shown["counts"]["accepted"] <= 50
    assert all(x["subject"] == "Your account statement" for x in shown["samples"])
    assert STUFFER in {b["ip"] for b in ctl_json(s, "ban", "list")}
    # every account the stuffer got into is an incident: the others it
    # broke are suspect as well, the same IP logged into them
    for u in BROKEN:
        assert u in incidents, (u, incidents)


# ---- every account the stuffer got into is contained ----------------------

STUFFER2 = "127.0.66.9"
CREW = {f"crew{k}@example.test": f"Marble-Finch-{k:02d}" for k in range(6)}
SPAMMED, IDLE, VIA_APP = "crew1@example.test", "crew3@example.test", "crew5@example.test"


def logged_in(c):
    """Is the smtplib session C still served?"""
    try:
        return c.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


@pytest.mark.parametrize("suspend_account", [True, False])
def test_stuffing_contains_every_account_broken_into(make_server, net, suspend_account):
    """One address fails on three accounts and gets into three (one of
    them with an app password); it spams from one and keeps the others'
    sessions open.  Containing the one contains the three: each suspended
    (or, with suspend_account = false, only the app password that was used
    revoked), their sessions ended, the address banned, all of it in the
    incident; releasing it lifts the suspensions."""
    extra = "" if suspend_account else "detector = { suspend_account = false; };"
    s, sink = detector_server(make_server, net, extra=extra)
    add_users(s, CREW)
    r = s.ctl("user", "app-password", "add", VIA_APP, "--label", "mailer")
    app = re.search(r"^\s+(\S{19})$", r.stdout, re.M).group(1)
    secrets = {SPAMMED: CREW[SPAMMED], IDLE: CREW[IDLE], VIA_APP: app}
    sessions = {}
    for user in ["crew0@example.test", SPAMMED, "crew2@example.test", IDLE,
                 "crew4@example.test", VIA_APP]:
        c = smtplib.SMTP("127.0.0.1", s.ports["submission"], source_address=(STUFFER2, 0),
                         timeout=30)
        c.starttls(context=tls_client_context())
        try:
            c.login(user, secrets.get(user, "Winter2020!"))
            sessions[user] = c
        except smtplib.SMTPAuthenticationError:
            c.quit()
    assert sorted(sessions) == sorted(secrets)

    accepted, stopped_by = 0, None
    for i in range(50):
        rcpts = [f"mark{i}x{k}@{DOMAINS[(i + k) % len(DOMAINS)]}" for k in range(5)]
        try:
            sessions[SPAMMED].sendmail(SPAMMED, rcpts, message(
                "Your parcel is waiting", sender=SPAMMED, to=rcpts[0],
                body=f"Track your parcel at http://parcel.example/{i}\r\n"))
            accepted += 1
        except (smtplib.SMTPException, OSError) as e:
            stopped_by = repr(e)
            break
    assert stopped_by and accepted < 50, (accepted, stopped_by)

    wait_for(lambda: [x["state"] for x in ctl_json(s, "incident", "list")] == ["contained"],
             what="one incident, contained")
    [inc] = ctl_json(s, "incident", "list")
    assert inc["subject"] == SPAMMED
    # the incident records each account's containment as it is done, one
    # account after the other: wait for the last of them (the stuffer's
    # ban, every account's suspension or revocation and the end of its
    # sessions), then look at what was recorded
    want_suspended = {SPAMMED, IDLE, VIA_APP} if suspend_account else {SPAMMED, IDLE}

    def recorded():
        shown = ctl_json(s, "incident", "show", str(inc["id"]))
        acts = [(x["action"], x["detail"]) for x in shown["actions"]]
        ended = " ".join(d for a, d in acts if a == "end_sessions")
        done = ({d for a, d in acts if a == "suspend"} >= want_suspended and
                all(f"of {user}" in ended for user in secrets) and
                any(a == "ban" for a, _ in acts))
        return shown if done else None
    shown = wait_for(recorded, 30, f"every containment step of incident {inc['id']}")
    acts = [(x["action"], x["detail"]) for x in shown["actions"]]
    suspended = {d for a, d in acts if a == "suspend"}
    revoked = {d for a, d in acts if a == "revoke_app_password"}
    if suspend_account:
        assert suspended == {SPAMMED, IDLE, VIA_APP} and not revoked, acts
    else:  # only the app password the stuffer used; the others have none
        assert suspended == {SPAMMED, IDLE} and revoked == {f"{VIA_APP}: mailer"}, acts
    ended = [d for a, d in acts if a == "end_sessions"]
    for user in secrets:
        assert f"1 live sessions of {user}" in ended, acts
    assert [d for a, d in acts if a == "ban"] == [STUFFER2], acts
    assert signal(shown, "stuffing_accounts")
    # the sessions the stuffer kept open are gone
    for user in (IDLE, VIA_APP):
        assert not logged_in(sessions[user]), user
    assert STUFFER2 in {b["ip"] for b in ctl_json(s, "ban", "list")}

    def can_log_in(user, secret):
        with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=20) as c:
            c.starttls(context=tls_client_context())
            try:
                c.login(user, secret)
                return True
            except smtplib.SMTPAuthenticationError:
                return False
    assert not can_log_in(IDLE, CREW[IDLE])
    assert not can_log_in(VIA_APP, app)
    # suspended, or only the app password gone
    assert can_log_in(VIA_APP, CREW[VIA_APP]) is (not suspend_account)

    # releasing the incident lifts every suspension it made
    out = ctl_json(s, "incident", "release", str(inc["id"]))
    assert out["unsuspended"] is True and out["unbanned"] == [STUFFER2]
    for user in (SPAMMED, IDLE):
        assert can_log_in(user, CREW[user]), user


# ---- a hijack with a rotating From, beside the owner ----------------------

HANA = ("hana@example.test", "Copper-Willow-19")
OFFICE = "127.1.0.5"
THIEF = "127.9.0.7"
COLLEAGUES = [f"contact{k}@partner.test" for k in range(12)]


def owner_day(s, c, n, start=0):
    """The owner writes N messages to colleagues, each its own."""
    for i in range(start, start + n):
        to = COLLEAGUES[i % len(COLLEAGUES)]
        c.sendmail(HANA[0], [to], own(i, HANA[0], to))


def test_rotating_from_hijack_contained(make_server, net):
    s, sink = detector_server(make_server, net)
    add_users(s, dict([HANA]))
    office = client(s, OFFICE, *HANA)
    owner_day(s, office, 6)
    # the thief logs in from another network while the owner works
    thief = client(s, THIEF, *HANA)
    accepted, stopped_by = 0, None
    start = time.time()
    for i in range(60):
        if i % 10 == 0 and office is not None:
            try:
                owner_day(s, office, 1, start=100 + i)
            except (smtplib.SMTPException, OSError):
                office = None  # containment ends every session of the account
        frm = f'"Billing Dept {chr(65 + i % 26)}" <billing{i}@example.test>'
        rcpts = [f"prey{i}x{k}@{DOMAINS[(i + k) % len(DOMAINS)]}" for k in range(3)]
        try:
            thief.sendmail(HANA[0], rcpts, message(f"Invoice {chr(97 + i % 26)}{i} overdue",
                                                   sender=frm, to=rcpts[0],
                                                   body=f"Please pay invoice {i} today.\r\n"))
            accepted += 1
        except (smtplib.SMTPException, OSError) as e:
            stopped_by = repr(e)
            break
    elapsed = time.time() - start
    print(f"rotating From: {accepted} accepted in {elapsed:.1f} s, stopped by {stopped_by}")
    assert stopped_by and accepted <= 50

    wait_for(lambda: [x["state"] for x in ctl_json(s, "incident", "list")] == ["contained"],
             what="the incident written as contained")
    [inc] = ctl_json(s, "incident", "list")
    assert inc["subject"] == HANA[0]
    shown = wait_actions(s, inc["id"], ("alert", "hold", "suspend", "end_sessions", "ban"))
    fc = signal(shown, "from_changes")
    assert fc and fc["value"] >= 4 and fc["threshold"] == 4, shown["signals"]
    # two far-apart networks logged in at once, the thief's new to the account
    cn = signal(shown, "concurrent_networks")
    assert cn and cn["value"] == 2 and cn["threshold"] == 2, shown["signals"]
    assert signal(shown, "new_networks")
    ips = {x["ip"]: x for x in shown["ips"]}
    assert set(ips) == {OFFICE, THIEF}
    assert ips[THIEF]["messages"] >= 1 and ips[THIEF]["logins"] == 1
    assert ips[OFFICE]["logins"] == 1
    assert shown["counts"]["accepted"] >= 1
    assert all("overdue" in x["subject"] for x in shown["samples"])
    assert THIEF in {b["ip"] for b in ctl_json(s, "ban", "list")}
    wait_log(s, rf"event=incident id={inc['id']} subject=hana@example.test .*action=suspend")


# ---- bounces coming back ---------------------------------------------------

ALICE_PW = ("alice@example.test", "Tulip-Harbor-47")


def dsn(to, i):
    """A delivery status notification (RFC 3464 in RFC 6522) to TO."""
    b = f"dsn{i}"
    return (f"From: Mail Delivery System <MAILER-DAEMON@victim0.test>\r\n"
            f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=delivery-status;\r\n"
            f"\tboundary=\"{b}\"\r\n\r\n--{b}\r\nContent-Type: text/plain\r\n\r\n"
            f"I could not deliver your message.\r\n--{b}\r\n"
            f"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; victim0.test\r\n\r\n"
            f"Final-Recipient: rfc822; cold{i}@victim0.test\r\nAction: failed\r\n"
            f"Status: 5.1.1\r\n\r\n--{b}--\r\n").encode()


def test_bounces_coming_back(make_server, net):
    s, sink = detector_server(make_server, net)
    # alice writes to new people, each message its own, at her pace:
    # volume evidence only, no incident
    c = client(s, "127.0.0.1", *ALICE_PW)
    for i in range(15):
        rcpts = [f"cold{i}x{k}@{DOMAINS[(i + k) % len(DOMAINS)]}" for k in range(3)]
        c.sendmail(ALICE_PW[0], rcpts, own(i, ALICE_PW[0], rcpts[0]))
    c.quit()
    assert ctl_json(s, "incident", "list") == []
    mx = smtplib.SMTP("127.0.0.1", s.ports["mx"], source_address=("127.4.0.2", 0), timeout=30)
    mx.ehlo("victim0.test")
    # a read receipt (RFC 8098) and a vacation reply (RFC 3834), both with
    # the null sender: not bounces
    mx.sendmail("", [ALICE_PW[0]], message(
        "Read: Introduction", sender="cold1x0@victim0.test", to=ALICE_PW[0],
        extra=["MIME-Version: 1.0", "Content-Type: multipart/report; "
               "report-type=disposition-notification; boundary=x"], body="--x--\r\n"))
    mx.sendmail("", [ALICE_PW[0]], message("Out of office", sender="cold2x0@victim1.test",
                                           to=ALICE_PW[0], extra=["Auto-Submitted: auto-replied"]))
    for i in range(9):
        mx.sendmail("", [ALICE_PW[0]], dsn(ALICE_PW[0], i))
    mx.sendmail("", [ALICE_PW[0]], dsn(ALICE_PW[0], 9))
    mx.quit()
    wait_for(lambda: ctl_json(s, "incident", "list") != [], what="an incident")
    [inc] = ctl_json(s, "incident", "list")
    assert inc["subject"] == ALICE_PW[0]
    # one more message of hers: the incident's evidence is written again
    # with the figures of now (the receipt and the reply must not count)
    c = client(s, "127.0.0.1", *ALICE_PW)
    c.sendmail(ALICE_PW[0], ["cold99x0@victim0.test"], own(99, ALICE_PW[0], "cold99x0@victim0.test"))
    c.quit()
    wait_for(lambda: ctl_json(s, "incident", "show", str(inc["id"]))["counts"]["accepted"] >= 1,
             what="the incident written again")
    shown = ctl_json(s, "incident", "show", str(inc["id"]))
    b = signal(shown, "bounces_per_hour")
    assert b and b["value"] == 10 and b["threshold"] == 10, shown["signals"]
    assert signal(shown, "new_recipients_per_10min")


# ---- the legitimate corpus -------------------------------------------------

def test_mailing_list_expansion(make_server, net):
    """An all-staff list of 300 accounts and 20 partners: a dozen notices
    in a minute to it are a dozen messages to one local recipient."""
    s, sink = detector_server(make_server, net)
    add_users_fast(s, 300)
    members = [f"u{i:05d}@example.test" for i in range(300)] + \
        [f"contact{k}@partner.test" for k in range(20)]
    f = s.dir / "all-staff.txt"
    f.write_text("\n".join(members) + "\n")
    s.ctl("alias", "add", "all-staff@example.test", "--from-file", str(f))
    c = client(s, "127.0.0.1", *ALICE_PW)
    for i in range(12):
        c.sendmail(ALICE_PW[0], ["all-staff@example.test"], message(
            "Staff notice: the building closes early on Friday", sender=ALICE_PW[0],
            to="all-staff@example.test",
            body="Dear all, the building closes at 15:00 on Friday for maintenance.\r\n"))
    c.quit()
    wait_log(s, r"event=accepted .*nrcpt=320 ")
    incs = ctl_json(s, "incident", "list", "--all")
    assert incs == [], [ctl_json(s, "incident", "show", str(x["id"]))["signals"] for x in incs]
    assert ctl_json(s, "queue", "list", "--state", "held") == []
    assert "event=incident" not in s.log()
    assert "event=detector_suspect" not in s.log()


def test_travelling_employee(make_server, net):
    """Erin writes from the office, then from a hotel (a new network, a
    typo first) to the people she always writes to, while her office
    desktop is still logged in: identity evidence alone, no incident."""
    s, sink = detector_server(make_server, net)
    add_users(s, dict([HANA]))
    office = client(s, OFFICE, *HANA)
    owner_day(s, office, 8)
    hotel_ip = "127.77.0.8"
    c = smtplib.SMTP("127.0.0.1", s.ports["submission"], source_address=(hotel_ip, 0), timeout=30)
    c.starttls(context=tls_client_context())
    try:
        c.login(HANA[0], "Copper-Willow-91")  # a typo
        raise AssertionError("a wrong password was taken")
    except smtplib.SMTPAuthenticationError:
        pass
    c.login(*HANA)
    # fewer than 20 in all within the minute: a person's pace
    for i in range(10):
        if i % 5 == 0:
            office.noop()  # the desktop's session stays open
        to = COLLEAGUES[(i * 5) % 8]
        c.sendmail(HANA[0], [to], own(100 + i, HANA[0], to))
    c.quit()
    office.quit()
    incs = ctl_json(s, "incident", "list", "--all")
    assert incs == [], [ctl_json(s, "incident", "show", str(x["id"]))["signals"] for x in incs]
    assert ctl_json(s, "queue", "list", "--state", "held") == []
    assert "event=incident" not in s.log()
