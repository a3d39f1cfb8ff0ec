"""Start-up tells the truth (issue 12, item 6): floodgated -c FILE, which
detaches, exits 0 only once the daemon serves its listeners, and exits
non-zero with the child's error when the start fails after the fork."""
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import FLOODGATED


def detach(s):
    """floodgated -c CONF without -d: (returncode, stderr) of the command."""
    r = subprocess.run([str(FLOODGATED), "-c", str(s.conf)], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stderr


def daemon_pid(s):
    return int((s.state / "floodgated.pid").read_text())


def stop_detached(s):
    """SIGTERM the detached daemon and wait until it is gone."""
    pid = daemon_pid(s)
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"floodgated {pid} still runs 30 s after SIGTERM")


@pytest.fixture
def detached(make_server):
    started = []

    def make(**kw):
        s = make_server(**kw)
        started.append(s)
        return s

    yield make
    for s in started:
        if (s.state / "floodgated.pid").exists():
            try:
                stop_detached(s)
            except ProcessLookupError:
                pass


def test_exit_0_means_the_listeners_serve(detached):
    s = detached()
    rc, err = detach(s)
    assert rc == 0, err
    # no waiting: the command's exit says the server is there
    for name, port in s.ports.items():
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            if name != "submissions":
                assert c.recv(512).startswith(b"220 "), name
    assert (s.state / "control.sock").exists()
    assert s.ctl("status").returncode == 0


def test_a_port_taken_after_the_fork_is_reported_by_the_command(detached):
    s = detached()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        taken.bind(("127.0.0.1", s.ports["submission"]))
        taken.listen()
        rc, err = detach(s)
    assert rc == 1, err
    assert f"127.0.0.1:{s.ports['submission']}" in err and "Address already in use" in err, err
    assert not (s.state / "control.sock").exists()


def test_a_refused_store_is_reported_by_the_command(detached):
    s = detached()
    rc, err = detach(s)
    assert rc == 0, err
    s.ctl("domain", "add", "example.test")
    stop_detached(s)
    (s.state / "store.db").unlink()
    rc, err = detach(s)
    assert rc == 1, err
    assert f"{s.state / 'store.db'} is missing" in err, err
    assert "floodctl store init --force" in err, err


@pytest.mark.skipif(os.geteuid() != 0, reason="the switch of user happens only as root")
def test_a_failed_switch_of_user_is_reported_by_the_command(detached):
    s = detached()
    s.conf.write_text(s.conf.read_text().replace('user = "nobody";',
                                                 'user = "no-such-user-fg";'))
    rc, err = detach(s)
    assert rc == 1, err
    assert 'user \\"no-such-user-fg\\" does not exist' in err or \
        'user "no-such-user-fg" does not exist' in err, err
    assert not (s.state / "control.sock").exists()
