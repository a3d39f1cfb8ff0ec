/* tests/unit/test_config - unit tests of core/config (room: tests): a full
 * valid file, every default, and each error with its exact "FILE:LINE: KEY:"
 * prefix.  Run with tests/unit as the working directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

/* Two lines every inline config starts with, so that line 3 is the first
 * line a test adds. */
#define BASE                                                                                       \
    "state_dir = \"/tmp/fg-state\";\n"                                                             \
    "listeners = ( { name = \"mx\"; address = \"127.0.0.1:2525\"; } );\n"

static char tmp_path[64];

/* write_tmp - TEXT into a fresh temporary file named in tmp_path. */
static void write_tmp(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/fg-test-config-XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* load_text - config_load on TEXT written to a temporary file. */
static struct config *load_text(const char *text, char *err, size_t errlen)
{
    write_tmp(text);
    struct config *cfg = config_load(tmp_path, err, errlen);
    unlink(tmp_path);
    return cfg;
}

/* expect_error - TEXT must fail with "TMPFILE:" WHERE (e.g. "3: limits.bare_lf: ")
 * followed by a message containing WHAT. */
static void expect_error(const char *text, const char *where, const char *what)
{
    char err[1024], want[256];
    struct config *cfg = load_text(text, err, sizeof(err));
    if (cfg != NULL) {
        config_free(cfg);
        fail_msg("accepted, expected \"%s\"", where);
    }
    snprintf(want, sizeof(want), "%s:%s", tmp_path, where);
    if (strncmp(err, want, strlen(want)) != 0 || strstr(err + strlen(want), what) == NULL)
        fail_msg("got \"%s\", expected \"%s...%s...\"", err, want, what);
}

/* load_ok - TEXT must load; the caller frees. */
static struct config *load_ok(const char *text)
{
    char err[1024] = "";
    struct config *cfg = load_text(text, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("refused: %s", err);
    return cfg;
}

/* expect_warning - TEXT must load with exactly one warning "TMPFILE:" WHERE ... WHAT. */
static void expect_warning(const char *text, const char *where, const char *what)
{
    char want[256];
    struct config *cfg = load_ok(text);
    snprintf(want, sizeof(want), "%s:%s", tmp_path, where);
    assert_int_equal(cfg->n_warnings, 1);
    if (strncmp(cfg->warnings[0], want, strlen(want)) != 0 ||
        strstr(cfg->warnings[0], what) == NULL)
        fail_msg("got \"%s\", expected \"%s...%s...\"", cfg->warnings[0], want, what);
    config_free(cfg);
}

/* test_full - every key of configs/full.conf is read as written. */
static void test_full(void **state)
{
    char err[1024] = "";
    struct config *cfg = config_load("configs/full.conf", err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->path, "configs/full.conf");
    assert_string_equal(cfg->hostname, "mail.example.test");
    assert_string_equal(cfg->state_dir, "/var/lib/floodgate");
    assert_string_equal(cfg->user, "floodgate");
    assert_string_equal(cfg->log_file, "/var/log/floodgate.log");
    assert_string_equal(cfg->tls_certificate, "/etc/floodgate/cert.pem");
    assert_string_equal(cfg->tls_key, "/etc/floodgate/key.pem");
    assert_true(cfg->disclose_auth_user);

    assert_int_equal(cfg->n_listeners, 3);
    const struct listener_config *l = cfg->listeners;
    assert_string_equal(l[0].name, "mx");
    assert_string_equal(l[0].address, "127.0.0.1:2525");
    assert_int_equal(l[0].addr.ss_family, AF_INET);
    assert_int_equal(l[0].addrlen, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&l[0].addr)->sin_port), 2525);
    assert_int_equal(l[0].tls, TLS_MODE_NONE);
    assert_int_equal(l[0].auth, AUTH_MODE_OFF);
    assert_false(l[0].plaintext_auth);
    assert_int_equal(l[1].tls, TLS_MODE_STARTTLS);
    assert_int_equal(l[1].auth, AUTH_MODE_REQUIRED);
    assert_string_equal(l[2].name, "submissions");
    assert_int_equal(l[2].addr.ss_family, AF_INET6);
    assert_int_equal(l[2].addrlen, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&l[2].addr)->sin6_port), 5465);
    assert_int_equal(l[2].tls, TLS_MODE_IMPLICIT);
    assert_int_equal(l[2].auth, AUTH_MODE_OPTIONAL);
    assert_true(l[2].plaintext_auth);

    assert_int_equal(cfg->n_groups, 3);
    const struct ip_group *trusted = config_group(cfg, "trusted");
    assert_non_null(trusted);
    assert_true(ipset_contains_str(trusted->set, "127.0.0.3"));
    assert_true(ipset_contains_str(trusted->set, "10.0.0.7"));
    assert_true(ipset_contains_str(trusted->set, "2001:db8::5"));
    assert_false(ipset_contains_str(trusted->set, "198.51.100.7"));
    assert_non_null(config_group(cfg, "blocked"));
    assert_null(config_group(cfg, "nope"));

    assert_false(cfg->open_relay);
    assert_true(ipset_contains_str(cfg->relay_clients, "192.168.1.77"));
    assert_true(ipset_contains_str(cfg->relay_clients, "::ffff:127.0.0.3"));
    assert_false(ipset_contains_str(cfg->relay_clients, "198.51.100.7"));
    assert_false(ipset_contains_str(cfg->relay_clients, "127.0.0.1"));

    assert_int_equal(cfg->limits.max_message_size, 10485760);
    assert_int_equal(cfg->limits.max_recipients, 200);
    assert_int_equal(cfg->limits.max_errors, 5);
    assert_int_equal(cfg->limits.max_connections, 50);
    assert_int_equal(cfg->limits.command_timeout, 400);
    assert_int_equal(cfg->limits.data_timeout, 200);
    assert_int_equal(cfg->limits.data_end_timeout, 700);
    assert_int_equal(cfg->limits.bare_lf, BARE_LF_NORMALIZE);
    assert_int_equal(cfg->queue.retry_initial, 60);
    assert_int_equal(cfg->queue.retry_max, 7200);
    assert_int_equal(cfg->queue.lifetime, 86400);
    assert_int_equal(cfg->queue.group_commit_max, 16);

    assert_int_equal(cfg->n_dns_servers, 4);
    assert_string_equal(cfg->dns_servers[0], "127.0.0.1:5353");
    assert_string_equal(cfg->dns_servers[1], "[::1]:5354");
    assert_string_equal(cfg->dns_servers[2], "192.0.2.53:53");
    assert_string_equal(cfg->dns_servers[3], "[2001:db8::53]:53");
    assert_int_equal(cfg->n_warnings, 0);
    config_free(cfg);
}

