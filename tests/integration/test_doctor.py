"""floodctl doctor: the config audit (issue 15, items 1 and 2).

Each test writes a config, runs the real floodctl on it and reads what it
says: one line a check with status and fix, --json with the documented
fields, and the exit code (0 all ok, 1 warnings, 2 a failure)."""
import json
import os
import subprocess

from conftest import FLOODCTL


def doctor(tmp_path, body, *args):
    """floodctl doctor [ARGS] on a config of BODY; (rc, stdout, stderr)."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    conf = tmp_path / "floodgate.conf"
    conf.write_text(f'hostname = "mail.example.test";\nstate_dir = "{state}";\n'
                    f'log_file = "{state}/floodgate.log";\n{body}')
    r = subprocess.run([str(FLOODCTL), "-c", str(conf), "doctor", *args], capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


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
    rc, out, err = doctor(tmp_path, GOOD)
    assert rc == 0, out + err
    lines = out.strip().split("\n")
    assert all(l.startswith(("ok ", "doctor: ")) for l in lines), out
    assert "ip_group lan: 2 entries, all private or local; grants relay without AUTH" in out
    assert "listener_relay mx: 127.0.0.1:2525: relay without AUTH for groups trusted" in out
    assert lines[-1].endswith(": 4 ok, 0 warn or unknown, 0 fail"), lines[-1]


def test_bad_config_says_what_to_fix(tmp_path):
    rc, out, err = doctor(tmp_path, BAD)
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
    rc, out, err = doctor(tmp_path, BAD, "--json")
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
                                                 'allow_groups = [ "trusted" ]; open_relay = true;'))
    assert rc == 2, out + err
    assert "fail    listener_relay mx: 127.0.0.1:2525: relay.open_relay = true" in out


def test_usage_errors(tmp_path):
    rc, out, err = doctor(tmp_path, GOOD, "--only", "everything")
    assert rc == 2 and "--only takes config, not 'everything'" in err, out + err
    rc, out, err = doctor(tmp_path, GOOD, "extra")
    assert rc == 2 and "unexpected 'extra'" in err, out + err


def test_broken_config_names_file_and_line(tmp_path):
    rc, out, err = doctor(tmp_path, GOOD + "limits = { max_recipients = \"many\"; };\n")
    assert rc == 1 and "floodgate.conf:" in err and "limits.max_recipients" in err, out + err
