"""bench/lib.py - the pieces of the Floodgate benchmark (bench/run).

Two servers side by side, each started fresh by this script on loopback:
Floodgate (build/floodgated -d) and a private Postfix instance (own
config_directory, queue and data directory under the bench temp dir; the
system's Postfix is never touched).  Plus the clients: Postfix's smtp-source
for acceptance, a Python client holding idle connections, and a raw disk
fsync probe."""
import json
import os
import platform
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX = "/usr/sbin/postfix"
POSTSUPER = "/usr/sbin/postsuper"
POSTCONF = "/usr/sbin/postconf"
SMTP_SINK = "/usr/sbin/smtp-sink"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
UNSHARE = "/usr/bin/unshare"
AUTHLOAD = Path(__file__).resolve().parent / "authload.py"
BENCH_DOMAIN = "bench.invalid"


class BenchError(Exception):
    """A scenario could not run (a server did not start, a client failed...).
    bench/run exits non-zero on it; slow figures never raise this."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


_ports_handed_out = set()


def free_port(host="127.0.0.1"):
    """A free port not handed out before in this run (the kernel may give a
    just-closed port again, and two servers must not share one)."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port


def wait_port(port, timeout=20.0, proc=None, what="server", host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.settimeout(5)
                greeting = s.recv(512)
                if greeting.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError(f"{what}: nothing answers 220 on {host}:{port} after {timeout:.0f}s")


def raise_nofile(want=20000):
    """Raise RLIMIT_NOFILE of this process (inherited by both servers and the
    idle client); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def make_tmpdir(base=None):
    d = Path(tempfile.mkdtemp(prefix="fg-bench-", dir=base))
    # floodgated drops to "nobody" and Postfix' daemons run as "postfix":
    # both must traverse the bench dir
    os.chmod(d, 0o755)
    return d


def run(cmd, check=True, timeout=120, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise BenchError(f"{' '.join(map(str, cmd))} failed ({r.returncode}): "
                         f"{(r.stdout + r.stderr).strip()[-2000:]}")
    return r


# --------------------------------------------------------------------------
# /proc helpers

def proc_status(pid):
    """VmRSS / VmHWM of PID in KiB, as a dict (empty if the process is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def proc_pss(pid):
    """Proportional set size of PID in KiB (shared pages split among sharers)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def proc_children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parens: ppid is the 2nd field after the last ')'
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def proc_tree(pid):
    kids = proc_children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_cpu_seconds(pid):
    """utime + stime of PID (and its reaped children) in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    tck = os.sysconf("SC_CLK_TCK")
    # fields[11..14] = utime stime cutime cstime (stat fields 14..17)
    return sum(int(x) for x in fields[11:15]) / tck


# --------------------------------------------------------------------------
# Floodgate

class Floodgate:
    name = "Floodgate"

    # set by bench/run to a copy taken at start, so that a rebuild of the
    # tree during a run cannot change or remove the binary under test
    binary = None
    floodctl = None

    def __init__(self, tmp, tag="fg", dns=None, extra="",
                 trusted=("127.0.0.1",), submission=False, groups=None):
        """SUBMISSION: add a listener "submission" on .sub_port with AUTH
        required over plain TCP (plaintext_auth: loopback only, no TLS cost
        in the figures).  GROUPS: more IP groups, {name: [address, ...]}."""
        self.binary = Floodgate.binary or floodgated_path()
        if not os.access(self.binary, os.X_OK):
            raise BenchError(f"{self.binary} is missing: build first (ninja -C build)")
        self.dir = Path(tempfile.mkdtemp(prefix=tag + "-", dir=tmp))
        os.chmod(self.dir, 0o755)
        self.state = self.dir / "state"
        self.conf = self.dir / "floodgate.conf"
        self.port = free_port()
        self.sub_port = free_port() if submission else None
        self.proc = None
        self.err = None
        user = 'user = "nobody";' if os.geteuid() == 0 else ""
        sub = (f',\n  {{ name = "submission"; address = "127.0.0.1:{self.sub_port}"; tls = "none"; '
               'auth = "required"; plaintext_auth = true; }' if submission else "")
        # By default the resolver points at a loopback port where nothing
        # listens: the MX lookup of bench.invalid fails at once and delivery is
        # deferred (retry in 300 s), so every accepted message stays queued.
        # The relay scenario passes the address of its loopback DNS server.
        dns = dns or f"127.0.0.1:{free_port()}"
        groups = "; ".join(f'{name} = [ {", ".join(chr(34) + a + chr(34) for a in addrs)} ]'
                           for name, addrs in {"trusted": trusted, **(groups or {})}.items())
        self.conf.write_text(f"""
hostname = "floodgate.bench.test";
state_dir = "{self.state}";
{user}
listeners = (
  {{ name = "mx"; address = "127.0.0.1:{self.port}"; tls = "none"; auth = "off"; }}{sub}
);
ip_groups = {{ {groups}; }};
relay = {{ allow_groups = [ "trusted" ]; }};
limits = {{ max_connections = 10000; max_recipients = 1000; }};
# a benchmark measures speed, not the security defaults (0 = no limit):
# per-user / per-IP hourly sending limits and connections per IP
sending_limits = {{ messages_per_hour = 0; recipients_per_hour = 0; domains_per_hour = 0; }};
client_limits = {{ max_connections = 0; }};
dns = {{ servers = [ "{dns}" ]; }};
{extra}
""")

    def start(self):
        self.err = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen([str(self.binary), "-d", "-c", str(self.conf)],
                                     stdout=self.err, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, proc=self.proc, what="floodgated")
        except BenchError as e:
            raise BenchError(f"{e}\n--- floodgated log ---\n{self.log_tail()}") from None
        return self

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        return [self.proc.pid]

    def log_tail(self, n=3000):
        try:
            return (self.dir / "stderr.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, grace=40):
        """SIGTERM, then SIGKILL after GRACE seconds; returns the seconds the
        daemon took to exit, or None if it had to be killed."""
        took = 0.0
        if self.proc and self.proc.poll() is None:
            t0 = time.perf_counter()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
                took = time.perf_counter() - t0
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                took = None
        if self.err:
            self.err.close()
            self.err = None
        return took

    def ctl(self, *args, input=None, check=True):
        """floodctl ARGS against this daemon (its config)."""
        env = dict(os.environ, FLOODGATE_CONFIG=str(self.conf))
        r = subprocess.run([str(Floodgate.floodctl or floodctl_path()), *args], input=input,
                           capture_output=True, text=True, env=env, timeout=60)
        if check and r.returncode != 0:
            raise BenchError(f"floodctl {' '.join(args)} failed ({r.returncode}): "
                             f"{(r.stdout + r.stderr).strip()[-1000:]}")
        return r

    def add_users(self, users):
        """Create the domains and users of USERS = {address: password}
        (the daemon must be running: floodctl goes through its socket or store)."""
        for domain in sorted({a.split("@")[1] for a in users}):
            if domain not in self.ctl("domain", "list", check=False).stdout:
                self.ctl("domain", "add", domain)
        for address, password in users.items():
            self.ctl("user", "add", address, input=password + "\n")

    def bans(self):
        """`floodctl ban list --json` as text, or None where the command does
        not exist yet (anti-hammering not built in this binary)."""
        r = self.ctl("ban", "list", "--json", check=False)
        if r.returncode != 0:
            return None
        try:
            return json.dumps(json.loads(r.stdout), separators=(", ", ": "))
        except ValueError:
            return r.stdout.strip()

    def log_count(self, pattern):
        return len(re.findall(pattern, self.log_tail(10**9)))

    def alive(self):
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"floodgated died (status {self.proc.returncode if self.proc else '?'})")

    def status(self):
        """floodctl status, straight from the control socket (JSON lines)."""
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(10)
        try:
            c.connect(str(self.state / "control.sock"))
            c.sendall(b'{"cmd":"status"}\n')
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError as e:
            raise BenchError(f"control socket: {e}") from None
        finally:
            c.close()
        try:
            return json.loads(buf)["result"]
        except (ValueError, KeyError) as e:
            raise BenchError(f"control socket: bad status reply {buf[:200]!r}") from e

    def queued(self):
        """Messages in the store (the daemon may be running: WAL, read-only)."""
        db = sqlite3.connect(f"file:{self.state / 'store.db'}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute("SELECT count(*) FROM messages").fetchone()[0]
        finally:
            db.close()

    def delivered_or_bounced(self):
        log_text = self.log_tail(10**9)
        return len(re.findall(r"event=(delivered|bounced)\b", log_text))

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def floodgated_path():
    return Path(os.environ.get("FLOODGATE_BUILD", ROOT / "build")) / "floodgated"


def floodctl_path():
    return Path(os.environ.get("FLOODGATE_BUILD", ROOT / "build")) / "floodctl"


def floodgate_version():
    r = run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--tags"], check=False)
    return r.stdout.strip() or "unknown"


# --------------------------------------------------------------------------
# Postfix (a private instance)

POSTFIX_MASTER_CF = """\
# master.cf of the benchmark's private Postfix instance (written by bench/lib.py)
# service type  private unpriv  chroot  wakeup  maxproc command
{port} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# Queue subdirectories that hold messages (not logs such as defer/).
POSTFIX_MSG_QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


class Postfix:
    name = "Postfix"

    def __init__(self, tmp, extra="", sasl_users=None, nameserver=None):
        """EXTRA: main.cf lines appended at the end (a later line overrides
        an earlier one of the same parameter).  SASL_USERS = {address:
        password}: SMTP AUTH (PLAIN, LOGIN) through Cyrus SASL with a sasldb
        of these users, and relaying for authenticated clients only.
        NAMESERVER: an IPv4 address whose port 53 answers DNS; Postfix then
        runs in a mount namespace of its own where /etc/resolv.conf names
        only it (the libc resolver Postfix uses takes no port and no other
        file)."""
        self.dir = Path(tempfile.mkdtemp(prefix="postfix-", dir=tmp))
        os.chmod(self.dir, 0o755)
        self.conf_dir = self.dir / "etc"
        self.queue = self.dir / "queue"
        self.data = self.dir / "data"
        self.conf_dir.mkdir()
        self.queue.mkdir(mode=0o755)
        self.data.mkdir()
        shutil.chown(self.data, "postfix", "postfix")
        self.port = free_port()
        self.maillog = self.dir / "maillog"
        main_cf = f"""\
# main.cf of the benchmark's private Postfix instance (written by bench/lib.py)
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# the client of the benchmark relays without AUTH, like Floodgate's relay group
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# keep the mail queued: the smtp transport (every remote domain) is deferred
defer_transports = smtp
# 5,000 idle connections = 5,000 smtpd processes
default_process_limit = 6000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
# Postfix' own acceptance throttle (pause smtpd when arrivals outrun the
# queue manager) is switched off so Postfix is measured at its fastest
in_flow_delay = 0s
# log to a file through postlogd (there is no syslog daemon here)
maillog_file = {self.maillog}
maillog_file_prefixes = {self.dir}
biff = no
smtpd_banner = $myhostname ESMTP
message_size_limit = 52428800
"""
        if sasl_users:
            extra = self._sasl(sasl_users) + extra
        # EXTRA replaces the lines of the parameters it sets (no "overriding
        # earlier entry" warnings)
        for line in extra.splitlines():
            name = line.partition("=")[0].strip()
            if name and not name.startswith("#"):
                main_cf = re.sub(rf"(?m)^{re.escape(name)}\s*=.*\n", "", main_cf)
        (self.conf_dir / "main.cf").write_text(main_cf + extra)
        (self.conf_dir / "master.cf").write_text(
            POSTFIX_MASTER_CF.format(port=f"127.0.0.1:{self.port}"))
        self.env = dict(os.environ, MAIL_CONFIG=str(self.conf_dir))
        self.started = False
        self.resolv_conf = None
        if nameserver:
            self.resolv_conf = self.dir / "resolv.conf"
            self.resolv_conf.write_text(f"nameserver {nameserver}\noptions timeout:2 attempts:2\n")

    def _sasl(self, users):
        """Write the sasldb and the Cyrus SASL application config; return the
        main.cf lines that use them."""
        sasl = self.conf_dir / "sasl"
        sasl.mkdir()
        db = self.dir / "sasldb2"
        for address, password in users.items():
            user, _, realm = address.partition("@")
            # -p: password on stdin; -u: the realm, so that the client's
            # "user@realm" login finds the entry
            run([SASLPASSWD2, "-c", "-p", "-f", str(db), "-u", realm, user],
                input=password)
        # smtpd runs as mail_owner (postfix), not chrooted (master.cf)
        shutil.chown(db, "postfix", "postfix")
        os.chmod(db, 0o600)
        # Debian's Postfix reads $config_directory/sasl/smtpd.conf whatever
        # cyrus_sasl_config_path says (seen with strace: it never opened the
        # file named there); both point at the same file here
        (sasl / "smtpd.conf").write_text(
            "pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
            f"sasldb_path: {db}\nmech_list: PLAIN LOGIN\n")
        return ("# SMTP AUTH through Cyrus SASL (sasldb); only authenticated clients relay\n"
                "smtpd_sasl_auth_enable = yes\n"
                "smtpd_sasl_type = cyrus\n"
                "smtpd_sasl_path = smtpd\n"
                f"cyrus_sasl_config_path = {sasl}\n"
                "smtpd_relay_restrictions = permit_sasl_authenticated, reject\n")

    def _postfix(self, *args, check=True, timeout=120):
        try:
            return run([POSTFIX, "-c", str(self.conf_dir), *args], check=check, timeout=timeout)
        except BenchError as e:
            # postfix(1) reports to its log, not to a stderr that is no tty
            raise BenchError(f"{e}\n--- maillog ---\n{self.log_tail()}") from None

    def start(self):
        if os.geteuid() != 0:
            raise BenchError("the private Postfix instance needs root (postfix start)")
        # postfix-script creates the queue directories with their owners
        # (post-install create-missing), checks them, then starts master
        if self.resolv_conf:
            # master and every process it forks stay in this namespace,
            # where the bind mount replaces /etc/resolv.conf for them alone
            cmd = (f"mount --bind {shlex.quote(str(self.resolv_conf))} /etc/resolv.conf && "
                   f"exec {POSTFIX} -c {shlex.quote(str(self.conf_dir))} start")
            try:
                run([UNSHARE, "--mount", "--propagation", "private", "sh", "-c", cmd])
            except BenchError as e:
                raise BenchError(f"{e}\n--- maillog ---\n{self.log_tail()}") from None
        else:
            self._postfix("start")
        self.started = True
        try:
            wait_port(self.port, what="postfix smtpd")
        except BenchError as e:
            raise BenchError(f"{e}\n--- maillog ---\n{self.log_tail()}") from None
        return self

    @property
    def pid(self):
        try:
            return int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self):
        master = self.pid
        return proc_tree(master) if master else []

    def log_tail(self, n=3000):
        try:
            return self.maillog.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def queued(self):
        n = 0
        for q in POSTFIX_MSG_QUEUES:
            for _, _, files in os.walk(self.queue / q):
                n += len(files)
        return n

    def purge(self):
        """Delete every queued message (a fresh queue for the next repetition)."""
        run([POSTSUPER, "-c", str(self.conf_dir), "-d", "ALL"])
        deadline = time.time() + 30
        while self.queued() and time.time() < deadline:
            time.sleep(0.1)
            run([POSTSUPER, "-c", str(self.conf_dir), "-d", "ALL"])
        for q in ("defer", "bounce", "trace"):
            for root, _, files in os.walk(self.queue / q):
                for f in files:
                    try:
                        os.unlink(os.path.join(root, f))
                    except OSError:
                        pass

    def stop(self):
        if not self.started:
            return
        master = self.pid
        pids = self.pids()
        self._postfix("stop", check=False, timeout=60)
        deadline = time.time() + 15
        while master and os.path.exists(f"/proc/{master}") and time.time() < deadline:
            time.sleep(0.1)
        # leftovers (a stuck smtpd): this instance's processes only, by pid,
        # and only if the pid still runs a Postfix daemon
        for p in pids:
            try:
                if not os.readlink(f"/proc/{p}/exe").startswith("/usr/lib/postfix/"):
                    continue
                os.kill(p, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
        self.started = False

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def postfix_version():
    r = run([POSTCONF, "-d", "mail_version"], check=False)
    return r.stdout.strip().split("=")[-1].strip() or "unknown"


# --------------------------------------------------------------------------
# clients

def smtp_source(port, count, size, sessions, timeout=900, domain=BENCH_DOMAIN):
    """Send COUNT messages of SIZE payload octets over SESSIONS parallel
    sessions (one message per connection); returns (elapsed seconds, CPU
    seconds smtp-source used)."""
    cmd = [SMTP_SOURCE, "-s", str(sessions), "-m", str(count), "-l", str(size),
           "-M", "client.bench.test", "-f", "sender@client.bench.test",
           "-t", f"rcpt@{domain}", f"127.0.0.1:{port}"]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"smtp-source did not finish in {timeout}s") from None
    elapsed = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if r.returncode != 0:
        raise BenchError(f"smtp-source failed ({r.returncode}): {(r.stdout + r.stderr).strip()[-1500:]}")
    return elapsed, client_cpu


def hold_idle_connections(port, count, on_open, timeout=300, batch=250):
    """Open COUNT connections to 127.0.0.1:PORT, read each greeting, then call
    on_open() while they are all open; returns (on_open's result, seconds to
    open them all).  Connections are opened BATCH at a time so the listen
    queue of neither server overflows."""
    sel = selectors.DefaultSelector()
    socks = []
    greeted = 0
    t0 = time.perf_counter()
    deadline = time.time() + timeout
    try:
        while greeted < count:
            # keep at most BATCH connections waiting for their greeting
            while len(socks) - greeted < batch and len(socks) < count:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    s.connect_ex(("127.0.0.1", port))
                except OSError as e:
                    s.close()
                    raise BenchError(f"connection {len(socks) + 1}: {e}") from None
                socks.append(s)
                sel.register(s, selectors.EVENT_READ, len(socks) - 1)
            if time.time() > deadline:
                raise BenchError(f"only {greeted} of {count} connections greeted after {timeout}s")
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                try:
                    data = s.recv(512)
                except (ConnectionError, OSError) as e:
                    raise BenchError(f"connection {key.data + 1}: {e} (after {greeted} greeted)") \
                        from None
                if not data.startswith(b"220"):
                    raise BenchError(f"connection {key.data + 1}: no 220 greeting but {data[:100]!r} "
                                     f"(after {greeted} greeted)")
                sel.unregister(s)
                greeted += 1
        opened = time.perf_counter() - t0
        time.sleep(1)  # let the servers settle (lazy allocations) before measuring
        # a connection the server closed meanwhile would read EOF now
        for s in socks:
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    raise BenchError("a server closed an idle connection")
            except BlockingIOError:
                pass
        return on_open(), opened
    finally:
        sel.close()
        for s in socks:
            s.close()


def measure_rss(server):
    """RSS of a server now, in KiB: {'rss': sum VmRSS, 'pss': sum Pss,
    'hwm': VmHWM (Floodgate), 'procs': number of processes}."""
    pids = server.pids()
    rss = hwm = pss = 0
    n = 0
    for p in pids:
        st = proc_status(p)
        if not st:
            continue
        n += 1
        rss += st.get("VmRSS", 0)
        hwm += st.get("VmHWM", 0)
        pss += proc_pss(p)
    return {"rss": rss, "hwm": hwm, "pss": pss, "procs": n}


def disk_fsync_rate(directory, files=2000, size=5120):
    """Single writer: create FILES files of SIZE octets, fsync each; returns
    files/s.  Then the same number of appends of SIZE octets to one file with
    fdatasync each (what a write-ahead log does); returns both rates."""
    d = Path(tempfile.mkdtemp(prefix="fsync-", dir=directory))
    payload = os.urandom(size)
    try:
        dfd = os.open(d, os.O_RDONLY)
        t0 = time.perf_counter()
        for i in range(files):
            fd = os.open(d / f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, payload)
            os.fsync(fd)
            os.close(fd)
        os.fsync(dfd)
        per_file = files / (time.perf_counter() - t0)
        os.close(dfd)
        fd = os.open(d / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        t0 = time.perf_counter()
        for i in range(files):
            os.write(fd, payload)
            os.fdatasync(fd)
        append = files / (time.perf_counter() - t0)
        os.close(fd)
        return per_file, append
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# machine

def machine_info(tmp):
    info = {}
    info["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    info["cores"] = os.cpu_count()
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu"] = model or platform.processor() or "unknown"
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1])
    info["memory"] = f"{mem / 1048576:.1f} GiB"
    df = run(["df", "-hT", str(tmp)], check=False).stdout.strip().splitlines()
    info["disk"] = df[-1] if df else "unknown"
    info["kernel"] = platform.release()
    info["floodgate"] = floodgate_version()
    info["postfix"] = postfix_version()
    info["sqlite"] = sqlite_version()
    return info


def sqlite_version():
    r = run(["sqlite3", "--version"], check=False)
    cli = r.stdout.split()[0] if r.stdout else "?"
    lib = ""
    r = run(["pkg-config", "--modversion", "sqlite3"], check=False)
    if r.returncode == 0:
        lib = r.stdout.strip()
    return f"{lib or cli} (library linked by floodgated; sqlite3 CLI {cli})" if lib else cli


# --------------------------------------------------------------------------
# the remote side of the relay scenario: a DNS server and an SMTP sink

class DNSServer:
    """A tiny authoritative DNS server on 127.0.0.1:PORT (UDP and TCP, dnslib)
    serving RECORDS = {(name, type): [rdata, ...]}, e.g.
    {("relay.invalid.", "MX"): [(10, "mx.relay.invalid.")],
     ("mx.relay.invalid.", "A"): ["127.0.0.1"],
     ("sel._domainkey.x.invalid.", "TXT"): ["v=DKIM1; p=..."]} (a TXT value
    longer than 255 octets is split into strings).  A known name without the
    asked type answers NOERROR with no records; an unknown one NXDOMAIN.
    ADDRESS, PORT: where it listens (default a free port on 127.0.0.1);
    .endpoint is "ADDRESS:PORT"."""

    def __init__(self, records, address="127.0.0.1", port=None):
        from dnslib import MX, QTYPE, RCODE, RR, TXT, A, DNSLabel
        from dnslib.server import BaseResolver, DNSLogger, DNSServer as _Srv

        zone = {}
        for (name, rtype), values in records.items():
            for v in values:
                if rtype == "MX":
                    rd = MX(DNSLabel(v[1]), v[0])
                elif rtype == "A":
                    rd = A(v)
                elif rtype == "TXT":
                    rd = TXT([v[i:i + 255].encode() for i in range(0, len(v), 255)])
                else:
                    raise ValueError(rtype)
                zone.setdefault((DNSLabel(name), rtype), []).append(rd)
        names = {n for n, _ in zone}

        class Resolver(BaseResolver):
            def resolve(self, request, handler):
                reply = request.reply()
                q = request.q
                rtype = QTYPE[q.qtype]
                rds = zone.get((q.qname, rtype))
                if rds:
                    for rd in rds:
                        reply.add_answer(RR(q.qname, q.qtype, rdata=rd, ttl=3600))
                elif q.qname not in names:
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply

        self.address, self.port = address, port or free_port(address)
        self.endpoint = f"{address}:{self.port}"
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data",
                          prefix=False)
        self.servers = [_Srv(Resolver(), port=self.port, address=address, tcp=tcp,
                             logger=quiet) for tcp in (False, True)]

    def start(self):
        for s in self.servers:
            s.start_thread()
        return self

    def stop(self):
        for s in self.servers:
            try:
                s.stop()
                s.server.server_close()
            except Exception:  # noqa: BLE001
                pass


class SmtpSink:
    """Postfix's smtp-sink on ADDRESS:PORT (answers 250 to everything,
    stores nothing), with its counters (-c) read by a thread: .mesg is the
    number of messages received (final "." seen), .reached(n) the
    perf_counter time at which the count reached n."""

    def __init__(self, backlog=1024, address="127.0.0.1"):
        self.address, self.port = address, free_port(address)
        self.backlog = backlog
        self.proc = None
        self.mesg = 0
        self.times = {}
        self.cond = threading.Condition()
        self.thread = None

    def start(self):
        cmd = [SMTP_SINK, "-c", f"{self.address}:{self.port}", str(self.backlog)]
        if os.geteuid() == 0:
            cmd[1:1] = ["-u", "nobody"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     bufsize=0)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        wait_port(self.port, proc=self.proc, what="smtp-sink", host=self.address)
        with self.cond:  # wait_port's probe is a session, not a message
            self.mesg = 0
            self.times = {}
        return self

    def _read(self):
        buf = b""
        rx = re.compile(rb"mesg=(\d+)")
        while True:
            chunk = self.proc.stdout.read(65536)
            if not chunk:
                break
            now = time.perf_counter()
            buf += chunk
            # counter lines end with \r; keep the last partial one
            *lines, buf = re.split(rb"[\r\n]", buf)
            last = None
            for line in lines:
                m = rx.search(line)
                if m:
                    last = int(m.group(1))
            if last is not None:
                with self.cond:
                    if last > self.mesg:
                        self.mesg = last
                        self.times[last] = now
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def reset(self):
        """Forget the times (the counter itself is smtp-sink's and keeps
        counting: callers note .mesg before a run)."""
        with self.cond:
            self.times = {}
            return self.mesg

    def wait_count(self, n, timeout):
        """Wait until N messages have arrived; returns the time the N-th
        arrived (perf_counter) or raises BenchError with the count."""
        deadline = time.time() + timeout
        with self.cond:
            while self.mesg < n:
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    raise BenchError(f"smtp-sink received {self.mesg} messages, expected {n} "
                                     f"(waited {timeout:.0f}s)")
                self.cond.wait(min(left, 0.5))
            return min(t for c, t in self.times.items() if c >= n) if self.times else time.perf_counter()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def smtp_source_start(port, size, sessions, count=10**8, domain=BENCH_DOMAIN):
    """smtp-source in the background (the flood of the isolation scenario);
    the caller terminates it."""
    cmd = [SMTP_SOURCE, "-s", str(sessions), "-m", str(count), "-l", str(size),
           "-M", "client.bench.test", "-f", "sender@client.bench.test",
           "-t", f"rcpt@{domain}", f"127.0.0.1:{port}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def probe_submit(port, source="127.0.0.2", size=1024, timeout=30):
    """One message over one connection from SOURCE; returns the seconds from
    connect to the 250 after the final "." (QUIT not counted), or raises."""
    import smtplib
    body = ("Subject: probe\r\n\r\n" + ("x" * 72 + "\r\n") * max(1, size // 74)).encode()
    t0 = time.perf_counter()
    s = smtplib.SMTP(timeout=timeout, source_address=(source, 0))
    try:
        s.connect("127.0.0.1", port)
        s.ehlo("probe.bench.test")
        s.sendmail("probe@client.bench.test", [f"probe@{BENCH_DOMAIN}"], body)
        took = time.perf_counter() - t0
        try:
            s.quit()
        except smtplib.SMTPException:
            pass
        return took
    finally:
        s.close()


def authload_start(mode, port, user, password="", sessions=20, seconds=10.0,
                   measure_from=0.0, size=1024, source="127.0.0.1"):
    """bench/authload.py in the background (its own process: its CPU is not
    the prober's); read its figures with authload_result()."""
    cmd = ["/usr/bin/python3", str(AUTHLOAD), mode, "--port", str(port), "--user", user,
           "--password", password, "--sessions", str(sessions), "--seconds", str(seconds),
           "--measure-from", str(measure_from), "--size", str(size), "--source", source]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def authload_result(proc, timeout=60):
    """Wait for an authload process; its JSON figures as a dict."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BenchError(f"authload did not finish {timeout}s after its end") from None
    if proc.returncode != 0:
        raise BenchError(f"authload failed ({proc.returncode}): "
                         f"{err.decode(errors='replace')[-1500:]}")
    return json.loads(out)


def probe_submit_auth(port, user, password, source="127.0.0.2", size=1024, timeout=60):
    """One authenticated message over one connection from SOURCE: connect,
    EHLO, AUTH PLAIN, MAIL FROM:<USER>, RCPT, DATA.  Returns (seconds from
    connect to the 250 after the final ".", seconds of the AUTH exchange);
    QUIT not counted.  Raises on any failure."""
    import smtplib
    body = (f"From: <{user}>\r\nSubject: probe\r\n\r\n"
            + ("x" * 72 + "\r\n") * max(1, size // 74)).encode()
    t0 = time.perf_counter()
    s = smtplib.SMTP(timeout=timeout, source_address=(source, 0))
    try:
        s.connect("127.0.0.1", port)
        s.ehlo("probe.bench.test")
        s.user, s.password = user, password
        t1 = time.perf_counter()
        code, resp = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
        auth = time.perf_counter() - t1
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, resp)
        s.sendmail(user, [f"probe@{BENCH_DOMAIN}"], body)
        took = time.perf_counter() - t0
        try:
            s.quit()
        except smtplib.SMTPException:
            pass
        return took, auth
    finally:
        s.close()


def percentile(values, p):
    """Nearest-rank percentile (P in 0..100) of VALUES."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(1, -(-len(v) * p // 100))  # ceil
    return v[int(k) - 1]


def stats(values):
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)