/* test_example - etc/floodgate.conf.example loads without a warning. */
static void test_example(void **state)
{
    char err[1024] = "";
    struct config *cfg = config_load("../../etc/floodgate.conf.example", err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_int_equal(cfg->n_listeners, 3);
    assert_int_equal(cfg->n_warnings, 0);
    assert_true(ipset_contains_str(cfg->relay_clients, "10.0.0.7"));
    config_free(cfg);
}

/* test_defaults - the smallest valid file gets every default of config.h. */
static void test_defaults(void **state)
{
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    struct config *cfg = load_ok(BASE);
    assert_string_equal(cfg->hostname, host);
    assert_null(cfg->log_file); /* syslog or the journal */
    assert_string_equal(cfg->syslog_socket, "/dev/log");
    assert_null(cfg->user);
    assert_null(cfg->tls_certificate);
    assert_null(cfg->tls_key);
    assert_false(cfg->disclose_auth_user);
    assert_int_equal(cfg->listeners[0].tls, TLS_MODE_NONE);
    assert_int_equal(cfg->listeners[0].auth, AUTH_MODE_OFF);
    assert_false(cfg->listeners[0].plaintext_auth);
    assert_int_equal(cfg->n_groups, 0);
    assert_non_null(cfg->relay_clients);
    assert_int_equal(ipset_count(cfg->relay_clients), 0);
    assert_false(cfg->open_relay);
    assert_int_equal(cfg->limits.max_message_size, 26214400);
    assert_int_equal(cfg->limits.max_recipients, 100);
    assert_int_equal(cfg->limits.max_expanded_recipients, 10000);
    assert_int_equal(cfg->lockout.ipv4_prefix, 24);
    assert_int_equal(cfg->lockout.ipv6_prefix, 64);
    assert_int_equal(cfg->lockout.account_failures, 200);
    assert_int_equal(cfg->limits.max_errors, 10);
    assert_int_equal(cfg->limits.max_connections, 1000);
    assert_int_equal(cfg->limits.command_timeout, 300);
    assert_int_equal(cfg->limits.data_timeout, 180);
    assert_int_equal(cfg->limits.data_end_timeout, 600);
    assert_int_equal(cfg->limits.bare_lf, BARE_LF_REJECT);
    assert_int_equal(cfg->queue.retry_initial, 300);
    assert_int_equal(cfg->queue.retry_max, 3600);
    assert_int_equal(cfg->queue.lifetime, 432000);
    assert_int_equal(cfg->queue.group_commit_max, 64);
    assert_int_equal(cfg->n_dns_servers, 0);
    assert_null(cfg->dns_servers);
    assert_int_equal(cfg->n_warnings, 0);
    config_free(cfg);
}

/* test_log_file - "-" is kept as written; syslog_socket must be a path a
 * unix socket can have. */
static void test_log_file(void **state)
{
    struct config *cfg = load_ok(BASE "log_file = \"-\";\n");
    assert_string_equal(cfg->log_file, "-");
    config_free(cfg);
    cfg = load_ok(BASE "syslog_socket = \"/run/test/log\";\n");
    assert_string_equal(cfg->syslog_socket, "/run/test/log");
    config_free(cfg);
    expect_error(BASE "syslog_socket = \"dev/log\";\n", "3: syslog_socket: ", "absolute path");
}

/* test_empty_sections - sections present but empty keep every default. */
static void test_empty_sections(void **state)
{
    struct config *cfg = load_ok(BASE "smtp = {};\nrelay = {};\nlimits = {};\nqueue = {};\n"
                                      "dns = { servers = []; };\nip_groups = {};\n");
    assert_int_equal(cfg->limits.max_recipients, 100);
    assert_int_equal(cfg->queue.lifetime, 432000);
    assert_int_equal(cfg->n_dns_servers, 0);
    assert_int_equal(cfg->n_groups, 0);
    config_free(cfg);
}

/* test_unknown_keys - a misspelt key anywhere is refused where it stands. */
static void test_unknown_keys(void **state)
{
    expect_error(BASE "hostnme = \"x.test\";\n", "3: hostnme: ", "unknown key");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"mx\"; address = \"127.0.0.1:25\"; tsl = \"none\"; } "
                 ");\n",
                 "2: listeners.[0].tsl: ", "unknown key");
    expect_error(BASE "limits = {\n  max_recipient = 5;\n};\n",
                 "4: limits.max_recipient: ", "unknown key");
    expect_error(BASE "relay = { allow_group = []; };\n", "3: relay.allow_group: ", "unknown key");
    expect_error(BASE "tls = { certificate = \"a\"; key = \"b\"; chain = \"c\"; };\n",
                 "3: tls.chain: ", "unknown key");
    expect_error(BASE "smtp = { disclose = true; };\n", "3: smtp.disclose: ", "unknown key");
    expect_error(BASE "queue = { retry = 5; };\n", "3: queue.retry: ", "unknown key");
    expect_error(BASE "dns = { server = [\"1.1.1.1\"]; };\n", "3: dns.server: ", "unknown key");
}

/* test_bad_choices - tls, auth and bare_lf only take their listed words. */
static void test_bad_choices(void **state)
{
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = (\n"
                 "  { name = \"mx\"; address = \"127.0.0.1:25\"; },\n"
                 "  { name = \"sub\"; address = \"127.0.0.1:587\";\n"
                 "    tls = \"sslv3\"; }\n"
                 ");\n",
                 "5: listeners.[1].tls: ", "\"sslv3\" is not one of \"none\", \"starttls\"");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"mx\"; address = \"127.0.0.1:25\"; auth = \"yes\"; } "
                 ");\n",
                 "2: listeners.[0].auth: ", "not one of");
    expect_error(BASE "limits = { bare_lf = \"strip\"; };\n",
                 "3: limits.bare_lf: ", "\"strip\" is not one of \"reject\", \"normalize\"");
}

/* test_listener_errors - duplicate names and addresses, bad names, none at all. */
static void test_listener_errors(void **state)
{
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = (\n"
                 "  { name = \"mx\"; address = \"127.0.0.1:25\"; },\n"
                 "  { name = \"mx\"; address = \"127.0.0.1:26\"; }\n"
                 ");\n",
                 "4: listeners.[1].name: ", "already the name of listeners.[0]");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = (\n"
                 "  { name = \"a\"; address = \"127.0.0.1:25\"; },\n"
                 "  { name = \"b\"; address = \"127.0.0.1:025\"; }\n"
                 ");\n",
                 "4: listeners.[1].address: ", "already the address of listeners.[0]");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"m x\"; address = \"127.0.0.1:25\"; } );\n",
                 "2: listeners.[0].name: ", "\"m x\"");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"\"; address = \"127.0.0.1:25\"; } );\n",
                 "2: listeners.[0].name: ", "must not be empty");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { address = \"127.0.0.1:25\"; } );\n",
                 "2: listeners.[0].name: ", "required key is missing");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"mx\"; } );\n",
                 "2: listeners.[0].address: ", "required key is missing");
    expect_error("state_dir = \"/tmp/x\";\nlisteners = ();\n",
                 "2: listeners: ", "at least one listener");
    expect_error("state_dir = \"/tmp/x\";\n", "1: listeners: ", "at least one listener");
    expect_error("state_dir = \"/tmp/x\";\nlisteners = { mx = 1; };\n",
                 "2: listeners: ", "expected a list");
    expect_error("state_dir = \"/tmp/x\";\nlisteners = ( \"mx\" );\n",
                 "2: listeners.[0]: ", "expected a group");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"mx\"; address = \"127.0.0.1:25\";\n"
                 "  plaintext_auth = \"yes\"; } );\n",
                 "3: listeners.[0].plaintext_auth: ", "expected true or false");
}

/* test_bad_addresses - only numeric "IPv4:PORT" and "[IPv6]:PORT". */
static void test_bad_addresses(void **state)
{
    static const char *bad[] = {
        "127.0.0.1",      "127.0.0.1:",    "127.0.0.1:0",   "127.0.0.1:65536",
        "localhost:25",   "::1:25",        "[::1]",         "[::1]25",
        "[127.0.0.1]:25", "1.2.3:25",      "0x7f.0.0.1:25", "127.0.0.1:smtp",
        "127.0.0.1:25 ",  " 127.0.0.1:25", "[::1:25",       "256.1.1.1:25",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"mx\";\n"
                 "  address = \"%s\"; } );\n",
                 bad[i]);
        expect_error(text, "3: listeners.[0].address: ", "is not \"IPv4:PORT\"");
    }
}

/* test_missing_state_dir - the one required string; missing top-level keys
 * are reported at line 1. */
static void test_missing_state_dir(void **state)
{
    expect_error("# no state dir\n"
                 "listeners = ( { name = \"mx\"; address = \"127.0.0.1:25\"; } );\n",
                 "1: state_dir: ", "required key is missing");
    expect_error("state_dir = \"\";\n", "1: state_dir: ", "must not be empty");
    expect_error("\n\nstate_dir = 5;\n", "3: state_dir: ", "expected a string");
}

/* test_types - wrong types name the type expected. */
static void test_types(void **state)
{
    expect_error(BASE "limits = { max_message_size = \"25M\"; };\n",
                 "3: limits.max_message_size: ", "expected an integer");
    expect_error(BASE "limits = { max_recipients = 1.5; };\n",
                 "3: limits.max_recipients: ", "expected an integer");
    expect_error(BASE "smtp = { disclose_auth_user = 1; };\n",
                 "3: smtp.disclose_auth_user: ", "expected true or false");
    expect_error(BASE "limits = 5;\n", "3: limits: ", "expected a group");
    expect_error(BASE "ip_groups = { lan = \"10.0.0.0/8\"; };\n",
                 "3: ip_groups.lan: ", "expected an array");
    expect_error(BASE "ip_groups = { lan = [ 10 ]; };\n",
                 "3: ip_groups.lan.[0]: ", "expected a string");
    expect_error(BASE "relay = { open_relay = \"no\"; };\n",
                 "3: relay.open_relay: ", "expected true or false");
}

/* test_ranges - numbers must be positive and sane; int64 values are accepted. */
static void test_ranges(void **state)
{
    expect_error(BASE "limits = { max_message_size = 1000; };\n",
                 "3: limits.max_message_size: ", "1000 is out of range (1024 to");
    expect_error(BASE "limits = { command_timeout = 0; };\n",
                 "3: limits.command_timeout: ", "out of range");
    expect_error(BASE "limits = { max_errors = -1; };\n",
                 "3: limits.max_errors: ", "-1 is out of range");
    expect_error(BASE "queue = { group_commit_max = 0; };\n",
                 "3: queue.group_commit_max: ", "out of range");
    expect_error(BASE "queue = { retry_initial = 600;\n retry_max = 300; };\n",
                 "4: queue.retry_max: ", "below the first retry");
    expect_error(BASE "queue = { retry_initial = 7200; };\n",
                 "3: queue.retry_initial: ", "below the first retry");
    struct config *cfg = load_ok(BASE "limits = { max_message_size = 52428800L; };\n");
    assert_int_equal(cfg->limits.max_message_size, 52428800);
    config_free(cfg);
}

/* test_rfc_warnings - legal values below RFC 5321's minimums are logged. */
static void test_rfc_warnings(void **state)
{
    expect_warning(BASE "limits = { max_recipients = 2; };\n",
                   "3: limits.max_recipients: ", "below the 100 of RFC 5321 4.5.3.1.8");
    expect_warning(BASE "limits = { data_timeout = 5; };\n",
                   "3: limits.data_timeout: ", "RFC 5321 4.5.3.2.5");
    /* a bound on expanded recipients below the RCPT bound is raised to it */
    expect_warning(BASE "limits = { max_recipients = 500;\n max_expanded_recipients = 200; };\n",
                   "4: limits.max_expanded_recipients: ",
                   "200 is below limits.max_recipients; 500 is used");
    struct config *cfg = load_ok(BASE "limits = { max_recipients = 500;\n"
                                      " max_expanded_recipients = 200; };\n");
    assert_int_equal(cfg->limits.max_expanded_recipients, 500);
    config_free(cfg);
    expect_error(BASE "lockout = { ipv4_prefix = 33; };\n", "3: lockout.ipv4_prefix: ", "8");
}

/* test_tls_needed - a TLS listener without a certificate is refused. */
static void test_tls_needed(void **state)
{
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"s\"; address = \"127.0.0.1:465\";\n"
                 "  tls = \"implicit\"; } );\n",
                 "3: listeners.[0].tls: ", "\"implicit\" needs tls.certificate and tls.key");
    expect_error(BASE "tls = { certificate = \"/c.pem\"; };\n",
                 "3: tls.key: ", "required key is missing");
    expect_warning("state_dir = \"/tmp/x\";\n"
                   "listeners = ( { name = \"s\"; address = \"127.0.0.1:587\";\n"
                   "  auth = \"required\"; } );\n",
                   "3: listeners.[0].auth: ", "no client can ever authenticate");
}

/* test_hostname - only a domain name goes into the greeting. */
static void test_hostname(void **state)
{
    expect_error(BASE "hostname = \"mail example\";\n", "3: hostname: ", "not a domain name");
    expect_error(BASE "hostname = \"-mail.test\";\n", "3: hostname: ", "not a domain name");
    expect_error(BASE "hostname = \"mail..test\";\n", "3: hostname: ", "not a domain name");
    expect_error(BASE "hostname = \"mail.test\\r\\nX\";\n", "3: hostname: ", "not a domain");
    struct config *cfg = load_ok(BASE "hostname = \"MX-1.Example.test\";\n");
    assert_string_equal(cfg->hostname, "MX-1.Example.test");
    config_free(cfg);
}

/* test_groups - includes, forward references and group errors. */
static void test_groups(void **state)
{
    struct config *cfg = load_ok(BASE "ip_groups = {\n"
                                      "  a = [ \"@b\", \"@c\" ];\n"
                                      "  b = [ \"@c\", \"192.0.2.1\" ];\n"
                                      "  c = ( \"198.51.100.0/24\" );\n"
                                      "  d = [];\n"
                                      "};\n");
    const struct ip_group *a = config_group(cfg, "a");
    assert_non_null(a);
    assert_true(ipset_contains_str(a->set, "192.0.2.1"));
    assert_true(ipset_contains_str(a->set, "198.51.100.9"));
    assert_int_equal(ipset_count(config_group(cfg, "d")->set), 0);
    config_free(cfg);

    expect_error(BASE "ip_groups = {\n"
                      "  a = [ \"@b\" ];\n"
                      "  b = [ \"192.0.2.1\",\n"
                      "        \"@a\" ];\n"
                      "};\n",
                 "6: ip_groups.b.[1]: ", "\"@a\": groups include each other in a cycle");
    expect_error(BASE "ip_groups = { a = [ \"@a\" ]; };\n", "3: ip_groups.a.[0]: ", "cycle");
    expect_error(BASE "ip_groups = { a = [ \"@nope\" ]; };\n",
                 "3: ip_groups.a.[0]: ", "there is no IP group \"nope\"");
    expect_error(BASE "ip_groups = {\n  lan = [ \"192.168.1.0/24\",\n  \"10.0.0.300\" ];\n};\n",
                 "5: ip_groups.lan.[1]: ", "\"10.0.0.300\": bad address");
}

/* test_deep_includes - nesting is bounded however the groups are ordered. */
static void test_deep_includes(void **state)
{
    char text[8192] = BASE "ip_groups = {\n";
    for (int i = 40; i >= 0; i--) {
        char line[64];
        if (i == 40)
            snprintf(line, sizeof(line), "  g%d = [ \"192.0.2.1\" ];\n", i);
        else
            snprintf(line, sizeof(line), "  g%d = [ \"@g%d\" ];\n", i, i + 1);
        strncat(text, line, sizeof(text) - strlen(text) - 1);
    }
    strncat(text, "};\n", sizeof(text) - strlen(text) - 1);
    char err[1024];
    struct config *cfg = load_text(text, err, sizeof(err));
    assert_null(cfg);
    assert_non_null(strstr(err, "nest deeper than 32"));
}

/* test_include - "@include" is read relative to the main file, and errors
 * inside the included file name that file and its line. */
static void test_include(void **state)
{
    char err[1024] = "";
    assert_null(config_load("configs/include_main.conf", err, sizeof(err)));
    const char *want = "configs/include_part.conf:4: ip_groups.world.[0]: \"0.0.0.0/0\" covers "
                       "the whole Internet";
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got \"%s\"", err);
}

/* test_relay_unknown_group - allow_groups must name defined groups. */
static void test_relay_unknown_group(void **state)
{
    expect_error(BASE "ip_groups = { lan = [ \"10.0.0.0/8\" ]; };\n"
                      "relay = { allow_groups = [ \"lan\",\n"
                      "  \"trusted\" ]; };\n",
                 "5: relay.allow_groups.[1]: ", "there is no IP group \"trusted\"");
    expect_error(BASE "relay = { allow_groups = [ \"lan\" ]; };\n",
                 "3: relay.allow_groups.[0]: ", "no IP group \"lan\"");
}

/* test_open_relay_refused - "the whole Internet" in a relay group fails at
 * the line of the entry, also through an include. */
static void test_open_relay_refused(void **state)
{
    expect_error(BASE "ip_groups = {\n"
                      "  trusted = [ \"127.0.0.1\",\n"
                      "    \"0.0.0.0/0\" ];\n"
                      "};\n"
                      "relay = { allow_groups = [ \"trusted\" ]; };\n",
                 "5: ip_groups.trusted.[1]: ",
                 "\"0.0.0.0/0\" covers the whole Internet; relaying for it makes an open relay "
                 "(set relay.open_relay = true if you really want that)");
    expect_error(BASE "ip_groups = {\n"
                      "  trusted = [ \"@lan\" ];\n"
                      "  lan = [ \"128.0.0.0/1\" ];\n"
                      "};\n"
                      "relay = { allow_groups = [ \"trusted\" ]; };\n",
                 "5: ip_groups.lan.[0]: ", "\"128.0.0.0/1\" covers the whole Internet");
    /* allow_wide is not open_relay. */
    expect_error(BASE "ip_groups = { w = { addresses = [ \"::/0\" ]; allow_wide = true; }; };\n"
                      "relay = { allow_groups = [ \"w\" ]; };\n",
                 "3: ip_groups.w.addresses.[0]: ", "(set relay.open_relay = true");
    expect_error(BASE "ip_groups = { v6 = [ \"::/0\" ]; };\n"
                      "relay = { allow_groups = [ \"v6\" ]; };\n",
                 "3: ip_groups.v6.[0]: ", "covers the whole Internet");
    expect_error(BASE "ip_groups = { r = [ \"0.0.0.0-255.255.255.255\" ]; };\n"
                      "relay = { allow_groups = [ \"r\" ]; open_relay = false; };\n",
                 "3: ip_groups.r.[0]: ", "covers the whole Internet");
}

/* test_open_relay_allowed - with open_relay = true it loads, with a warning. */
static void test_open_relay_allowed(void **state)
{
    expect_warning(BASE "ip_groups = {\n"
                        "  world = [ \"0.0.0.0/0\" ];\n"
                        "};\n"
                        "relay = { allow_groups = [ \"world\" ]; open_relay = true; };\n",
                   "4: ip_groups.world.[0]: ", "open relay");
    struct config *cfg = load_ok(BASE "ip_groups = { world = [ \"0.0.0.0/0\" ]; };\n"
                                      "relay = { allow_groups = [ \"world\" ]; open_relay = "
                                      "true; };\n");
    assert_true(cfg->open_relay);
    assert_true(ipset_contains_str(cfg->relay_clients, "8.8.8.8"));
    config_free(cfg);
}

/* test_everything_outside_relay - a "world" group used for anything but
 * relaying is fine and not warned about. */
static void test_everything_outside_relay(void **state)
{
    struct config *cfg = load_ok(BASE "ip_groups = { world = [ \"0.0.0.0/0\", \"::/0\" ];\n"
                                      "  lan = [ \"10.0.0.0/8\" ]; };\n"
                                      "relay = { allow_groups = [ \"lan\" ]; };\n");
    assert_int_equal(cfg->n_warnings, 0);
    assert_false(ipset_contains_str(cfg->relay_clients, "8.8.8.8"));
    assert_true(ipset_contains_str(cfg->relay_clients, "10.1.2.3"));
    config_free(cfg);
}

/* test_wide_warning - a public IPv4 network over a /16 (up to a /8) is
 * warned about in any group; wider ones only matter where a group grants
 * something. */
static void test_wide_warning(void **state)
{
    expect_warning(
        BASE "ip_groups = {\n  partners = [ \"192.0.2.1\", \"8.0.0.0/8\" ];\n};\n",
        "4: ip_groups.partners.[1]: ", "\"8.0.0.0/8\" covers a public network larger than /16");
    expect_warning(BASE "ip_groups = { p = [ \"8.0.0.0/8\" ]; };\n"
                        "hammering = { exempt_groups = [ \"p\" ]; };\n",
                   "3: ip_groups.p.[0]: ", "larger than /16");
    struct config *cfg = load_ok(BASE "ip_groups = { lan = [ \"10.0.0.0/8\", \"fc00::/7\" ]; "
                                      "p = [ \"2001:db8::/31\", \"0.0.0.0/0\" ]; };\n"
                                      "relay = { allow_groups = [ \"lan\" ]; };\n"
                                      "hammering = { exempt_groups = [ \"lan\" ]; };\n"
                                      "client_limits = { exempt_groups = [ \"lan\" ]; };\n");
    assert_int_equal(cfg->n_warnings, 0);
    config_free(cfg);
}

