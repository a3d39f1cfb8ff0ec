"""Integration test harness: start the real floodgated on loopback ports with
a fresh state dir, and talk to it with real clients.

FLOODGATE_BUILD selects the build directory (default: build)."""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("FLOODGATE_BUILD", "build")
FLOODGATED = BUILD / "floodgated"
FLOODCTL = BUILD / "floodctl"
DOMAIN = "example.test"
PASSWORDS = {"alice@example.test": "alice-Secret-2026", "bob@example.test": "bob-Secret-2026"}


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port}")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    os.chmod(d, 0o755)
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mail.example.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    os.chmod(key, 0o644)  # the daemon may run as nobody in CI
    return cert, key


class Server:
    """One floodgated with its own state dir, config and ports."""

    def __init__(self, tls_files, listeners=None, extra="", relay_groups=("trusted",),
                 groups=None):
        self.dir = Path(tempfile.mkdtemp(prefix="fg-"))
        os.chmod(self.dir, 0o755)
        self.state = self.dir / "state"
        self.conf = self.dir / "floodgate.conf"
        self.ports = {"mx": free_port(), "submission": free_port(), "submissions": free_port()}
        cert, key = tls_files
        if listeners is None:
            listeners = [
                ("mx", "starttls", "off"),
                ("submission", "starttls", "required"),
                ("submissions", "implicit", "required"),
            ]
        lst = ",\n".join(
            f'  {{ name = "{n}"; address = "127.0.0.1:{self.ports[n]}"; tls = "{t}"; auth = "{a}"; }}'
            for n, t, a in listeners)
        groups = groups if groups is not None else {"trusted": ["127.0.0.3"]}
        grp = "\n".join(f'  {k} = [ {", ".join(chr(34) + v + chr(34) for v in vs)} ];'
                        for k, vs in groups.items())
        user = 'user = "nobody";' if os.geteuid() == 0 else ""
        allow = ", ".join(f'"{g}"' for g in relay_groups)
        self.conf_text = f"""
hostname = "mail.example.test";
state_dir = "{self.state}";
{user}
tls = {{ certificate = "{cert}"; key = "{key}"; }};
listeners = (
{lst}
);
ip_groups = {{
{grp}
}};
relay = {{ allow_groups = [ {allow} ]; }};
limits = {{ max_message_size = 1048576; max_recipients = 20; max_errors = 10;
           command_timeout = 30; }};
queue = {{ retry_initial = 1; retry_max = 2; }};
{extra}
"""
        self.conf.write_text(self.conf_text)
        self.proc = None
        self.stderr = None

    # -- process control --
    def start(self, wait=True):
        self.stderr = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen([str(FLOODGATED), "-d", "-c", str(self.conf)],
                                     stdout=self.stderr, stderr=self.stderr)
        if wait:
            for name in self.ports:
                if f"name = \"{name}\"" in self.conf.read_text():
                    wait_port("127.0.0.1", self.ports[name])
            deadline = time.time() + 10
            while not (self.state / "control.sock").exists() and time.time() < deadline:
                time.sleep(0.02)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        rc = self.proc.returncode if self.proc else None
        if self.stderr:
            self.stderr.close()
            self.stderr = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- inspection --
    def log(self):
        return (self.dir / "stderr.log").read_text(errors="replace")

    def ctl(self, *args, input=None, check=True):
        env = dict(os.environ, FLOODGATE_CONFIG=str(self.conf))
        r = subprocess.run([str(FLOODCTL), *args], input=input, capture_output=True, text=True,
                           env=env, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"floodctl {' '.join(args)} failed ({r.returncode}): "
                                 f"{r.stdout}{r.stderr}")
        return r

    def db(self):
        return sqlite3.connect(f"file:{self.state / 'store.db'}?mode=ro", uri=True, timeout=10)

    def maildir(self, address):
        local, domain = address.split("@")
        return self.state / "mail" / domain / local / "Maildir"

    def wait_delivered(self, address, count, timeout=15):
        new = self.maildir(address) / "new"
        deadline = time.time() + timeout
        while time.time() < deadline:
            files = sorted(new.glob("*")) if new.exists() else []
            if len(files) >= count:
                return files
            time.sleep(0.05)
        raise AssertionError(f"{address}: {len(files)} messages, expected {count}")

    def provision(self):
        self.ctl("domain", "add", DOMAIN)
        for addr, pw in PASSWORDS.items():
            self.ctl("user", "add", addr, input=pw + "\n")
        self.ctl("alias", "add", f"team@{DOMAIN}", "alice@example.test")
        self.ctl("alias", "add", f"team@{DOMAIN}", "bob@example.test")
        self.ctl("alias", "add", f"forward@{DOMAIN}", "someone@remote.test")
        return self


@pytest.fixture
def make_server(tls_files):
    made = []

    def make(**kw):
        s = Server(tls_files, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


@pytest.fixture(scope="module")
def server(tls_files):
    """A provisioned server shared by the tests of one module."""
    s = Server(tls_files).start().provision()
    yield s
    s.cleanup()
