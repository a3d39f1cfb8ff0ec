"""floodctl dkim generate / show / list / retire: keys under <state>/dkim/
with mode 0600, the DNS TXT record to publish, --json, refusals with exit
code 1, and rotation: an active key is replaced only with --rotate, which
keeps the old selector published beside the new one until 'dkim retire'
(issue 17, item 4)."""
import base64
import json
import re
import stat
import time

import pytest

from conftest import DOMAIN

RECORD_RE = re.compile(r'^(\S+)\. IN TXT \( ((?:"[^"]*" ?)+)\)$', re.M)


@pytest.fixture
def srv(make_server):
    """A running server with one local domain."""
    s = make_server().start()
    s.ctl("domain", "add", DOMAIN)
    return s


def record(out):
    """The (name, value) of the zone line in floodctl's output; every
    quoted string is at most 255 octets (RFC 1035 3.3.14)."""
    m = RECORD_RE.search(out)
    assert m, out
    parts = re.findall(r'"([^"]*)"', m.group(2))
    assert all(len(p) <= 255 for p in parts), parts
    return m.group(1), "".join(parts)


def tags(value):
    """The tag=value pairs of a DKIM key record (RFC 6376 3.2)."""
    return dict(t.strip().split("=", 1) for t in value.split(";") if t.strip())