/* test_host_bits - "192.168.1.5/24" is refused in every group, used or
 * not, with the network meant. */
static void test_host_bits(void **state)
{
    expect_error(BASE "ip_groups = {\n  lan = [ \"10.0.0.1\",\n    \"192.168.1.5/24\" ];\n};\n",
                 "5: ip_groups.lan.[1]: ",
                 "\"192.168.1.5/24\" has host bits set under its mask: did you mean the network "
                 "\"192.168.1.0/24\" (or \"192.168.1.5\")?");
    expect_error(BASE "ip_groups = { office = [ \"192.168.1.0/0\" ]; };\n"
                      "hammering = { exempt_groups = [ \"office\" ]; };\n",
                 "3: ip_groups.office.[0]: ",
                 "\"192.168.1.0/0\" has host bits set under its mask, and as written it means "
                 "\"0.0.0.0/0\", the whole Internet: did you mean \"192.168.1.0/24\"?");
    expect_error(BASE "ip_groups = { v6 = { addresses = [ \"2001:db8:1::/16\" ]; "
                      "allow_wide = true; }; };\n",
                 "3: ip_groups.v6.addresses.[0]: ",
                 "means \"2001::/16\", public space wider than a /8 (IPv4) or /32 (IPv6): did "
                 "you mean \"2001:db8:1::/48\"?");
}

/* test_wide_in_grants - a wide public entry in a group that grants an
 * exemption is refused, also through an include, unless allow_wide. */
static void test_wide_in_grants(void **state)
{
    expect_error(BASE "ip_groups = {\n  nat = [ \"100.0.0.0/6\" ];\n};\n"
                      "hammering = { exempt_groups = [ \"nat\" ]; };\n",
                 "4: ip_groups.nat.[0]: ",
                 "\"100.0.0.0/6\" covers the whole Internet, and hammering.exempt_groups.[0] "
                 "lets every client in it escape automatic bans; write the network you meant "
                 "or, if you mean all of it, declare ip_groups.nat = { addresses = [ ... ]; "
                 "allow_wide = true; }");
    expect_error(BASE "ip_groups = { office = [ \"@isp\" ]; isp = [ \"2001:db8::/30\" ]; };\n"
                      "client_limits = { exempt_groups = [ \"office\" ]; };\n",
                 "3: ip_groups.isp.[0]: ",
                 "covers public addresses and is wider than a /8 (IPv4) or /32 (IPv6), and "
                 "client_limits.exempt_groups.[0] lets every client in it escape the per-IP "
                 "client limits");
    expect_error(BASE "ip_groups = { half = [ \"10.0.0.0/7\" ]; };\n"
                      "relay = { allow_groups = [ \"half\" ]; };\n",
                 "3: ip_groups.half.[0]: ", "lets every client in it relay mail without AUTH");
    /* allow_wide: loaded, with one warning per group. */
    expect_warning(BASE "ip_groups = {\n  isp = { addresses = [ \"10.0.0.0/7\", \"2001::/16\" ];\n"
                        "    allow_wide = true; };\n};\n"
                        "hammering = { exempt_groups = [ \"isp\" ]; };\n"
                        "client_limits = { exempt_groups = [ \"isp\" ]; };\n",
                   "4: ip_groups.isp.addresses.[0]: ",
                   "\"10.0.0.0/7\" covers public addresses and is wider than a /8 (IPv4) or /32 "
                   "(IPv6); allow_wide = true lets every client in it escape automatic bans");
    struct config *cfg = load_ok(BASE "ip_groups = { world = { addresses = [ \"0.0.0.0/0\" ]; "
                                      "allow_wide = true; }; lan = [ \"192.168.0.0/16\" ]; };\n"
                                      "hammering = { exempt_groups = [ \"world\" ]; };\n");
    const struct ip_group *w = config_group(cfg, "world");
    assert_true(w->allow_wide);
    assert_int_equal(w->grants, 1u << IP_GRANT_NO_BANS);
    assert_false(config_group(cfg, "lan")->allow_wide);
    assert_int_equal(config_group(cfg, "lan")->reached, 0);
    assert_true(ipset_contains_str(cfg->hammering.exempt, "8.8.8.8"));
    assert_int_equal(cfg->n_warnings, 1);
    assert_non_null(strstr(cfg->warnings[0], "covers the whole Internet; allow_wide = true"));
    config_free(cfg);
    /* open_relay covers a wide relay group, as it covers "everything". */
    expect_warning(BASE "ip_groups = { half = [ \"10.0.0.0/7\" ]; };\n"
                        "relay = { allow_groups = [ \"half\" ]; open_relay = true; };\n",
                   "3: ip_groups.half.[0]: ", "relay.open_relay = true lets every client");
    /* The group form: its keys are checked like any other. */
    expect_error(BASE
                 "ip_groups = { g = { addresses = [ \"10.0.0.1\" ]; allow_wyde = true; }; };\n",
                 "3: ip_groups.g.allow_wyde: ", "unknown key");
    expect_error(BASE "ip_groups = { g = { allow_wide = true; }; };\n",
                 "3: ip_groups.g: ", "addresses is missing");
    expect_error(BASE "ip_groups = { g = { addresses = [ \"10.0.0.1\" ]; allow_wide = 1; }; };\n",
                 "3: ip_groups.g.allow_wide: ", "expected true or false");
    expect_error(BASE "ip_groups = { g = { addresses = \"10.0.0.1\"; }; };\n",
                 "3: ip_groups.g.addresses: ", "expected an array");
}

/* test_plaintext_auth - AUTH without TLS off loopback is refused unless
 * plaintext_auth = true, and warned about then. */
