"""The config file: `floodgated -n` checks it; every error names the file,
the line and the key; the daemon refuses to start on a bad one."""
import os
import subprocess

import pytest

from conftest import FLOODGATED, RawClient, check_config, conf_line


def realconf(s):
    return os.path.realpath(s.conf)


def refuses_to_start(s, expect):
    s.start(wait=False)
    rc = s.proc.wait(30)
    assert rc != 0
    assert expect in s.log(), s.log()
    with pytest.raises(OSError):
        RawClient(s.ports["mx"], timeout=2)


def test_good_config_is_ok(make_server):
    s = make_server()
    rc, out, err = check_config(s.conf)
    assert rc == 0, err
    # the last line says so; the lines before it describe the listeners
    assert out.splitlines()[-1] == f"{realconf(s)}: configuration OK"
    # the harness config is legal but below RFC minimums: warned about, with its line
    assert f"{realconf(s)}:{conf_line(s, 'max_recipients')}: limits.max_recipients" in err


def test_check_does_not_start_anything(make_server):
    s = make_server()
    rc, _, _ = check_config(s.conf)
    assert rc == 0
    assert not (s.state / "store.db").exists()
    with pytest.raises(OSError):
        RawClient(s.ports["mx"], timeout=2)


def test_unknown_top_level_key(make_server):
    s = make_server(extra="colour = \"blue\";")
    rc, out, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:{conf_line(s, 'colour')}: colour: unknown key" in err, err
    assert "configuration OK" not in out
    refuses_to_start(s, f":{conf_line(s, 'colour')}: colour: unknown key")


def test_misspelt_nested_key(make_server):
    s = make_server()
    s.conf.write_text(s.conf_text.replace("max_errors = 10;", "max_erors = 10;"))
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:{conf_line(s, 'max_erors')}: limits.max_erors: unknown key" in err, err


def test_bad_tls_mode(make_server):
    s = make_server(listeners=[("mx", "sometimes", "off")])
    rc, _, err = check_config(s.conf)
    assert rc != 0
    line = conf_line(s, "sometimes")
    assert f"{realconf(s)}:{line}: listeners.[0].tls:" in err, err
    assert '"sometimes"' in err and '"starttls"' in err  # says what is allowed
    refuses_to_start(s, f":{line}: listeners.[0].tls:")


def test_bad_auth_mode(make_server):
    s = make_server(listeners=[("mx", "starttls", "maybe")])
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:{conf_line(s, 'maybe')}: listeners.[0].auth:" in err, err


def test_wrong_type(make_server):
    s = make_server()
    s.conf.write_text(s.conf_text.replace("max_recipients = 20;", 'max_recipients = "20";'))
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:{conf_line(s, 'max_recipients')}: limits.max_recipients:" in err, err


def test_value_out_of_range(make_server):
    s = make_server()
    s.conf.write_text(s.conf_text.replace("max_recipients = 20;", "max_recipients = 0;"))
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:{conf_line(s, 'max_recipients')}: limits.max_recipients:" in err, err
    assert "out of range" in err


def test_syntax_error_names_the_line(make_server):
    s = make_server(extra="queue = { retry_initial = 1 }\n")  # missing ';'
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:" in err and "syntax error" in err, err


def test_unterminated_string_names_where_it_opened(make_server):
    s = make_server(extra='hostname2 = "never closed;\n')
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:{conf_line(s, 'never closed')}: syntax error" in err, err


def test_missing_state_dir(make_server):
    s = make_server()
    s.conf.write_text("\n".join(l for l in s.conf_text.split("\n")
                                if not l.startswith("state_dir")))
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert "state_dir" in err and "required" in err, err


def test_unknown_relay_group(make_server):
    s = make_server(relay_groups=("trusted", "friends"))
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:{conf_line(s, 'friends')}: relay.allow_groups.[1]:" in err, err


def test_bad_ip_in_group(make_server):
    s = make_server(groups={"trusted": ["127.0.0.3", "300.1.2.3"]})
    rc, _, err = check_config(s.conf)
    assert rc != 0
    assert f"{realconf(s)}:{conf_line(s, '300.1.2.3')}: ip_groups.trusted.[1]:" in err, err


def test_duplicate_listener_address(make_server):
    s = make_server()
    s.conf.write_text(s.conf_text.replace(f"127.0.0.1:{s.ports['submission']}",
                                          f"127.0.0.1:{s.ports['mx']}"))
    rc, _, err = check_config(s.conf)
    assert rc != 0
    line = conf_line(s, 'name = "submission"')
    assert f"{realconf(s)}:{line}: listeners.[1]" in err, err


def test_missing_file(tmp_path):
    rc, _, err = check_config(tmp_path / "nope.conf")
    assert rc != 0
    assert "nope.conf" in err


def test_usage_error_exit_code():
    r = subprocess.run([str(FLOODGATED), "-x"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "usage" in r.stderr


def test_config_from_environment(make_server):
    s = make_server()
    r = subprocess.run([str(FLOODGATED), "-n"], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, FLOODGATE_CONFIG=str(s.conf)))
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout
