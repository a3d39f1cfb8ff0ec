"""The Debian package (issue 17, item 3), end to end: dpkg-buildpackage -b
builds floodgate_*.deb from this tree; it is installed with dpkg -i into a
fresh Debian 12 (a debootstrap chroot); its postinst made the user and the
private state directory; floodgated started from the installed files on a
loopback port takes a message from smtplib and delivers it; logrotate's
file rotates its log_file; purge removes the user and the directories.

Runs once per scripts/test (not in the integration suite, which runs twice),
as root, when dpkg-buildpackage, dh, pandoc and debootstrap are installed
(scripts/setup-deps --test installs them).  The chroot's base, Debian 12
minbase plus the package's Depends and Recommends, is made once with
debootstrap and apt-get satisfy and cached in /var/tmp/fg-deb-chroot/
(keyed by those fields); each run copies it and installs the new package
with dpkg -i, so only the first run needs the Debian mirror."""
import hashlib
import os
import re
import shutil
import signal
import smtplib
import stat
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import ROOT, free_port, wait_port  # noqa: E402

CACHE = Path(os.environ.get("FLOODGATE_DEB_CHROOT_CACHE", "/var/tmp/fg-deb-chroot"))
PASSWORD = "Tulip-Harbor-47"

needs_tools = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in
                                 ("dpkg-buildpackage", "dh", "pandoc", "debootstrap")),
    reason="needs root, dpkg-buildpackage, debhelper, pandoc and debootstrap "
           "(scripts/setup-deps --test)")


def test_build_depends_name_every_library_setup_deps_installs():
    """A library added to scripts/setup-deps (and meson.build) must reach
    debian/control too, or the package only builds on a machine set up by
    hand."""
    text = (ROOT / "scripts/setup-deps").read_text()
    build_pkgs = re.search(r'^BUILD_PKGS="([^"]*)"', text, re.M | re.S)[1].split()
    control = (ROOT / "debian/control").read_text()
    deps = re.search(r"^Build-Depends:(.*?)^\S", control, re.M | re.S)[1]
    named = {d.strip().split()[0] for d in deps.split(",") if d.strip()}
    missing = [p for p in build_pkgs if p.endswith("-dev") and p not in named]
    assert not missing, f"add to Build-Depends in debian/control: {missing}"


def test_depends_name_every_runtime_package_setup_deps_installs():
    """A package the daemon reads at run time (RUN_PKGS: the Public Suffix
    List) must be in the package's Depends, or an installed Floodgate
    warns at every start and falls back."""
    text = (ROOT / "scripts/setup-deps").read_text()
    run_pkgs = re.search(r'^RUN_PKGS="([^"]*)"', text, re.M)[1].split()
    control = (ROOT / "debian/control").read_text()
    deps = re.search(r"^Depends:(.*?)^\S", control, re.M | re.S)[1]
    named = {d.strip().split()[0] for d in deps.split(",") if d.strip()}
    assert run_pkgs and not [p for p in run_pkgs if p not in named], (run_pkgs, named)