static void test_plaintext_auth(void **state)
{
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"sub\"; address = \"0.0.0.0:587\";\n"
                 "  auth = \"optional\"; } );\n",
                 "3: listeners.[0].auth: ",
                 "\"optional\" on 0.0.0.0:587 without TLS would ask for passwords in clear text "
                 "over the network; use tls = \"starttls\" or \"implicit\", a loopback address, "
                 "or plaintext_auth = true if you really mean it");
    expect_error("state_dir = \"/tmp/x\";\n"
                 "listeners = ( { name = \"sub\"; address = \"[::]:587\"; auth = \"required\"; "
                 "tls = \"none\"; } );\n",
                 "2: listeners.[0].auth: ", "\"required\" on [::]:587 without TLS");
    expect_warning(
        "state_dir = \"/tmp/x\";\n"
        "listeners = ( { name = \"sub\"; address = \"192.0.2.1:587\"; auth = \"required\";\n"
        "  plaintext_auth = true; } );\n",
        "3: listeners.[0].plaintext_auth: ",
        "AUTH before TLS on 192.0.2.1:587, which is not a loopback address: passwords "
        "cross the network in clear text");
    expect_warning(
        "state_dir = \"/tmp/x\";\n"
        "tls = { certificate = \"/c.pem\"; key = \"/k.pem\"; };\n"
        "listeners = ( { name = \"sub\"; address = \"0.0.0.0:587\"; auth = \"required\";\n"
        "  tls = \"starttls\"; plaintext_auth = true; } );\n",
        "4: listeners.[0].plaintext_auth: ", "AUTH before TLS on 0.0.0.0:587");
    /* Loopback and TLS listeners, and AUTH off, are fine. */
    struct config *cfg = load_ok(
        "state_dir = \"/tmp/x\";\n"
        "tls = { certificate = \"/c.pem\"; key = \"/k.pem\"; };\n"
        "listeners = ( { name = \"a\"; address = \"127.0.0.2:587\"; auth = \"optional\"; "
        "plaintext_auth = true; },\n"
        "  { name = \"b\"; address = \"[::1]:587\"; auth = \"required\"; plaintext_auth = true; "
        "},\n"
        "  { name = \"c\"; address = \"0.0.0.0:25\"; auth = \"off\"; },\n"
        "  { name = \"d\"; address = \"0.0.0.0:465\"; auth = \"required\"; tls = \"implicit\"; "
        "plaintext_auth = true; },\n"
        "  { name = \"e\"; address = \"0.0.0.0:587\"; auth = \"required\"; tls = \"starttls\"; }"
        " );\n");
    assert_int_equal(cfg->n_warnings, 0);
    config_free(cfg);
}

/* test_dns - servers are written back as "ip:port" or "[v6]:port". */
static void test_dns(void **state)
{
    expect_error(BASE "dns = { servers = [ \"127.0.0.1:5353\",\n  \"ns.example:53\" ]; };\n",
                 "4: dns.servers.[1]: ", "\"ns.example:53\" is not");
    expect_error(BASE "dns = { servers = [ \"[::1]:0\" ]; };\n", "3: dns.servers.[0]: ", "is not");
    expect_error(BASE "dns = { servers = \"127.0.0.1\"; };\n",
                 "3: dns.servers: ", "expected an array");
}

/* test_syntax_error - libconfig's own errors keep FILE:LINE. */
static void test_syntax_error(void **state)
{
    expect_error(BASE "limits = {\n  max_errors = ;\n};\n", "4: syntax error: ", "");
    /* libconfig 1.5 would silently drop everything after these. */
    expect_error(BASE "\n\n\"unterminated\nlimits = {};\n", "5: syntax error: ", "never ends");
    expect_error(BASE "/* a comment\nlimits = {};\n", "3: syntax error: ", "never ends");
    struct config *cfg = load_ok(BASE "# a \" in a comment\n// and \" here\n/* \" */\n"
                                      "hostname = \"a.test\"; /*/ still a comment */\n"
                                      "user = \"x\\\"y/*\";\n");
    assert_string_equal(cfg->user, "x\"y/*");
    config_free(cfg);
    expect_error(BASE "state_dir = \"/again\";\n", "3: syntax error: ", "duplicate");
}

/* test_unreadable - a missing file names the file and the reason. */
static void test_unreadable(void **state)
{
    char err[256];
    assert_null(config_load("configs/does-not-exist.conf", err, sizeof(err)));
    assert_string_equal(err, "configs/does-not-exist.conf: cannot open: No such file or directory");
    write_tmp("");
    FILE *fp = fopen(tmp_path, "w");
    assert_non_null(fp);
    fwrite("a = 1;\0b = 2;\n", 1, 14, fp);
    fclose(fp);
    assert_null(config_load(tmp_path, err, sizeof(err)));
    assert_non_null(strstr(err, "contains a NUL octet"));
    unlink(tmp_path);
}

/* test_small_err_buffer - a short ERR is cut, never overrun. */
static void test_small_err_buffer(void **state)
{
    char err[8];
    write_tmp(BASE "bogus = 1;\n");
    assert_null(config_load(tmp_path, err, sizeof(err)));
    assert_int_equal(strlen(err), sizeof(err) - 1);
    unlink(tmp_path);
}

/* test_alert_hooks - alerts { }: the hooks' defaults, their values, and a
 * relative command refused with its line. */