def test_generate_rsa_prints_record_and_keeps_key_private(srv):
    r = srv.ctl("dkim", "generate", DOMAIN)
    selector = "fg" + time.strftime("%Y%m")
    name, value = record(r.stdout)
    assert name == f"{selector}._domainkey.{DOMAIN}"
    t = tags(value)
    assert t["v"] == "DKIM1" and t["k"] == "rsa"
    assert len(base64.b64decode(t["p"])) > 256  # a 2048-bit SubjectPublicKeyInfo
    assert "hint:" in r.stdout

    keydir = srv.state / "dkim"
    key = keydir / f"{DOMAIN}.{selector}.key"
    assert stat.S_IMODE(keydir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    with srv.db() as db:
        row = db.execute("SELECT selector, algorithm, key_file FROM dkim_keys WHERE domain = ?",
                         (DOMAIN,)).fetchone()
    assert row == (selector, "rsa", f"dkim/{DOMAIN}.{selector}.key")

    shown = srv.ctl("dkim", "show", DOMAIN)
    assert record(shown.stdout) == (name, value)
    assert RECORD_RE.search(shown.stdout).group(0) == RECORD_RE.search(r.stdout).group(0)


def test_show_json(srv):
    srv.ctl("dkim", "generate", DOMAIN, "--selector", "s2026")
    out = json.loads(srv.ctl("dkim", "show", DOMAIN, "--json").stdout)
    assert set(out) == {"domain", "selector", "algorithm", "name", "value", "retiring"}
    assert out["retiring"] == []
    assert out["domain"] == DOMAIN and out["selector"] == "s2026"
    assert out["algorithm"] == "rsa"
    assert out["name"] == f"s2026._domainkey.{DOMAIN}"
    assert record(srv.ctl("dkim", "show", DOMAIN).stdout) == (out["name"], out["value"])


def test_ed25519(srv):
    r = srv.ctl("dkim", "generate", DOMAIN, "--algorithm", "ed25519", "--selector", "ed")
    name, value = record(r.stdout)
    t = tags(value)
    assert name == f"ed._domainkey.{DOMAIN}"
    assert t["k"] == "ed25519"
    assert len(base64.b64decode(t["p"])) == 32  # the raw key, RFC 8463 4
    key = srv.state / "dkim" / f"{DOMAIN}.ed.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    out = json.loads(srv.ctl("dkim", "show", DOMAIN, "--json").stdout)
    assert (out["algorithm"], out["value"]) == ("ed25519", value)


def test_active_key_is_replaced_only_by_rotation(srv):
    srv.ctl("dkim", "generate", DOMAIN, "--selector", "one")
    r = srv.ctl("dkim", "generate", DOMAIN, "--selector", "two", check=False)
    assert r.returncode == 1
    assert (f"{DOMAIN} already has an active DKIM key (selector one)" in r.stderr and
            f"floodctl dkim generate {DOMAIN} --rotate" in r.stderr), r.stderr
    assert not (srv.state / "dkim" / f"{DOMAIN}.two.key").exists()
    assert json.loads(srv.ctl("dkim", "show", DOMAIN, "--json").stdout)["selector"] == "one"
    # the same selector is refused even when rotating
    r = srv.ctl("dkim", "generate", DOMAIN, "--rotate", "--selector", "one", check=False)
    assert r.returncode == 1 and "--selector" in r.stderr


def test_rotate_publishes_beside_the_old_until_retired(srv):
    first = record(srv.ctl("dkim", "generate", DOMAIN, "--selector", "one").stdout)
    r = srv.ctl("dkim", "generate", DOMAIN, "--rotate", "--selector", "two")
    second = record(r.stdout)
    assert second[0] == f"two._domainkey.{DOMAIN}" and second[1] != first[1]
    # the output says the old one stays published, with its record
    assert "Still published: selector one" in r.stdout
    assert f"floodctl dkim retire {DOMAIN} one" in r.stdout
    assert RECORD_RE.findall(r.stdout)[1][0] == first[0]
    shown = json.loads(srv.ctl("dkim", "show", DOMAIN, "--json").stdout)
    assert (shown["selector"], shown["name"]) == ("two", second[0])
    [old] = shown["retiring"]
    assert (old["selector"], old["state"], old["name"], old["value"]) == \
        ("one", "retiring", first[0], first[1])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", old["replaced"])
    # list: both, with their records
    listed = json.loads(srv.ctl("dkim", "list", "--json").stdout)
    assert [(k["selector"], k["state"]) for k in listed] == [("two", "active"), ("one", "retiring")]
    assert [(k["name"], k["value"]) for k in listed] == [second, first]
    text = srv.ctl("dkim", "list").stdout
    assert re.search(rf"(?m)^{DOMAIN}\s+two\s+rsa\s+active\s", text), text
    assert re.search(rf"(?m)^{DOMAIN}\s+one\s+rsa\s+retiring\s", text), text
    assert [m[0] for m in RECORD_RE.findall(text)] == [second[0], first[0]]
    # the active key cannot be retired; the old one can
    r = srv.ctl("dkim", "retire", DOMAIN, "two", check=False)
    assert r.returncode == 1 and "is the active DKIM key" in r.stderr
    r = srv.ctl("dkim", "retire", DOMAIN, "one")
    assert f"remove the TXT record one._domainkey.{DOMAIN}" in r.stdout
    assert not (srv.state / "dkim" / f"{DOMAIN}.one.key").exists()
    assert (srv.state / "dkim" / f"{DOMAIN}.two.key").exists()
    assert [k["selector"] for k in json.loads(srv.ctl("dkim", "list", "--json").stdout)] == ["two"]
    r = srv.ctl("dkim", "retire", DOMAIN, "one", check=False)
    assert r.returncode == 1 and f"floodctl dkim list {DOMAIN}" in r.stderr


def test_rotate_without_selector_names_a_new_one(srv):
    srv.ctl("dkim", "generate", DOMAIN)
    srv.ctl("dkim", "generate", DOMAIN, "--rotate")
    listed = json.loads(srv.ctl("dkim", "list", DOMAIN, "--json").stdout)
    assert [k["selector"] for k in listed] == ["fg" + time.strftime("%Y%m%d"),
                                               "fg" + time.strftime("%Y%m")]


def test_list_without_keys(srv):
    assert "no DKIM keys" in srv.ctl("dkim", "list").stdout
    assert json.loads(srv.ctl("dkim", "list", "--json").stdout) == []


def test_unknown_domain_refused(srv):
    r = srv.ctl("dkim", "generate", "other.test", check=False)
    assert r.returncode == 1
    assert "floodctl domain add other.test" in r.stderr
    assert not (srv.state / "dkim" / "other.test").exists()
    assert not list((srv.state / "dkim").glob("other.test.*")) \
        if (srv.state / "dkim").exists() else True


def test_show_without_key_and_usage_errors(srv):
    r = srv.ctl("dkim", "show", DOMAIN, check=False)
    assert r.returncode == 1
    assert f"floodctl dkim generate {DOMAIN}" in r.stderr
    r = srv.ctl("dkim", "generate", DOMAIN, "--algorithm", "dsa", check=False)
    assert r.returncode == 2
    r = srv.ctl("dkim", "generate", check=False)
    assert r.returncode == 2
    r = srv.ctl("dkim", "generate", DOMAIN, "--selector", "../x", check=False)
    assert r.returncode == 1
    assert "invalid selector" in r.stderr
