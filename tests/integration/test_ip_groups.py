"""IP groups that grant something: the typo class of the Kerio article
(seeds/: "an attempt to establish a local IP Mask, but accidentally creating
a fully open IP Range").  Every group a setting grants something to (relay,
exemption from bans, exemption from the client limits) is guarded: a network
written with host bits set is refused with the network meant, an entry wider
than a /8 (IPv4) or /32 (IPv6) that covers public addresses is refused unless
the group says allow_wide = true, and `floodgated -n` prints who may do what
on each listener.  AUTH in clear text off loopback needs plaintext_auth.

Listeners off loopback appear only in configs checked with -n, which binds
nothing: a test never starts a daemon on an address other than loopback."""
import os
import signal

from conftest import RawClient, check_config, conf_line, wait_log


def realconf(s):
    return os.path.realpath(s.conf)


def set_groups(s, body):
    """Replace the body of the harness's ip_groups block with BODY."""
    start = s.conf_text.index("ip_groups = {\n") + len("ip_groups = {\n")
    end = s.conf_text.index("};", start)
    s.conf_text = s.conf_text[:start] + body + "\n" + s.conf_text[end:]
    s.conf.write_text(s.conf_text)


def refused(s, needle, key, message):
    """-n must fail with exactly "FILE:LINE: KEY: MESSAGE", LINE the line holding NEEDLE."""
    rc, out, err = check_config(s.conf)
    assert rc == 1, (rc, out, err)
    want = f"floodgated: {realconf(s)}:{conf_line(s, needle)}: {key}: {message}\n"
    assert err == want, err
    assert "configuration OK" not in out


# ---- host bits: every group, used or not ----

