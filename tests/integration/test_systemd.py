"""floodgated under systemd (issue 17, item 2): Type=notify, so it says
READY=1 once it serves, RELOADING=1 (with MONOTONIC_USEC) and READY=1
around a reload, good or bad, and STOPPING=1 at SIGTERM, on the datagram
socket $NOTIFY_SOCKET names (sd_notify(3)); and etc/floodgate.service
passes systemd-analyze verify."""
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BUILD, FLOODGATED, ROOT, RawClient
from test_syslog_journal import DatagramSink

UNIT = ROOT / "etc" / "floodgate.service"


@pytest.fixture
def notify(monkeypatch):
    s = DatagramSink("notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(s.path))
    yield s
    s.close()


def notices(sink):
    """The next notification as a dict (sd_notify(3): KEY=VALUE lines)."""
    return dict(l.split("=", 1) for l in sink.recv().decode().splitlines())


def test_ready_reloading_stopping(make_server, notify):
    s = make_server()
    s.start(wait=False)
    n = notices(notify)
    assert n == {"READY": "1", "STATUS": "serving"}
    # READY=1 comes once it serves: the listeners answer and floodctl works
    with RawClient(s.ports["mx"]) as c:
        c.ehlo()
    s.ctl("status")

    before = time.monotonic_ns() // 1000
    s.proc.send_signal(signal.SIGHUP)
    n = notices(notify)
    after = time.monotonic_ns() // 1000
    assert n.keys() == {"RELOADING", "MONOTONIC_USEC"} and n["RELOADING"] == "1", n
    assert before <= int(n["MONOTONIC_USEC"]) <= after  # CLOCK_MONOTONIC, in µs
    assert notices(notify) == {"READY": "1", "STATUS": "serving"}

    # a file that does not load: rejected, the old one stays, still READY
    good = s.conf.read_text()
    s.conf.write_text(good + "\nlimits_typo = 1;\n")
    s.proc.send_signal(signal.SIGHUP)
    assert notices(notify)["RELOADING"] == "1"
    n = notices(notify)
    assert n["READY"] == "1", n
    assert n["STATUS"].startswith("reload rejected, old config kept: ") and \
        "limits_typo" in n["STATUS"], n
    # systemctl reload runs floodctl reload (ExecReload=): it fails, saying why
    r = s.ctl("reload", check=False)
    assert r.returncode != 0 and "limits_typo" in r.stderr, r
    s.conf.write_text(good)
    s.ctl("reload")
    assert notices(notify)["RELOADING"] == "1"
    assert notices(notify) == {"READY": "1", "STATUS": "serving"}

    s.proc.send_signal(signal.SIGTERM)
    assert notices(notify) == {"STOPPING": "1"}
    assert s.proc.wait(30) == 0
    notify.sock.settimeout(0)
    with pytest.raises(BlockingIOError):  # nothing after STOPPING=1
        notify.sock.recv(4096)


def unit_settings():
    """KEY -> [values] of etc/floodgate.service."""
    out = {}
    for line in UNIT.read_text().splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m[1], []).append(m[2])
    return out


def test_unit_runs_floodgated_as_notify_service_with_hardening():
    u = unit_settings()
    assert u["Type"] == ["notify"]
    assert u["ExecStart"][0].startswith("/usr/sbin/floodgated -d ")
    assert u["ExecReload"][0].endswith(" reload")
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert u[key] == ["yes"], key
    assert u["ProtectSystem"] == ["strict"]
    assert "/var/lib/floodgate" in u["ReadWritePaths"][0].split()
    # what root needs until privs_drop (src/core/privs.c), nothing more
    assert set(u["CapabilityBoundingSet"][0].split()) == {
        "CAP_NET_BIND_SERVICE", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_CHOWN", "CAP_SETUID",
        "CAP_SETGID"}
    assert "AmbientCapabilities" not in u


def test_systemd_analyze_verify_is_clean(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (scripts/setup-deps --test installs it)")
    # verify checks that ExecStart= and ExecReload= exist: point them at
    # this build, the one change made to the unit
    unit = tmp_path / "floodgate.service"
    unit.write_text(UNIT.read_text().replace("/usr/sbin/floodgated", str(FLOODGATED))
                    .replace("/usr/sbin/floodctl", str(BUILD / "floodctl")))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
