"""bench/scheduling - the fair-scheduling scenarios of bench/run (issue 13,
item 3): how long one message waits for delivery behind a queue that is
stuck, Floodgate beside Postfix.

  tarpit  N messages to N slow domains (each domain's MX a tarpit on its own
          loopback address: it accepts TCP and never says a word), then one
          message to a fast domain (smtp-sink): time from its 250 to its
          arrival at the sink.  Target: < 1 s with N = 300.
  flood   one account queues M messages to one slow destination (smtp-sink
          answering each DATA after SLOW seconds), then another account
          sends one message there: time from its 250 to its arrival.
          Target: < 3 s with M = 5,000.

Floodgate finds the MX hosts through a DNS server on loopback; Postfix, whose
resolver takes no port, gets a transport map naming the same hosts (one
nexthop per domain, so that its queue manager sees the same destinations).
Both servers run with the same timeouts toward the tarpits (30 s) so that a
run ends in bounded time; the wait is capped at CAP seconds and reported as
"> CAP s" when the message did not arrive by then."""
import selectors
import smtplib
import socket
import threading
import time

import lib
from lib import BenchError, log

TARPIT_DOMAIN = "slow{}.tarpit.bench.test"
FAST_DOMAIN = "fast.bench.test"
SLOW_DOMAIN = "slow.bench.test"
FAST_ADDR = "127.0.0.21"    # smtp-sink of the fast domain
SLOW_ADDR = "127.0.0.22"    # smtp-sink of the slow destination (DATA answered late)
TIMEOUT = 30                # seconds toward a tarpit, both servers
TARGET_TARPIT_S = 1.0
TARGET_FLOOD_S = 3.0
FLOODER, COLLEAGUE = "flood@corp.bench.test", "colleague@corp.bench.test"
PASSWORDS = {FLOODER: "Kq7#vR2!mZp9xw", COLLEAGUE: "Wb4$nT8@qLs3yv"}


def tarpit_address(i):
    """The loopback address of the I-th tarpit: 127.0.1.1, 127.0.1.2, ..."""
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


class Tarpit:
    """Listens on PORT of each of ADDRESSES; accepts every connection and
    never sends a byte (a greeting that never comes).  .connections counts
    them."""

    def __init__(self, addresses, port):
        self.sel = selectors.DefaultSelector()
        self.listeners, self.held = [], []
        self.connections = 0
        self.stopping = threading.Event()
        for a in addresses:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, port))
            s.listen(128)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.listeners.append(s)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            for key, _ in self.sel.select(0.2):
                try:
                    c, _ = key.fileobj.accept()
                except OSError:
                    continue
                self.connections += 1
                self.held.append(c)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        for s in self.listeners + self.held:
            s.close()
        self.sel.close()


def send_all(port, mails, login=None):
    """MAILS [(sender, rcpt)] in one SMTP session (AUTH LOGIN when given);
    returns the perf_counter time of the last 250."""
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as c:
        c.ehlo("client.bench.test")
        if login:
            c.login(*login)
        for sender, rcpt in mails:
            body = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: bench\r\n"
                    f"Message-ID: <{time.time_ns()}@client.bench.test>\r\n\r\nHello.\r\n")
            c.sendmail(sender, [rcpt], body)
    return time.perf_counter()


def wait_first(sink, base, cap, t0):
    """Seconds from T0 until SINK's count passed BASE, or None after CAP s."""
    try:
        return sink.wait_count(base + 1, timeout=cap) - t0
    except BenchError:
        return None


def floodgate_for(tmp, tag, dns, mx_port, submission=False):
    fg = lib.Floodgate(tmp, tag=tag, dns=dns.endpoint, submission=submission, extra=(
        f'delivery = {{ mx_port = {mx_port}; tls = "off"; connect_timeout = {TIMEOUT}; '
        f'command_timeout = {TIMEOUT}; }};'))
    return fg.start()


def postfix_for(tmp, routes, sasl_users=None):
    """Postfix delivering through a transport map ROUTES {domain: "host:port"}."""
    table = tmp / f"transport-{time.time_ns()}"
    table.write_text("".join(f"{d} smtp:[{h}]:{p}\n" for d, (h, p) in routes.items()))
    return lib.Postfix(tmp, sasl_users=sasl_users, extra=(
        "# scheduling scenarios: deliver through a transport map, with the\n"
        "# same timeouts toward a tarpit as Floodgate\n"
        "defer_transports =\n"
        f"transport_maps = texthash:{table}\n"
        f"smtp_connect_timeout = {TIMEOUT}s\n"
        f"smtp_helo_timeout = {TIMEOUT}s\n")).start()


# ---- tarpit: one fast domain behind N slow ones ----

