"""Every wait has a deadline: sessions whose client left, stalled TLS
handshakes, clients that drip a command or a message byte by byte, and
SIGTERM with all of these open.  Small limits in the config keep each test
to a few seconds."""
import os
import re
import signal
import socket
import time

import pytest

from conftest import RawClient
from netfixtures import DNSZone, wait_for

NAMELESS = "127.0.0.4"  # the test DNS has no PTR for it


@pytest.fixture
def dns():
    z = DNSZone()
    yield z
    z.close()


def disconnects(s, ip):
    return len(re.findall(rf"event=disconnect session=\d+ ip={re.escape(ip)} ", s.log()))


def stopped(pid):
    """Has the process really stopped (SIGSTOP is delivered asynchronously)?"""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def test_clients_that_leave_during_the_greeting_checks_are_freed(make_server, dns):
    # The cause of the CI hang at SIGTERM (test_client_checks.py): the
    # harness' port probe connects to the MX port and hangs up while the
    # reverse lookup of its greeting checks runs.  When the hang-up and the
    # lookup's answer reached the daemon in the same loop turn, the 554 was
    # queued and then the hang-up turned writing off: the session waited
    # forever for that 554 to drain.  Its slot and per-IP count leaked and
    # SIGTERM waited 30 s for it.  Here the daemon is stopped while the
    # clients hang up and the answers arrive, so both are read in one turn.
    s = make_server(extra=dns.config() + "\nclient_limits = { greeting_delay = 1; "
                                         "require_reverse_dns = true; };").start()
    n = 10
    dns.answering.clear()
    clients = [socket.create_connection(("127.0.0.1", s.ports["mx"]),
                                        source_address=(NAMELESS, 0)) for _ in range(n)]
    wait_for(lambda: sum(q[1] == "PTR" for q in dns.queries) >= n, 10, "the PTR lookups")
    os.kill(s.proc.pid, signal.SIGSTOP)
    wait_for(lambda: stopped(s.proc.pid), 10, "the daemon to stop")
    try:
        for c in clients:
            c.close()
        time.sleep(0.2)      # the FINs reach the daemon's sockets first
        dns.answering.set()
        time.sleep(0.2)      # then the answers
    finally:
        os.kill(s.proc.pid, signal.SIGCONT)
    wait_for(lambda: disconnects(s, NAMELESS) == n, 20,
             f"{n} disconnects of {NAMELESS}:\n{s.log()[-3000:]}")
    assert s.stop() == 0
    assert "event=exit" in s.log()