def run(*cmd, timeout=600, input=None, check=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}: exit {r.returncode}\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="module")
def deb():
    """floodgate_VERSION_ARCH.deb built by dpkg-buildpackage -b -us -uc from a
    copy of this tree (what git tracks, plus new files it does not ignore)."""
    work = Path(tempfile.mkdtemp(prefix="fg-deb-", dir="/var/tmp"))
    version = re.match(r"floodgate \(([^)]+)\)", (ROOT / "debian/changelog").read_text())[1]
    src = work / f"floodgate-{version}"
    src.mkdir()
    files = run("git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                "--exclude-standard").stdout.split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    r = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, capture_output=True,
                       text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    debs = [p for p in work.glob("floodgate_*.deb")]
    assert len(debs) == 1, list(work.iterdir())
    yield debs[0]
    shutil.rmtree(work, ignore_errors=True)


@needs_tools
def test_the_package_holds_programs_man_pages_unit_and_config(deb):
    listing = run("dpkg-deb", "-c", deb).stdout
    for path in ("./usr/sbin/floodgated", "./usr/sbin/floodctl",
                 "./usr/share/man/man8/floodgated.8.gz", "./usr/share/man/man8/floodctl.8.gz",
                 "./usr/share/man/man5/floodgate.conf.5.gz",
                 "./lib/systemd/system/floodgate.service", "./etc/logrotate.d/floodgate",
                 "./etc/floodgate/floodgate.conf"):
        assert re.search(rf" {re.escape(path)}$", listing, re.M), path
    conffiles = run("dpkg-deb", "-I", deb, "conffiles").stdout.split()
    assert "/etc/floodgate/floodgate.conf" in conffiles
    with tempfile.TemporaryDirectory() as x:
        run("dpkg-deb", "-x", deb, x)
        assert (Path(x) / "etc/floodgate/floodgate.conf").read_text() == \
            (ROOT / "etc/floodgate.conf.example").read_text()
        # the man pages are docs/*.md, with the NAME section whatis reads
        page = run("man", "-l", Path(x) / "usr/share/man/man8/floodgated.8.gz").stdout \
            if shutil.which("man") else ""
        if page:
            assert re.search(r"NAME\s+floodgated - the Floodgate SMTP server", page), page[:500]
            assert "SIGHUP" in page and "READY=1" in page


def mirror():
    src = Path("/etc/apt/sources.list.d/debian.sources")
    if src.exists():
        m = re.search(r"^URIs:\s*(\S+)", src.read_text(), re.M)
        if m:
            return m[1]
    m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", Path("/etc/apt/sources.list").read_text(), re.M)
    return m[1] if m else "http://deb.debian.org/debian"


def cached(path, make):
    """PATH, made by MAKE(TMP) into a temporary directory beside it first
    when missing, so that a run cut short never leaves half a cache."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="making-", dir=path.parent))
    try:
        make(tmp)
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def chroot_base(deb):
    """The cached Debian 12 minbase, and on it the package's Depends and
    Recommends (not theirs: logrotate would bring a whole MTA)."""
    fields = {k: run("dpkg-deb", "-f", deb, k).stdout.strip() for k in ("Depends", "Recommends")}
    wants = ", ".join(v for v in fields.values() if v)
    minbase = cached(CACHE / "bookworm-minbase", lambda tmp: run(
        "debootstrap", "--variant=minbase", "bookworm", tmp, mirror(), timeout=1800))

    def add_deps(tmp):
        run("cp", "-a", f"{minbase}/.", tmp)
        shutil.copy("/etc/resolv.conf", tmp / "etc/resolv.conf")
        run("chroot", tmp, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "satisfy", "-y",
            "-q", "--no-install-recommends", wants, timeout=1800)
        run("chroot", tmp, "apt-get", "clean")

    return cached(CACHE / ("bookworm-" + hashlib.sha256(wants.encode()).hexdigest()[:16]),
                  add_deps)


@pytest.fixture
def chroot(deb):
    """A copy of the base with /dev and /proc, torn down after the test."""
    base = chroot_base(deb)
    root = Path(tempfile.mkdtemp(prefix="fg-chroot-", dir="/var/tmp"))
    run("cp", "-a", f"{base}/.", root)
    os.chmod(root, 0o755)  # its "/": mkdtemp made it 0700, floodgate must pass
    run("mount", "--bind", "/dev", root / "dev")
    run("mount", "-t", "proc", "proc", root / "proc")
    try:
        yield root
    finally:
        # what is still running in it (a daemon a failed test left), by pid
        for p in Path("/proc").glob("[0-9]*"):
            try:
                if os.readlink(p / "root") == str(root):
                    os.kill(int(p.name), signal.SIGKILL)
            except OSError:
                pass
        subprocess.run(["umount", "-l", root / "proc"])
        subprocess.run(["umount", "-l", root / "dev"])
        shutil.rmtree(root, ignore_errors=True)


def in_root(root, *cmd, **kw):
    return run("chroot", root, *cmd, **kw)


def wait_for(what, cond, timeout=30):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)


@needs_tools
def test_install_serve_rotate_purge_in_a_fresh_debian(deb, chroot):
    root = chroot
    shutil.copy(deb, root / "tmp/floodgate.deb")
    in_root(root, "dpkg", "-i", "/tmp/floodgate.deb")

    # postinst: the system user and its private directories
    ent = in_root(root, "getent", "passwd", "floodgate").stdout.split(":")
    uid = int(ent[2])
    assert uid < 1000 and ent[6].strip() == "/usr/sbin/nologin", ent
    st = (root / "var/lib/floodgate").stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == uid
    assert (root / "var/log/floodgate").stat().st_uid == uid
    assert (root / "etc/systemd/system/multi-user.target.wants/floodgate.service").is_symlink()
    # the shipped configuration loads (with the certificate postinst made)
    assert "configuration OK" in in_root(root, "floodgated", "-n", "-c",
                                         "/etc/floodgate/floodgate.conf").stdout

    port = free_port()
    conf = root / "etc/floodgate/test.conf"
    conf.write_text(f"""
hostname = "mail.example.test";
state_dir = "/var/lib/floodgate";
user = "floodgate";
log_file = "/var/log/floodgate/floodgate.log";
listeners = ( {{ name = "mx"; address = "127.0.0.1:{port}"; }} );
dns = {{ servers = [ "127.0.0.1:{free_port()}" ]; }};
""")
    in_root(root, "floodctl", "-c", "/etc/floodgate/test.conf", "domain", "add", "example.test")
    in_root(root, "floodctl", "-c", "/etc/floodgate/test.conf", "user", "add",
            "alice@example.test", input=PASSWORD + "\n")
    # detached, as root: exit 0 once it serves, then runs as floodgate
    in_root(root, "floodgated", "-c", "/etc/floodgate/test.conf", timeout=120)
    pid = int((root / "var/lib/floodgate/floodgated.pid").read_text())
    status = Path(f"/proc/{pid}/status").read_text()
    assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", status, re.M), status
    wait_port("127.0.0.1", port)

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "sender@remote.test", "alice@example.test", "deb"
    msg.set_content("Installed from the package.\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.send_message(msg)
    new = root / "var/lib/floodgate/mail/example.test/alice/Maildir/new"
    wait_for("delivered", lambda: new.is_dir() and any(new.iterdir()))
    assert "Installed from the package." in next(new.iterdir()).read_text()
    log = root / "var/log/floodgate/floodgate.log"
    assert re.search(r" info event=delivered qid=\w+ rcpt=alice@example.test mailer=maildir",
                     log.read_text())

    # logrotate's file: the log is renamed and floodgated, told by SIGUSR1,
    # writes its next line to a new file
    in_root(root, "logrotate", "-f", "/etc/logrotate.d/floodgate")
    wait_for("log reopened", lambda: log.exists() and "event=log_reopen result=ok" in log.read_text())
    assert (root / "var/log/floodgate/floodgate.log.1").exists()

    os.kill(pid, signal.SIGTERM)
    wait_for("floodgated gone", lambda: not Path(f"/proc/{pid}").exists())

    conf.unlink()  # the admin's own file would keep /etc/floodgate
    in_root(root, "dpkg", "--purge", "floodgate")
    assert in_root(root, "getent", "passwd", "floodgate", check=False).returncode == 2
    assert not (root / "var/lib/floodgate").exists()
    assert not (root / "var/log/floodgate").exists()
    assert not (root / "etc/floodgate").exists()