def tarpit_once(server, port, sink, n, cap):
    base = sink.reset()
    send_all(port, [("app@bench.test", f"user@{TARPIT_DOMAIN.format(i)}") for i in range(n)])
    time.sleep(2)  # the slow domains' attempts are under way
    t0 = send_all(port, [("app@bench.test", f"user@{FAST_DOMAIN}")])
    took = wait_first(sink, base, cap, t0)
    log(f"tarpit {n} slow domains: {server:<9} fast message delivered after "
        + (f"{took:.3f} s" if took is not None else f"> {cap} s"))
    return took


def scenario_tarpit(cfg, tmp, res):
    n, cap = cfg["tarpit"]["domains"], cfg["tarpit"]["cap"]
    sink = lib.SmtpSink(address=FAST_ADDR).start()
    tarpit = Tarpit([tarpit_address(i) for i in range(n)], sink.port)
    records = {(FAST_DOMAIN + ".", "MX"): [(10, "mx." + FAST_DOMAIN + ".")],
               ("mx." + FAST_DOMAIN + ".", "A"): [FAST_ADDR]}
    for i in range(n):
        d = TARPIT_DOMAIN.format(i)
        records[(d + ".", "MX")] = [(10, "mx." + d + ".")]
        records[("mx." + d + ".", "A")] = [tarpit_address(i)]
    dns = lib.DNSServer(records).start()
    routes = {TARPIT_DOMAIN.format(i): (tarpit_address(i), sink.port) for i in range(n)}
    routes[FAST_DOMAIN] = (FAST_ADDR, sink.port)
    runs = {"Floodgate": [], "Postfix": []}
    try:
        for rep in range(cfg["reps"]):
            for who in ("Floodgate", "Postfix") if rep % 2 == 0 else ("Postfix", "Floodgate"):
                srv = (floodgate_for(tmp, "fg-tarpit", dns, sink.port) if who == "Floodgate"
                       else postfix_for(tmp, routes))
                try:
                    runs[who].append(tarpit_once(who, srv.port, sink, n, cap))
                finally:
                    if who == "Floodgate":
                        srv.stop(grace=2)
                    srv.cleanup()
        res["tarpit"] = {"domains": n, "cap": cap, "runs": runs,
                         "connections": tarpit.connections}
    finally:
        dns.stop()
        tarpit.stop()
        sink.stop()


# ---- flood: one account's flood and a colleague to the same destination ----

def flood_once(server, port, sink, m, cap):
    base = sink.reset()
    send_all(port, [(FLOODER, f"rcpt{i}@{SLOW_DOMAIN}") for i in range(m)],
             login=(FLOODER, PASSWORDS[FLOODER]))
    t0 = send_all(port, [(COLLEAGUE, f"boss@{SLOW_DOMAIN}")],
                  login=(COLLEAGUE, PASSWORDS[COLLEAGUE]))
    # the colleague's message is the only one to boss@: the sink tells when
    # that recipient arrived
    took = sink.wait_rcpt(f"boss@{SLOW_DOMAIN}", cap, t0)
    log(f"flood {m} messages: {server:<9} colleague's message delivered after "
        + (f"{took:.3f} s" if took is not None else f"> {cap} s")
        + f" ({sink.mesg - base} flood messages delivered meanwhile)")
    return took


class RcptSink:
    """A slow destination: an SMTP server on ADDRESS (a free port) answering
    each final "." after DELAY seconds, recording when each recipient's
    message arrived.  asyncio-free: one thread per connection."""

    def __init__(self, address, delay):
        self.address, self.delay = address, delay
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.arrived = {}
        self.mesg = 0
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        f = c.makefile("rb")
        try:
            c.sendall(b"220 slow.bench.test ESMTP\r\n")
            rcpts = []
            while not self.stopping.is_set():
                line = f.readline()
                if not line:
                    return
                cmd = line[:4].upper()
                if cmd in (b"EHLO", b"HELO"):
                    c.sendall(b"250-slow.bench.test\r\n250 8BITMIME\r\n")
                elif cmd == b"RCPT":
                    rcpts.append(line.split(b":", 1)[1].strip().strip(b"<>").decode())
                    c.sendall(b"250 OK\r\n")
                elif cmd == b"DATA":
                    c.sendall(b"354 go\r\n")
                    while f.readline() not in (b".\r\n", b".\n", b""):
                        pass
                    time.sleep(self.delay)
                    now = time.perf_counter()
                    with self.cond:
                        self.mesg += 1
                        for r in rcpts:
                            self.arrived.setdefault(r, now)
                        self.cond.notify_all()
                    rcpts = []
                    c.sendall(b"250 OK\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    if cmd == b"RSET":
                        rcpts = []
                    c.sendall(b"250 OK\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def reset(self):
        with self.cond:
            self.arrived = {}
            return self.mesg

    def wait_rcpt(self, rcpt, cap, t0):
        deadline = time.time() + cap
        with self.cond:
            while rcpt not in self.arrived:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))
            return self.arrived[rcpt] - t0

    def stop(self):
        self.stopping.set()
        self.sock.close()