static void test_alert_hooks(void **state)
{
    struct config *cfg = load_ok(BASE);
    assert_null(cfg->alerts.webhook_url);
    assert_null(cfg->alerts.webhook_token);
    assert_null(cfg->alerts.command);
    assert_int_equal(cfg->alerts.webhook_timeout, 10);
    assert_int_equal(cfg->alerts.command_timeout, 30);
    assert_int_equal(cfg->alerts.min_interval, 300);
    config_free(cfg);
    cfg = load_ok(BASE "alerts = { webhook_url = \"HTTPS://hooks.example.org:8443/x?a=b\";\n"
                       "  webhook_token = \"t0k\"; webhook_timeout = 5;\n"
                       "  command = \"/bin/true\"; command_timeout = 60; };\n");
    assert_string_equal(cfg->alerts.webhook_url, "HTTPS://hooks.example.org:8443/x?a=b");
    assert_string_equal(cfg->alerts.webhook_token, "t0k");
    assert_string_equal(cfg->alerts.command, "/bin/true");
    assert_int_equal(cfg->alerts.webhook_timeout, 5);
    assert_int_equal(cfg->alerts.command_timeout, 60);
    config_free(cfg);
    expect_error(BASE "alerts = {\n  command = \"true\"; };\n", "4: alerts.command: ",
                 "not an absolute path");
    expect_error(BASE "alerts = {\n  webhook_url = \"file:///etc/passwd\"; };\n",
                 "4: alerts.webhook_url: ", "http:// or https://");
}

/* test_printable_values - the values that go out as they are (the
 * postmaster's local part, web tokens and URL, the alert hooks) refuse a
 * space, a control character, a byte of UTF-8 and their own specials. */
static void test_printable_values(void **state)
{
    (void)state;
    struct config *cfg = load_ok(BASE "postmaster = \"Post.Master+x@example.org\";\n"
                                      "web = { address = \"127.0.0.1:8080\"; "
                                      "api_token = \"0123456789abcdef!~\"; "
                                      "public_url = \"https://mail.example.org/a?b=c&d\"; };\n");
    assert_string_equal(cfg->postmaster, "post.master+x@example.org");
    assert_string_equal(cfg->web.api_token, "0123456789abcdef!~");
    config_free(cfg);
    expect_error(BASE "postmaster = \"post master@example.org\";\n",
                 "3: postmaster: ", "is not an address");
    expect_error(BASE "postmaster = \"post<master@example.org\";\n",
                 "3: postmaster: ", "is not an address");
    expect_error(BASE "postmaster = \"p\xc3\xb6st@example.org\";\n",
                 "3: postmaster: ", "is not an address");
    expect_error(BASE "web = { address = \"127.0.0.1:8080\";\n"
                      "  api_token = \"0123456789abcdef\\t\"; };\n",
                 "4: web.api_token: ", "only printable characters");
    expect_error(BASE "web = { address = \"127.0.0.1:8080\";\n"
                      "  public_url = \"https://mail.example.org/'x\"; };\n",
                 "4: web.public_url: ", "only printable characters");
    expect_error(BASE "alerts = {\n  webhook_url = \"https://hooks.example.org/a b\"; };\n",
                 "4: alerts.webhook_url: ", "a space or a control character");
    expect_error(BASE "alerts = { webhook_url = \"https://hooks.example.org/\";\n"
                      "  webhook_token = \"t0k\\r\\nX-Evil: 1\"; };\n",
                 "4: alerts.webhook_token: ", "printable characters");
    expect_error(BASE "alerts = {\n  command = \"/usr/bin/h\xc3\xa9\"; };\n",
                 "4: alerts.command: ", "without spaces");
}

/* test_local_delivery - delivery.local and where the LMTP server is. */
static void test_local_delivery(void **state)
{
    struct config *cfg = load_ok(BASE);
    assert_int_equal(cfg->delivery.local, DELIVERY_LOCAL_MAILDIR);
    assert_null(cfg->delivery.lmtp_socket);
    config_free(cfg);
    cfg = load_ok(BASE "delivery = { local = \"lmtp\"; lmtp_address = \"127.0.0.1:24\"; };\n");
    assert_int_equal(cfg->delivery.local, DELIVERY_LOCAL_LMTP);
    assert_string_equal(cfg->delivery.lmtp_address, "127.0.0.1:24");
    assert_int_equal(((struct sockaddr_in *)&cfg->delivery.lmtp_addr)->sin_port, htons(24));
    config_free(cfg);
    cfg = load_ok(BASE "delivery = { local = \"lmtp\"; lmtp_socket = \"/run/d/lmtp\"; };\n");
    assert_string_equal(cfg->delivery.lmtp_socket, "/run/d/lmtp");
    config_free(cfg);
    expect_error(BASE "delivery = { local = \"mbox\"; };\n", "3: delivery.local: ", "maildir");
    expect_error(BASE "delivery = { lmtp_socket = \"a\";\n lmtp_address = \"127.0.0.1:24\"; };\n",
                 "3: delivery.lmtp_socket: ", "not both");
    expect_error(BASE "delivery = { lmtp_address = \"localhost:24\"; };\n",
                 "3: delivery.lmtp_address: ", "is not");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_delivery),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_log_file),
        cmocka_unit_test(test_empty_sections),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_bad_choices),
        cmocka_unit_test(test_listener_errors),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_missing_state_dir),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_rfc_warnings),
        cmocka_unit_test(test_tls_needed),
        cmocka_unit_test(test_hostname),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_deep_includes),
        cmocka_unit_test(test_include),
        cmocka_unit_test(test_relay_unknown_group),
        cmocka_unit_test(test_open_relay_refused),
        cmocka_unit_test(test_open_relay_allowed),
        cmocka_unit_test(test_everything_outside_relay),
        cmocka_unit_test(test_wide_warning),
        cmocka_unit_test(test_host_bits),
        cmocka_unit_test(test_wide_in_grants),
        cmocka_unit_test(test_plaintext_auth),
        cmocka_unit_test(test_dns),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_small_err_buffer),
        cmocka_unit_test(test_alert_hooks),
        cmocka_unit_test(test_printable_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
