"""floodctl doctor (issue 15, items 1 to 3): the config audit and the DNS
checks.

Each test writes a config, runs the real floodctl on it and reads what it
says: one line a check with status and fix, --json with the documented
fields, and the exit code (0 all ok, 1 warnings, 2 a failure).  The DNS
checks ask a DNS server on loopback (netfixtures.DNSZone) through
dns.servers; SPF is evaluated by libspf2 through Floodgate's own DNS layer,
so an include: that authorises the address passes where string matching
would not."""
import json
import subprocess

import pytest

from conftest import FLOODCTL, free_port
from netfixtures import DNSZone


def ctl(tmp_path, *args):
    r = subprocess.run([str(FLOODCTL), "-c", str(tmp_path / "floodgate.conf"), *args],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def doctor(tmp_path, body, *args, dns=None):
    """floodctl doctor [ARGS] on a config of BODY; (rc, stdout, stderr).
    DNS: "ip:port" of the DNS server (default: a loopback port where nothing
    listens, so that no question leaves the machine)."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    conf = tmp_path / "floodgate.conf"
    dns = dns or f"127.0.0.1:{free_port()}"
    conf.write_text(f'hostname = "mail.example.test";\nstate_dir = "{state}";\n'
                    f'log_file = "{state}/floodgate.log";\n'
                    f'dns = {{ servers = [ "{dns}" ]; }};\n{body}')
    return ctl(tmp_path, "doctor", *args)


GOOD = """
listeners = ( { name = "mx"; address = "127.0.0.1:2525"; } );
ip_groups = { lan = [ "192.168.1.0/24", "10.0.0.0/8" ]; trusted = [ "127.0.0.1", "@lan" ]; };
relay = { allow_groups = [ "trusted" ]; };
"""

# The Kerio article's door: a partner's public network next to the LAN in a
# group that grants relay, a second group that overlaps the LAN halfway,
# and a submission listener taking passwords without TLS on every address.
BAD = """
listeners = (
  { name = "mx"; address = "127.0.0.1:2525"; },
  { name = "sub"; address = "0.0.0.0:2587"; auth = "optional"; plaintext_auth = true; }
);
ip_groups = {
  lan = [ "192.168.0.0/16" ];
  partners = [ "203.0.113.0/24", "192.168.5.0/24" ];
  spare = [ "172.16.0.0/12" ];
  trusted = [ "127.0.0.1", "@lan" ];
};
relay = { allow_groups = [ "trusted", "partners" ]; };
"""


def checks_of(out):
    return {(c["check"], c["subject"]): c for c in json.loads(out)["checks"]}


def test_clean_config_is_all_ok(tmp_path):
    rc, out, err = doctor(tmp_path, GOOD, "--only", "config")
    assert rc == 0, out + err
    lines = out.strip().split("\n")
    assert all(l.startswith(("ok ", "doctor: ")) for l in lines), out
    assert "ip_group lan: 2 entries, all private or local; grants relay without AUTH" in out
    assert "listener_relay mx: 127.0.0.1:2525: relay without AUTH for groups trusted" in out
    assert lines[-1].endswith(": 4 ok, 0 warn or unknown, 0 fail"), lines[-1]


def test_bad_config_says_what_to_fix(tmp_path):
    rc, out, err = doctor(tmp_path, BAD, "--only", "config")
    assert rc == 2, out + err
    # the public network in a relay group, with its entry named
    assert "warn    ip_group partners: 2 entries, 1 with public addresses (203.0.113.0/24)" in out
    # the halfway overlap (trusted holds lan whole: not reported)
    assert "ip_group_overlap lan, partners: groups lan and partners share addresses " \
           "(from 192.168.5.0)" in out
    assert "ip_group_overlap lan, trusted" not in out
    # passwords in clear text off loopback: a failure, with the fix under it
    i = out.index("fail    listener_auth sub: 0.0.0.0:2587: AUTH is offered without TLS")
    assert out[i:].split("\n")[1].startswith("        fix: set tls = \"starttls\"")
    # the group nothing uses grants nothing
    assert "ok      ip_group spare: 1 entry; grants nothing" in out
    assert out.strip().split("\n")[-1].endswith(" fail") and " 1 fail" in out


def test_json_fields(tmp_path):
    rc, out, err = doctor(tmp_path, BAD, "--json", "--only", "config")
    assert rc == 2, out + err
    checks = json.loads(out)["checks"]
    for c in checks:
        assert set(c) - {"fix"} == {"check", "subject", "status", "detail"}, c
        assert c["status"] in ("ok", "warn", "fail", "unknown")
    by = checks_of(out)
    assert by[("listener_auth", "sub")]["status"] == "fail"
    assert by[("listener_auth", "mx")]["status"] == "ok"
    assert by[("ip_group", "partners")]["status"] == "warn"
    assert "fix" in by[("ip_group", "partners")]
    assert by[("listener_relay", "sub")]["detail"].startswith(
        "0.0.0.0:2587: relay without AUTH for groups partners (2 entries), trusted (2 entries)")
    # the loader's own warning arrives with its file and line
    warned = [c for c in checks if c["check"] == "config_warning"]
    line = next(i for i, l in enumerate((tmp_path / "floodgate.conf").read_text().split("\n"), 1)
                if "plaintext_auth" in l)
    assert any(c["subject"].endswith(f"floodgate.conf:{line}: listeners.[1].plaintext_auth")
               for c in warned), warned


def test_warnings_only_exit_1(tmp_path):
    rc, out, err = doctor(tmp_path, GOOD.replace('"10.0.0.0/8"', '"10.0.0.0/8", "198.51.100.0/24"'),
                          "--only", "config")
    assert rc == 1, out + err
    assert "warn    ip_group lan:" in out and "198.51.100.0/24" in out


def test_open_relay_fails(tmp_path):
    rc, out, err = doctor(tmp_path, GOOD.replace('allow_groups = [ "trusted" ];',
                                                 'allow_groups = [ "trusted" ]; open_relay = true;'),
                          "--only", "config")
    assert rc == 2, out + err
    assert "fail    listener_relay mx: 127.0.0.1:2525: relay.open_relay = true" in out


def test_usage_errors(tmp_path):
    rc, out, err = doctor(tmp_path, GOOD, "--only", "everything")
    assert rc == 2 and "--only takes config, dns or blocklists, not 'everything'" in err, out + err
    rc, out, err = doctor(tmp_path, GOOD, "extra")
    assert rc == 2 and "unexpected 'extra'" in err, out + err


def test_broken_config_names_file_and_line(tmp_path):
    rc, out, err = doctor(tmp_path, GOOD + "limits = { max_recipients = \"many\"; };\n")
    assert rc == 1 and "floodgate.conf:" in err and "limits.max_recipients" in err, out + err


# ---------------------------------------------------------------- DNS checks

DOMAIN = "example.test"
HOST = "mail.example.test"
ADDR = "198.51.100.25"  # the server's public address (a loopback one would always
                        # pass SPF: libspf2 lets localhost send for any domain)

DNS_BODY = f"""
listeners = ( {{ name = "mx"; address = "127.0.0.1:2525"; }} );
reputation = {{ public_addresses = [ "{ADDR}" ]; }};
"""


@pytest.fixture
def zone():
    z = DNSZone()
    yield z
    z.close()


def provision(tmp_path, zone, dkim=True):
    """The domain in the store (and a DKIM key), published correctly."""
    doctor(tmp_path, DNS_BODY, "--only", "config", dns=zone.server)  # writes the config
    assert ctl(tmp_path, "domain", "add", DOMAIN)[0] == 0
    zone.mx(DOMAIN, 10, HOST)
    zone.a(HOST, ADDR)
    zone.ptr(ADDR, HOST)
    zone.txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=reject; rua=mailto:postmaster@example.test")
    if dkim:
        assert ctl(tmp_path, "dkim", "generate", DOMAIN)[0] == 0
        rc, out, err = ctl(tmp_path, "--json", "dkim", "show", DOMAIN)
        key = json.loads(out)
        zone.txt(key["name"], key["value"])


def dns_checks(tmp_path, zone):
    rc, out, err = doctor(tmp_path, DNS_BODY, "--only", "dns", "--json", dns=zone.server)
    return rc, checks_of(out), err


def test_dns_all_published(tmp_path, zone):
    provision(tmp_path, zone)
    # authorised through an include: only an SPF evaluator sees it
    zone.txt(DOMAIN, "v=spf1 include:_spf.provider.test -all")
    zone.txt("_spf.provider.test", f"v=spf1 ip4:192.0.2.0/24 ip4:{ADDR} -all")
    rc, checks, err = dns_checks(tmp_path, zone)
    bad = {k: v for k, v in checks.items() if v["status"] != "ok"}
    assert rc == 0 and not bad, (bad, err)
    assert checks[("spf", f"{DOMAIN} for {ADDR}")]["detail"].startswith(
        '"v=spf1 include:_spf.provider.test -all" passes')
    assert checks[("ptr", ADDR)]["detail"] == \
        f"{ADDR} has the PTR {HOST}, which resolves back and is the HELO name"
    assert checks[("mx", DOMAIN)]["detail"] == f"MX {HOST}: {HOST} is this server's hostname"
    assert "policy reject" in checks[("dmarc", DOMAIN)]["detail"]
    assert checks[("mta_sts", DOMAIN)]["detail"].startswith("not published")
    dkim = [v for (c, s), v in checks.items() if c == "dkim"]
    assert dkim and dkim[0]["status"] == "ok", dkim


def test_dns_tag_lists_read_as_their_grammars_allow(tmp_path, zone):
    """Space around a tag's '=', a key folded over several strings, a DMARC
    tag in capitals (RFC 6376 3.2, RFC 7489 6.4): read as published."""
    provision(tmp_path, zone)
    zone.txt(DOMAIN, f"v=spf1 ip4:{ADDR} -all")
    zone.records[f"_dmarc.{DOMAIN}"] = []
    zone.txt(f"_dmarc.{DOMAIN}", "v=DMARC1;  P = Quarantine ; rua=mailto:postmaster@example.test")
    name = next(n for n in zone.records if "._domainkey." in n)
    rc, out, err = ctl(tmp_path, "--json", "dkim", "show", DOMAIN)
    key = json.loads(out)["value"]
    head, b64 = key.split("p=", 1)
    zone.records[name] = []
    zone.txt(name, f"{head}p = {b64[:40]} {b64[40:]} ; t=s")
    rc, checks, err = dns_checks(tmp_path, zone)
    assert "policy Quarantine" in checks[("dmarc", DOMAIN)]["detail"], checks
    dkim = checks[("dkim", name)]
    assert dkim["status"] == "ok", dkim


def test_dns_problems_named_with_fixes(tmp_path, zone):
    provision(tmp_path, zone)
    zone.records.pop(f"_dmarc.{DOMAIN}")
    zone.txt(DOMAIN, "v=spf1 ip4:192.0.2.1 -all")     # not this server
    zone.records.pop(".".join(reversed(ADDR.split("."))) + ".in-addr.arpa")
    zone.ptr(ADDR, "host-1.isp.test")                  # resolves nowhere
    # a DKIM record with another key
    name = next(n for n in zone.records if "._domainkey." in n)
    zone.records[name] = []
    zone.txt(name, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong")
    rc, checks, err = dns_checks(tmp_path, zone)
    assert rc == 2, (checks, err)
    spf = checks[("spf", f"{DOMAIN} for {ADDR}")]
    assert spf["status"] == "fail" and f" gives fail for {ADDR}" in spf["detail"], spf
    assert spf["fix"] == f"add ip4:{ADDR} to the SPF record of {DOMAIN} (before its all)"
    ptr = checks[("ptr", ADDR)]
    assert ptr["status"] == "fail" and "does not resolve back" in ptr["detail"], ptr
    assert ptr["fix"].startswith(f"ask whoever owns {ADDR} (your provider) for the PTR record")
    assert checks[("dmarc", DOMAIN)]["status"] == "warn"
    assert checks[("dmarc", DOMAIN)]["fix"].startswith(f"publish: _dmarc.{DOMAIN}. IN TXT")
    dkim = checks[("dkim", name)]
    assert dkim["status"] == "fail" and "is not the one floodctl dkim holds" in dkim["detail"]
    assert dkim["fix"].startswith(f"publish: {name}.")


def test_dns_missing_records(tmp_path, zone):
    provision(tmp_path, zone, dkim=False)
    zone.records.pop(DOMAIN)                           # no MX, no SPF: NXDOMAIN
    zone.records.pop(HOST)                             # the hostname does not resolve
    rc, checks, err = dns_checks(tmp_path, zone)
    assert rc == 2
    assert checks[("hostname", HOST)]["status"] == "fail"
    assert checks[("mx", DOMAIN)]["status"] == "fail"
    assert checks[("mx", DOMAIN)]["fix"] == f"publish: {DOMAIN}. IN MX 10 {HOST}."
    assert checks[("spf", DOMAIN)]["status"] == "fail"
    assert checks[("spf", DOMAIN)]["fix"] == f'publish: {DOMAIN}. IN TXT "v=spf1 ip4:{ADDR} -all"'
    assert checks[("dkim", DOMAIN)]["status"] == "warn"
    assert checks[("dkim", DOMAIN)]["fix"].startswith(f"floodctl dkim generate {DOMAIN}")


def test_dns_failure_is_unknown_never_fail(tmp_path, zone):
    provision(tmp_path, zone)
    zone.txt(DOMAIN, f"v=spf1 ip4:{ADDR} -all")
    for name in (DOMAIN, f"_dmarc.{DOMAIN}", HOST):
        zone.servfail.add(name)
    rc, checks, err = dns_checks(tmp_path, zone)
    for key in (("mx", DOMAIN), ("spf", DOMAIN), ("dmarc", DOMAIN), ("hostname", HOST)):
        assert checks[key]["status"] == "unknown", checks[key]
        assert "server failure" in checks[key]["detail"]
    assert rc == 1, checks           # unknowns are warnings, never failures
    # no DNS server at all: every DNS check unknown, none failed
    rc, out, err = doctor(tmp_path, DNS_BODY, "--only", "dns", "--json")
    statuses = {c["status"] for c in json.loads(out)["checks"]}
    assert rc == 1 and statuses <= {"unknown", "ok"}, out


def test_dns_text_output(tmp_path, zone):
    provision(tmp_path, zone)
    rc, out, err = doctor(tmp_path, DNS_BODY, dns=zone.server)   # config and DNS
    assert rc == 2, out + err                                    # no SPF record
    assert "fail    spf example.test: example.test has no SPF record" in out
    assert "        fix: publish: example.test. IN TXT \"v=spf1 ip4:198.51.100.25 -all\"" in out
    assert "ok      listener_relay mx:" in out and "ok      ptr 198.51.100.25:" in out


def test_dns_without_store_creates_none(tmp_path, zone):
    zone.a(HOST, ADDR)
    zone.ptr(ADDR, HOST)
    rc, out, err = doctor(tmp_path, DNS_BODY, "--only", "dns", "--json", dns=zone.server)
    checks = checks_of(out)
    assert checks[("domains", "-")]["status"] == "unknown"
    assert checks[("hostname", HOST)]["status"] == "ok"
    assert checks[("ptr", ADDR)]["status"] == "ok"
    assert rc == 1
    assert not (tmp_path / "state" / "store.db").exists()


# ---------------------------------------------------------------- blocklists

def rev(addr):
    return ".".join(reversed(addr.split(".")))


def test_blocklists_read_every_return_code(tmp_path, zone):
    addrs = ["198.51.100.25", "198.51.100.26", "198.51.100.27", "198.51.100.28",
             "198.51.100.29", "2001:db8::25"]
    body = f"""
listeners = ( {{ name = "mx"; address = "127.0.0.1:2525"; }} );
reputation = {{ public_addresses = [ {", ".join(f'"{a}"' for a in addrs)} ];
               blocklists = [ "bl.test", "zen.spamhaus.org" ]; }};
"""
    zone.name("bl.test")
    zone.a(f"{rev(addrs[0])}.bl.test", "127.0.0.2")            # listed, with a reason
    zone.txt(f"{rev(addrs[0])}.bl.test", "Listed for spam, see https://bl.test/lookup")
    # addrs[1]: NXDOMAIN, not listed
    zone.a(f"{rev(addrs[2])}.bl.test", "127.255.255.254")      # public resolver refused
    zone.servfail.add(f"{rev(addrs[3])}.bl.test")              # DNS failure
    zone.a(f"{rev(addrs[4])}.bl.test", "10.0.0.1")             # an answer no list gives
    zone.a(f"{rev(addrs[4])}.zen.spamhaus.org", "127.0.0.4")   # XBL, with its meaning
    nibbles = ".".join(reversed("20010db8000000000000000000000025"))
    zone.a(f"{nibbles}.bl.test", "127.0.0.3")                  # IPv6: nibbles
    rc, out, err = doctor(tmp_path, body, "--only", "blocklists", "--json", dns=zone.server)
    checks = checks_of(out)
    assert rc == 2, out + err
    c = checks[("blocklist", f"{addrs[0]} on bl.test")]
    assert c["status"] == "fail" and c["detail"] == \
        "listed: 127.0.0.2 (listed (code 127.0.0.2)); the list says: Listed for spam, " \
        "see https://bl.test/lookup", c
    assert "delisting procedure" in c["fix"]
    assert checks[("blocklist", f"{addrs[1]} on bl.test")]["status"] == "ok"
    c = checks[("blocklist", f"{addrs[2]} on bl.test")]
    assert c["status"] == "unknown" and "public resolvers" in c["detail"], c
    c = checks[("blocklist", f"{addrs[3]} on bl.test")]
    assert c["status"] == "unknown" and "server failure" in c["detail"], c
    c = checks[("blocklist", f"{addrs[4]} on bl.test")]
    assert c["status"] == "unknown" and c["detail"] == "an answer no list gives: the list " \
        "may be dead and answering every name — answer 10.0.0.1", c
    c = checks[("blocklist", f"{addrs[4]} on zen.spamhaus.org")]
    assert c["status"] == "fail" and "XBL: an infected or exploited machine" in c["detail"], c
    assert checks[("blocklist", f"{addrs[0]} on zen.spamhaus.org")]["status"] == "ok"
    c = checks[("blocklist", f"{addrs[5]} on bl.test")]
    assert c["status"] == "fail" and c["detail"].startswith("listed: 127.0.0.3"), c
    # the questions went where they should: reversed octets under the zone
    asked = {n for n, t, p in zone.queries if t == "A"}
    assert f"{rev(addrs[1])}.bl.test" in asked and f"{rev(addrs[1])}.zen.spamhaus.org" in asked


def test_blocklist_config_errors(tmp_path):
    rc, out, err = doctor(tmp_path, GOOD + 'reputation = { blocklists = [ "bad zone" ]; };\n',
                          "--only", "config")
    assert rc == 1 and 'reputation.blocklists.[0]: "bad zone" is not a DNS zone name' in err, err
    rc, out, err = doctor(tmp_path, GOOD + "reputation = { check_interval = 10; };\n",
                          "--only", "config")
    assert rc == 1 and "reputation.check_interval" in err and "at least 60" in err, err