def test_host_bits_are_refused_with_the_network_meant(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3"], "spare": ["10.0.0.1", "192.168.1.5/24"]})
    refused(s, "192.168.1.5/24", "ip_groups.spare.[1]",
            '"192.168.1.5/24" has host bits set under its mask: did you mean the network '
            '"192.168.1.0/24" (or "192.168.1.5")?')


def test_the_seed_typo_in_a_relay_group_names_the_lan_meant(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3", "192.168.1.0/0"]})
    refused(s, "192.168.1.0/0", "ip_groups.trusted.[1]",
            '"192.168.1.0/0" has host bits set under its mask, and as written it means '
            '"0.0.0.0/0", the whole Internet: did you mean "192.168.1.0/24"?')
    # the daemon refuses to start on it as well, and says why
    s.start(wait=False)
    assert s.proc.wait(30) != 0
    assert f":{conf_line(s, '192.168.1.0/0')}: ip_groups.trusted.[1]:" in s.log()


def test_a_reload_with_host_bits_keeps_the_old_config(make_server):
    s = make_server().start()
    s.conf.write_text(s.conf_text.replace('trusted = [ "127.0.0.3" ];',
                                          'trusted = [ "127.0.0.3", "10.1.2.3/8" ];'))
    s.proc.send_signal(signal.SIGHUP)
    line = conf_line(s, "10.1.2.3/8")
    m = wait_log(s, r"event=reload result=rejected.*")
    assert f":{line}: ip_groups.trusted.[1]:" in m.group(0), m.group(0)
    assert s.proc.poll() is None
    with RawClient(s.ports["mx"]) as c:
        assert c.greeting[0] == 220


# ---- wide public entries in every group that grants something ----

def test_wide_group_exempt_from_bans_is_refused(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3"], "office": ["198.51.100.7", "0.0.0.0/0"]},
                    extra='hammering = { failures = 0; exempt_groups = [ "office" ]; };')
    refused(s, "0.0.0.0/0", "ip_groups.office.[1]",
            '"0.0.0.0/0" covers the whole Internet, and hammering.exempt_groups.[0] lets every '
            "client in it escape automatic bans; write the network you meant or, if you mean "
            "all of it, declare ip_groups.office = { addresses = [ ... ]; allow_wide = true; }")


def test_wide_group_exempt_from_limits_through_an_include_is_refused(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3"], "office": ["@isp"],
                            "isp": ["2001:db8::/29"]},
                    extra='client_limits = { max_connections = 0; max_unknown_recipients = 0;\n'
                          '  exempt_groups = [ "office" ]; };')
    refused(s, "2001:db8::/29", "ip_groups.isp.[0]",
            '"2001:db8::/29" covers public addresses and is wider than a /8 (IPv4) or /32 '
            "(IPv6), and client_limits.exempt_groups.[0] lets every client in it escape the "
            "per-IP client limits; write the network you meant or, if you mean all of it, "
            "declare ip_groups.isp = { addresses = [ ... ]; allow_wide = true; }")


def test_wide_relay_group_is_refused(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3", "126.0.0.0/7"]})
    refused(s, "126.0.0.0/7", "ip_groups.trusted.[1]",
            '"126.0.0.0/7" covers public addresses and is wider than a /8 (IPv4) or /32 '
            "(IPv6), and relay.allow_groups.[0] lets every client in it relay mail without "
            "AUTH; write the network you meant or, if you mean all of it, declare "
            "ip_groups.trusted = { addresses = [ ... ]; allow_wide = true; }")


def test_allow_wide_loads_with_a_warning_and_exempts(make_server):
    s = make_server(extra='hammering = { failures = 2; window = 60; ban = 300;\n'
                          '  exempt_groups = [ "loop" ]; };')
    set_groups(s, '  trusted = [ "127.0.0.3" ];\n'
                  '  loop = { addresses = [ "126.0.0.0/7" ]; allow_wide = true; };')
    rc, out, err = check_config(s.conf)
    assert rc == 0, err
    assert (f"floodgated: warning: {realconf(s)}:{conf_line(s, '126.0.0.0/7')}: "
            'ip_groups.loop.addresses.[0]: "126.0.0.0/7" covers public addresses and is wider '
            "than a /8 (IPv4) or /32 (IPv6); allow_wide = true lets every client in it escape "
            "automatic bans\n") in err, err
    assert ("  exempt from automatic bans (hammering.exempt_groups): "
            "group loop [allow_wide] (126.0.0.0/7)\n") in out, out
    # and the group does what it says: failed logins from 127.0.0.2 earn no ban
    s.start()
    for _ in range(4):
        with RawClient(s.ports["mx"], source="127.0.0.2") as c:
            assert c.greeting[0] == 220
            c.ehlo()
            assert c.cmd("MAIL FROM:<a@remote.test>")[0] == 250
            assert c.cmd("RCPT TO:<x@remote.test>")[0] == 554   # refused relay: a failure
    with RawClient(s.ports["mx"], source="127.0.0.2") as c:
        assert c.greeting[0] == 220
    assert "event=ban " not in s.log()


def test_private_wide_networks_need_no_allow_wide(make_server):
    s = make_server(groups={"trusted": ["127.0.0.0/8", "10.0.0.0/8", "fc00::/7",
                                        "100.64.0.0/10", "fe80::/10"]},
                    extra='hammering = { failures = 0; exempt_groups = [ "trusted" ]; };')
    rc, out, err = check_config(s.conf)
    assert rc == 0, err
    assert "ip_groups" not in err, err   # the harness's RFC-minimum warnings only


# ---- AUTH in clear text off loopback ----

def off_loopback(s, name, plaintext_auth=False):
    """Move listener NAME to 0.0.0.0 (checked with -n only, never started)."""
    port = s.ports[name]
    text = s.conf_text.replace(f"127.0.0.1:{port}", f"0.0.0.0:{port}")
    if plaintext_auth:
        text = text.replace(f'address = "0.0.0.0:{port}"; tls = "none"; auth = "optional"; }}',
                            f'address = "0.0.0.0:{port}"; tls = "none"; auth = "optional";\n'
                            f'    plaintext_auth = true; }}')
    s.conf.write_text(text)
    return port


def test_plaintext_auth_off_loopback_is_refused(make_server):
    s = make_server(listeners=[("mx", "starttls", "off"), ("submission", "none", "optional")])
    port = off_loopback(s, "submission")
    refused(s, f"0.0.0.0:{port}", "listeners.[1].auth",
            f'"optional" on 0.0.0.0:{port} without TLS would ask for passwords in clear text '
            'over the network; use tls = "starttls" or "implicit", a loopback address, or '
            "plaintext_auth = true if you really mean it")


def test_plaintext_auth_on_purpose_loads_with_a_warning(make_server):
    s = make_server(listeners=[("mx", "starttls", "off"), ("submission", "none", "optional")])
    port = off_loopback(s, "submission", plaintext_auth=True)
    rc, out, err = check_config(s.conf)
    assert rc == 0, err
    assert (f"floodgated: warning: {realconf(s)}:{conf_line(s, 'plaintext_auth = true')}: "
            f"listeners.[1].plaintext_auth: AUTH before TLS on 0.0.0.0:{port}, which is not a "
            "loopback address: passwords cross the network in clear text\n") in err, err
    assert (f"listener submission 0.0.0.0:{port} (no TLS):\n"
            "  AUTH: optional (in clear text: plaintext_auth)\n") in out, out


def test_plaintext_listener_on_loopback_is_fine(make_server):
    s = make_server(listeners=[("mx", "none", "off"), ("submission", "none", "optional")])
    s.conf.write_text(s.conf_text.replace('auth = "optional"; }',
                                          'auth = "optional"; plaintext_auth = true; }'))
    rc, out, err = check_config(s.conf)
    assert rc == 0, err
    assert "plaintext_auth" not in err, err


# ---- floodgated -n: who may do what, per listener ----

def test_check_prints_who_may_do_what_per_listener(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3", "@lan"],
                            "lan": ["192.168.1.0/24", "10.0.0.1-10.0.0.50"],
                            "office": ["198.51.100.7", "2001:db8::/48"],
                            "spare": ["203.0.113.9"]},
                    extra='hammering = { failures = 0; exempt_groups = [ "office" ]; };')
    rc, out, err = check_config(s.conf)
    assert rc == 0, err
    p = s.ports
    relay = ("group trusted (127.0.0.3, 192.168.1.0/24, 10.0.0.1-10.0.0.50)")
    bans = "group office (198.51.100.7, 2001:db8::/48)"
    limits_key = ("exempt from client_limits, limits.max_recipients and limits.max_errors "
                  "(client_limits.exempt_groups)")
    required = 'nobody (auth = "required": every client must authenticate here)'
    assert out == (
        f"listener mx 127.0.0.1:{p['mx']} (STARTTLS, loopback):\n"
        "  AUTH: off\n"
        f"  relay and trusted sender without AUTH (relay.allow_groups): {relay}\n"
        f"  exempt from automatic bans (hammering.exempt_groups): {bans}\n"
        f"  {limits_key}: nobody\n"
        f"listener submission 127.0.0.1:{p['submission']} (STARTTLS, loopback):\n"
        "  AUTH: required (only after STARTTLS)\n"
        f"  relay and trusted sender without AUTH (relay.allow_groups): {required}\n"
        f"  exempt from automatic bans (hammering.exempt_groups): {bans}\n"
        f"  {limits_key}: nobody\n"
        f"listener submissions 127.0.0.1:{p['submissions']} (implicit TLS, loopback):\n"
        "  AUTH: required (over TLS)\n"
        f"  relay and trusted sender without AUTH (relay.allow_groups): {required}\n"
        f"  exempt from automatic bans (hammering.exempt_groups): {bans}\n"
        f"  {limits_key}: nobody\n"
        "ip_groups no setting uses (they grant nothing): spare\n"
        f"{realconf(s)}: configuration OK\n"), out