def scenario_flood(cfg, tmp, res):
    m, cap, delay = cfg["flood"]["messages"], cfg["flood"]["cap"], cfg["flood"]["delay"]
    sink = RcptSink(SLOW_ADDR, delay)
    dns = lib.DNSServer({(SLOW_DOMAIN + ".", "MX"): [(10, "mx." + SLOW_DOMAIN + ".")],
                         ("mx." + SLOW_DOMAIN + ".", "A"): [SLOW_ADDR]}).start()
    runs = {"Floodgate": [], "Postfix": []}
    try:
        for rep in range(cfg["reps"]):
            for who in ("Floodgate", "Postfix") if rep % 2 == 0 else ("Postfix", "Floodgate"):
                if who == "Floodgate":
                    srv = floodgate_for(tmp, "fg-flood", dns, sink.port, submission=True)
                    srv.add_users(PASSWORDS)
                    port = srv.sub_port
                else:
                    srv = postfix_for(tmp, {SLOW_DOMAIN: (SLOW_ADDR, sink.port)},
                                      sasl_users=PASSWORDS)
                    port = srv.port
                try:
                    runs[who].append(flood_once(who, port, sink, m, cap))
                finally:
                    if who == "Floodgate":
                        srv.stop(grace=2)
                    srv.cleanup()
        res["flood"] = {"messages": m, "cap": cap, "delay": delay, "runs": runs}
    finally:
        dns.stop()
        sink.stop()


# ---- report ----

def fmt(values, cap):
    got = [v for v in values if v is not None]
    if len(got) < len(values):
        return f"> {cap} s" + (f" ({len(values) - len(got)} of {len(values)} runs)"
                               if got else "")
    med, lo, hi = lib.stats(got)
    return f"{med:.3f} s" + (f" ({lo:.3f}–{hi:.3f})" if len(got) > 1 else "")


def ratio_text(res):
    fg = [v for v in res["runs"]["Floodgate"] if v is not None]
    pf = res["runs"]["Postfix"]
    if not fg:
        return "—"
    fgm = lib.stats(fg)[0]
    if any(v is None for v in pf):
        return f"Postfix ≥ {res['cap'] / fgm:.0f}× slower"
    return f"Postfix {lib.stats(pf)[0] / fgm:.1f}× slower"


def target_row(r, name, size_key, full, target, unit):
    """One row of the Targets table for result R (None: not measured)."""
    if not r:
        return f"| {name} | not measured in this run | — |"
    fg = r["runs"]["Floodgate"]
    ok = all(v is not None and v < target for v in fg)
    met = ("**yes**" if ok else "**NO**") if r[size_key] >= full else "—"
    return f"| {name} | {fmt(fg, r['cap'])} ({r[size_key]} {unit}) | {met} |"


def target_rows(res):
    """Rows of the Targets table."""
    return [
        target_row(res.get("tarpit"), "300 slow domains queued: a fast domain's message "
                   f"delivered in < {TARGET_TARPIT_S:g} s", "domains", 300, TARGET_TARPIT_S,
                   "domains"),
        target_row(res.get("flood"), "5,000 messages of one account queued to a slow "
                   f"destination: another account's delivered in < {TARGET_FLOOD_S:g} s",
                   "messages", 5000, TARGET_FLOOD_S, "messages"),
    ]


def report_lines(res):
    """The section of RESULTS.md, or [] when neither scenario ran."""
    t, f = res.get("tarpit"), res.get("flood")
    if not t and not f:
        return []
    L = ["## Fair scheduling: one message behind a stuck queue\n"]
    L.append("Time from the message's `250` to its arrival at the receiving server. "
             f"Toward the tarpits both servers wait at most {TIMEOUT} s (connect and "
             "greeting); a message that had not arrived after the cap is shown as `> cap`. "
             "Floodgate finds the MX hosts through a DNS server on loopback, Postfix through "
             "a transport map naming the same hosts (one nexthop per domain).\n")
    L.append("| scenario | Floodgate | Postfix | ratio |\n| --- | --- | --- | --- |")
    if t:
        L.append(f"| {t['domains']} messages to {t['domains']} tarpit domains (each MX accepts "
                 f"TCP and never greets), then one to a fast domain | "
                 f"{fmt(t['runs']['Floodgate'], t['cap'])} | {fmt(t['runs']['Postfix'], t['cap'])}"
                 f" | {ratio_text(t)} |")
    if f:
        L.append(f"| one account queues {f['messages']} messages to a destination answering "
                 f"each DATA after {f['delay']:g} s, then another account sends one there | "
                 f"{fmt(f['runs']['Floodgate'], f['cap'])} | {fmt(f['runs']['Postfix'], f['cap'])}"
                 f" | {ratio_text(f)} |")
    L.append("")
    L.append("Floodgate at its defaults (`delivery.max_connections = 500`, `max_per_domain = 4`, "
             "`initial_per_domain = 2`); Postfix at its defaults for the queue manager "
             "(`default_destination_concurrency_limit = 20`, `initial_destination_concurrency = 5`) "
             "with the bench's `default_process_limit = 6000`.\n")
    return L
