"""Password checks under a guessing attack: they are queued fairly per
client IP (a legitimate login does not wait behind a botnet host's many),
a ban drops the banned IP's checks still waiting, and a login that
verified recently is not checked again — but only while the account still
has that password and is allowed in."""
import re
import smtplib
import threading

from authcheck import login
from conftest import PASSWORDS
from netfixtures import wait_for

ALICE = "alice@example.test"
ATTACKER = "127.0.0.2"
USER_IP = "127.0.0.4"
GUESSERS = 30


def attack(s, n=GUESSERS):
    """N wrong logins from ATTACKER at once, each on its own connection
    (threads); returns the threads and a list their results land in.
    The checks take turns on two workers, so the last guess waits for
    about N argon2 checks / 2: on a loaded machine (load 16) that passed
    the 30 s a login() waits by default, and a guess ended in a client
    TimeoutError instead of its 535.  The guesses wait as long as that
    takes; the assertions count answers, not time."""
    results = []

    def guess(i):
        try:
            results.append(login(s, ALICE, f"Wrong-{i}-x9Q", source=ATTACKER, timeout=300)[0])
        except (OSError, smtplib.SMTPException) as e:
            results.append(getattr(e, "smtp_code", type(e).__name__))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def auth_lines(s):
    return [l for l in s.log().splitlines() if "event=auth result=" in l]


def attack_unbanned(make_server, extra=""):
    """A server whose attacker is exempt from bans (only the fair queue
    stands between it and the others), under attack: the server, the
    attack's threads and their results."""
    s = make_server(extra="lockout = { failures = 0; };\n" + extra +
                          'hammering = { exempt_groups = [ "botnet" ]; };',
                    groups={"trusted": ["127.0.0.3"], "botnet": [ATTACKER]}).start().provision()
    threads, results = attack(s)
    wait_for(lambda: sum(f"ip={ATTACKER}" in l for l in auth_lines(s)) >= 2,
             what="the attack under way")
    return s, threads, results


def test_a_login_does_not_wait_behind_anothers_queue(make_server):
    s, threads, results = attack_unbanned(make_server)
    assert login(s, ALICE, PASSWORDS[ALICE], source=USER_IP)[0] == 235
    for t in threads:
        t.join()
    assert results.count(535) == GUESSERS, results
    lines = auth_lines(s)
    ok = next(i for i, l in enumerate(lines) if "result=ok" in l)
    after = sum(f"ip={ATTACKER}" in l for l in lines[ok + 1:])
    # in arrival order alice would come last; in turn she waits for about
    # one check per other IP
    assert after >= GUESSERS // 2, f"only {after} of the guesses were checked after alice's login"


def test_a_ban_drops_the_checks_still_waiting(make_server):
    s = make_server(extra="lockout = { failures = 0; };\n"
                          "hammering = { failures = 3; window = 60; ban = 600; };").start()
    s.provision()
    threads, results = attack(s)
    for t in threads:
        t.join()
    checked = sum(f"ip={ATTACKER}" in l and "result=fail" in l for l in auth_lines(s))
    # three earn the ban, the two worker slots may hold two more; the rest
    # are answered 421 without spending a password check
    assert 3 <= checked <= 3 + 4, checked
    # only the three that earned the ban got an answer; a check that was on
    # a worker when it fell ends in a 421 like every other guess (at
    # connect, or for the session the ban closed) or in a cut connection
    assert len(results) == GUESSERS and results.count(535) <= 3, results
    assert 235 not in results and results.count(421) >= 1, results
    assert f"event=ban ip={ATTACKER}" in s.log()


def test_a_recent_login_is_trusted_only_while_still_valid(make_server):
    s = make_server().start().provision()
    pw = PASSWORDS[ALICE]
    assert login(s, ALICE, pw)[0] == 235
    assert login(s, ALICE, pw)[0] == 235                  # from the cache
    s.ctl("user", "suspend", ALICE)
    assert login(s, ALICE, pw)[0] == 535
    assert re.search(r"event=auth result=fail .*user=alice@example.test .*reason=suspended",
                     s.log())
    s.ctl("user", "unsuspend", ALICE)
    assert login(s, ALICE, pw)[0] == 235
    s.ctl("user", "passwd", ALICE, input="Granite-Willow-58\n")
    assert login(s, ALICE, pw)[0] == 535                  # the old password is gone
    assert login(s, ALICE, "Granite-Willow-58")[0] == 235
    s.ctl("user", "expire", ALICE)
    assert login(s, ALICE, "Granite-Willow-58")[0] == 535
    assert login(s, ALICE, "Wrong-Guess-1x")[0] == 535    # a guess is never cached


def test_shutdown_answers_the_logins_still_waiting(make_server):
    # SIGTERM while guesses wait for a worker: those not started are
    # answered 421 unchecked; only the ones already on a worker finish
    s, threads, results = attack_unbanned(make_server, "shutdown_timeout = 60;\n")
    assert s.stop() == 0
    for t in threads:
        t.join()
    log = s.log()
    assert "event=stop_timeout" not in log
    stop_at = log.index("event=stop ")
    after = [l for l in log[stop_at:].splitlines() if "event=auth result=" in l]
    # the two worker threads may each finish the check they were running
    assert len(after) <= 2, after
    assert len(results) == GUESSERS and 235 not in results, results
