"""DKIM signing of outbound mail: the key floodctl made signs the mail of its
domain, and an independent verifier (dkimpy), fetching the public key from
the test DNS over the wire, accepts the signature - RSA and Ed25519.  Mail
of a domain without a key goes out unsigned."""
import json
import re

import dkim
import pytest

from conftest import PASSWORDS, message, smtp_send, token
from netfixtures import net, remote_server  # noqa: F401

TRUSTED = "127.0.0.3"
ALICE = ("alice@example.test", PASSWORDS["alice@example.test"])


def publish_key(s, net, domain, selector, algorithm="rsa"):
    s.ctl("dkim", "generate", domain, "--selector", selector, "--algorithm", algorithm)
    shown = json.loads(s.ctl("dkim", "show", domain, "--json").stdout)
    assert shown["selector"] == selector and shown["algorithm"] == algorithm, shown
    assert shown["name"] == f"{selector}._domainkey.{domain}"
    net.dns.txt(shown["name"], shown["value"])
    # published as floodctl said, in strings of at most 255 octets
    assert net.dns.lookup_txt(shown["name"], tcp=True) == shown["value"].encode()
    return shown["value"]


def dnsfunc(net):
    """dkimpy's TXT lookup, asking the test DNS server (over UDP)."""
    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return net.dns.lookup_txt(name)
    return lookup


def signature_tags(data):
    m = re.search(rb"(?mi)^DKIM-Signature:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", data)
    assert m, data[:1000]
    value = re.sub(rb"\s+", b"", m.group(1)).decode()
    return dict(t.split("=", 1) for t in value.split(";") if t)


@pytest.fixture
def signing(request, make_server, net):
    sink = net.sink()
    net.dns.mx("remote.test", 10, "mx1.remote.test", sink.address)
    params = getattr(request.node, "callspec", None)
    ed25519 = params is not None and params.params.get("algorithm") == "ed25519"
    return remote_server(make_server, net, full_leak_stacks=ed25519), sink


def send_as_alice(s, subject):
    msg = message(subject, sender="alice@example.test", to="bob@remote.test",
                  body="A signed message.\r\n.with a dot\r\n")
    smtp_send(s.ports["submission"], "alice@example.test", "bob@remote.test", msg,
              starttls=True, login=ALICE)
    return msg


@pytest.mark.parametrize("algorithm,a_tag", [("rsa", "rsa-sha256"),
                                             ("ed25519", "ed25519-sha256")])
def test_signed_and_verified(signing, net, algorithm, a_tag):
    s, sink = signing
    value = publish_key(s, net, "example.test", "s1", algorithm)
    assert f"k={algorithm}" in value.replace(" ", "")
    subject = token()
    msg = send_as_alice(s, subject)
    [t] = sink.wait(1, subject)
    assert t.data.endswith(msg)
    tags = signature_tags(t.data)
    assert tags["d"] == "example.test" and tags["s"] == "s1"
    assert tags["a"] == a_tag
    assert "from" in tags["h"].lower().split(":")
    assert dkim.verify(t.data, dnsfunc=dnsfunc(net)) is True
    # the verifier is no rubber stamp: a changed body fails
    assert dkim.verify(t.data.replace(b"A signed message.", b"A forged message."),
                       dnsfunc=dnsfunc(net)) is False


def test_domain_without_key_is_sent_unsigned(signing, net):
    s, sink = signing
    publish_key(s, net, "example.test", "s1")   # another domain has a key
    s.ctl("domain", "add", "nokey.test")
    subject = token()
    msg = message(subject, sender="app@nokey.test", to="bob@remote.test")
    smtp_send(s.ports["mx"], "app@nokey.test", "bob@remote.test", msg, source=TRUSTED)
    [t] = sink.wait(1, subject)
    assert t.mail_from == "app@nokey.test"
    assert t.data.endswith(msg)
    assert b"DKIM-Signature" not in t.data
    assert "event=dkim_error" not in s.log()


def test_rotation_signs_new_mail_with_the_new_selector(signing, net):
    """After 'dkim generate --rotate' new mail is signed with the new key;
    the old record stays published (mail signed before still verifies)
    until 'dkim retire'."""
    s, sink = signing
    publish_key(s, net, "example.test", "s1")
    subject = token()
    send_as_alice(s, subject)
    [old] = sink.wait(1, subject)
    assert signature_tags(old.data)["s"] == "s1"
    s.ctl("dkim", "generate", "example.test", "--rotate", "--selector", "s2")
    shown = json.loads(s.ctl("dkim", "show", "example.test", "--json").stdout)
    assert shown["selector"] == "s2"
    assert [r["selector"] for r in shown["retiring"]] == ["s1"]
    net.dns.txt(shown["name"], shown["value"])
    subject = token()
    send_as_alice(s, subject)
    [new] = sink.wait(1, subject)
    assert signature_tags(new.data)["s"] == "s2"
    assert dkim.verify(new.data, dnsfunc=dnsfunc(net)) is True
    assert dkim.verify(old.data, dnsfunc=dnsfunc(net)) is True  # s1 still published
