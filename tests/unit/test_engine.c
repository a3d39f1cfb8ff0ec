/* tests/unit/test_engine - unit tests of the policy engine (room: tests):
 * each stage's decision for a given origin and transaction (connect with
 * bans and per-IP limits, AUTH failures earning a ban, MAIL with the
 * sender policy and hourly limits, RCPT with the relay rule and the
 * unknown-recipient ban, HOLD at the end of data from an observer), the
 * fail-closed answer to a failed lookup, and the registry of live
 * sessions (ending sessions by IP, network, user, app password, id), and
 * the verdicts on logins (the lockout per account and client network, a
 * lock just decided binding the logins whose store read may have missed
 * it, suspension, 2FA, expiry, app passwords, a failed read).
 * A real store in a temporary directory and a real config file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "accounts/accounts.h"
#include "accounts/lockout.h"
#include "accounts/password.h"
#include "accounts/sending.h"
#include "core/config.h"
#include "policy/engine.h"
#include "policy/origin.h"
#include "store/logins.h"
#include "tmp_store.h"

#define HOST "mx.test"

static char hash_secret[PASSWORD_HASH_MAX];

struct fixture {
    char dir[64], path[128], conf[160];
    sqlite3 *db;
    struct config *cfg;
    struct policy *p;
    /* what the fake session ops saw */
    unsigned ended;
    char last_text[POLICY_TEXT_MAX], last_reason[64];
    void *ended_handles[8];
    unsigned banned_calls;
};

static const char *config_text =
    "hostname = \"" HOST "\";\n"
    "state_dir = \"%s\";\n"
    "listeners = ( { name = \"mx\"; address = \"127.0.0.1:2525\"; tls = \"none\"; "
    "auth = \"optional\"; plaintext_auth = true; } );\n"
    "ip_groups = { lan = [ \"127.0.0.3\" ]; office = [ \"127.0.0.9\" ]; };\n"
    "relay = { allow_groups = [ \"lan\" ]; };\n"
    "hammering = { failures = 3; window = 60; ban = 300; };\n"
    "client_limits = { max_connections = 2; max_unknown_recipients = 2; "
    "messages_per_hour = 5; exempt_groups = [ \"office\" ]; };\n"
    "sending_limits = { messages_per_hour = 2; recipients_per_hour = 3; "
    "domains_per_hour = 2; };\n"
    "%s";

/* load_config - write the test config (with EXTRA appended) and load it. */
static struct config *load_config(struct fixture *f, const char *extra)
{
    char err[512];
    FILE *fp = fopen(f->conf, "w");
    assert_non_null(fp);
    fprintf(fp, config_text, f->dir, extra);
    fclose(fp);
    struct config *cfg = config_load(f->conf, err, sizeof err);
    if (cfg == NULL)
        fprintf(stderr, "%s\n", err);
    assert_non_null(cfg);
    return cfg;
}

static void ops_end(void *ctx, void *handle, const char *text, const char *reason)
{
    struct fixture *f = ctx;
    if (f->ended < 8)
        f->ended_handles[f->ended] = handle;
    f->ended++;
    snprintf(f->last_text, sizeof f->last_text, "%s", text);
    snprintf(f->last_reason, sizeof f->last_reason, "%s", reason);
}

static const char *ops_state(void *ctx, const void *handle)
{
    return "ready";
}

static void ops_banned(void *ctx, const char *ip)
{
    ((struct fixture *)ctx)->banned_calls++;
}

/* mail - MAIL FROM:<FROM> as the daemon asks it: the store's facts read
 * first (on a lookup thread there, here on the test's connection). */
static void mail(struct fixture *f, struct origin *o, struct policy_txn *t, const char *from,
                 struct policy_decision *d)
{
    char key[300];
    struct policy_store_facts sf;
    policy_store_facts_read(f->db, o->auth_user, from, origin_sender_key(o, key, sizeof key), &sf);
    policy_mail(f->p, o, t, from, &sf, d);
}

/* end_of_data - the end of DATA as the daemon asks it (the facts of From:). */
static void end_of_data(struct fixture *f, struct origin *o, struct policy_txn *t,
                        const struct policy_message *m, struct policy_decision *d)
{
    struct policy_store_facts sf;
    policy_store_facts_read(f->db, o->auth_user, m->header_from, NULL, &sf);
    policy_end_of_data(f->p, o, t, m, &sf, d);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];
    assert_non_null(f);
    f->db = tmp_store_open("test_engine", f->dir, sizeof f->dir, f->path, sizeof f->path);
    assert_non_null(f->db);
    snprintf(f->conf, sizeof f->conf, "%s/floodgate.conf", f->dir);
    f->cfg = load_config(f, "");
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), 0);
    assert_int_equal(accounts_user_add(f->db, "alice@example.org", hash_secret, err, sizeof err),
                     0);
    assert_int_equal(accounts_user_add(f->db, "bob@example.org", hash_secret, err, sizeof err), 0);
    struct policy_env env = {.cfg = f->cfg};
    f->p = policy_new(&env);
    assert_non_null(f->p);
    struct policy_session_ops ops = {
        .ctx = f, .end = ops_end, .state = ops_state, .banned = ops_banned};
    policy_set_session_ops(f->p, &ops);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    policy_free(f->p);
    config_unref(f->cfg);
    sqlite3_close(f->db);
    tmp_store_remove(f->dir);
    free(f);
    return 0;
}

/* make_origin - a client at IP on the "mx" listener. */
static void make_origin(struct fixture *f, struct origin *o, unsigned long id, const char *ip)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(40000)};
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    origin_init(o, id, (const struct sockaddr *)&sa, sizeof sa, "mx", f->cfg);
}

/* connect_ok - O connects and is accepted. */
static void connect_ok(struct fixture *f, struct origin *o)
{
    struct policy_decision d;
    policy_connect(f->p, o, o, &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
}

/* test_origin - the derived facts and the sender key. */
static void test_origin(void **state)
{
    struct fixture *f = *state;
    struct origin lan, net, office;
    char key[300];
    make_origin(f, &lan, 1, "127.0.0.3");
    make_origin(f, &net, 2, "127.0.0.5");
    make_origin(f, &office, 3, "127.0.0.9");
    assert_true(lan.trusted);
    assert_false(lan.exempt);
    assert_false(net.trusted);
    assert_true(office.exempt);
    assert_string_equal(lan.ip, "127.0.0.3");
    assert_int_equal(lan.port, 40000);
    assert_string_equal(origin_sender_key(&lan, key, sizeof key), "ip:127.0.0.3");
    assert_null(origin_sender_key(&net, key, sizeof key));
    assert_int_equal(origin_set_auth(&net, "Alice@Example.org", "phone"), 0);
    assert_string_equal(origin_sender_key(&net, key, sizeof key), "alice@example.org");
    origin_set_helo(&net, "bad(name)\x01", 10);
    assert_string_equal(net.helo, "bad_name__");
    origin_clear(&net);
    assert_null(net.auth_user);
}

/* test_connect_limits - max_connections per IP, an exempt IP, and the
 * slot given back at disconnect. */
static void test_connect_limits(void **state)
{
    struct fixture *f = *state;
    struct origin a, b, c, x1, x2, x3;
    struct policy_decision d;
    make_origin(f, &a, 1, "127.0.0.5");
    make_origin(f, &b, 2, "127.0.0.5");
    make_origin(f, &c, 3, "127.0.0.5");
    connect_ok(f, &a);
    connect_ok(f, &b);
    policy_connect(f->p, &c, &c, &d);
    assert_int_equal(d.action, POLICY_DISCONNECT);
    assert_int_equal(d.code, 421);
    assert_string_equal(d.text,
                        "421 4.7.0 " HOST " Too many connections from your address, try again "
                        "later");
    policy_disconnect(f->p, &a);
    connect_ok(f, &c);
    make_origin(f, &x1, 4, "127.0.0.9"); /* exempt: no per-IP limit */
    make_origin(f, &x2, 5, "127.0.0.9");
    make_origin(f, &x3, 6, "127.0.0.9");
    connect_ok(f, &x1);
    connect_ok(f, &x2);
    connect_ok(f, &x3);
    json_t *list = policy_sessions(f->p);
    assert_int_equal(json_array_size(list), 5);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")),
                        "ready");
    json_decref(list);
    policy_disconnect(f->p, &b);
    policy_disconnect(f->p, &c);
    policy_disconnect(f->p, &x1);
    policy_disconnect(f->p, &x2);
    policy_disconnect(f->p, &x3);
}

/* test_ban_connect - a banned IP (and a banned network) is refused, and
 * banning an IP ends its live sessions but not others'. */
static void test_ban_connect(void **state)
{
    struct fixture *f = *state;
    struct origin a, other, late;
    struct policy_decision d;
    make_origin(f, &a, 1, "127.0.0.5");
    make_origin(f, &other, 2, "127.0.0.6");
    connect_ok(f, &a);
    connect_ok(f, &other);
    assert_int_equal(policy_ban_add(f->p, "127.0.0.5", 600, "admin"), 0);
    assert_int_equal(f->ended, 1);
    assert_ptr_equal(f->ended_handles[0], &a);
    assert_string_equal(f->last_reason, "ban");
    assert_int_equal(f->banned_calls, 1);
    make_origin(f, &late, 3, "127.0.0.5");
    policy_connect(f->p, &late, &late, &d);
    assert_int_equal(d.action, POLICY_DISCONNECT);
    assert_non_null(strstr(d.text, "421 4.7.0 " HOST " Your address is blocked for "));
    assert_true(policy_banned(f->p, "127.0.0.5"));
    assert_false(policy_banned(f->p, "127.0.0.6"));
    assert_int_equal(policy_ban_add(f->p, "127.0.1.0/24", 600, "admin"), 0);
    assert_true(policy_banned(f->p, "127.0.1.77"));
    policy_disconnect(f->p, &a);
    policy_disconnect(f->p, &other);
}

/* test_auth_failures_ban - hammering.failures failed logins ban the IP:
 * the third answers DISCONNECT, the IP's other session is ended, and a
 * later AUTH result is refused as banned. */
static void test_auth_failures_ban(void **state)
{
    struct fixture *f = *state;
    struct origin a, b;
    struct policy_decision d;
    make_origin(f, &a, 1, "127.0.0.5");
    make_origin(f, &b, 2, "127.0.0.5");
    connect_ok(f, &a);
    connect_ok(f, &b);
    policy_auth_result(f->p, &a, "alice@example.org", NULL, false, "bad_password", &d);
    assert_int_equal(d.action, POLICY_REJECT);
    assert_string_equal(d.text, "535 5.7.8 Authentication credentials invalid");
    for (int i = 0; i < 2; i++) {
        policy_failure(f->p, &a, "auth", &d);
        assert_int_equal(d.action, POLICY_ACCEPT);
    }
    policy_failure(f->p, &a, "auth", &d);
    assert_int_equal(d.action, POLICY_DISCONNECT);
    assert_string_equal(d.text, "421 4.7.0 " HOST
                                " Too many failed attempts from your address, try again later");
    assert_int_equal(f->ended, 1); /* the other session, not this one */
    assert_ptr_equal(f->ended_handles[0], &b);
    policy_auth_result(f->p, &b, "alice@example.org", NULL, true, NULL, &d);
    assert_int_equal(d.action, POLICY_DISCONNECT);
    policy_auth_start(f->p, &b, &d);
    assert_int_equal(d.action, POLICY_DISCONNECT);
    policy_disconnect(f->p, &a);
    policy_disconnect(f->p, &b);
}

/* test_mail_sender_policy - an authenticated user sends as its own
 * address only; an unauthenticated client may not claim our domain. */
static void test_mail_sender_policy(void **state)
{
    struct fixture *f = *state;
    struct origin a, net;
    struct policy_txn t = {0};
    struct policy_decision d;
    make_origin(f, &a, 1, "127.0.0.5");
    make_origin(f, &net, 2, "127.0.0.6");
    assert_int_equal(origin_set_auth(&a, "alice@example.org", NULL), 0);
    mail(f, &a, &t, "alice@example.org", &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    assert_string_equal(t.sender_key, "alice@example.org");
    assert_int_equal(t.limits.messages, 2);
    mail(f, &a, &t, "bob@example.org", &d);
    assert_int_equal(d.action, POLICY_REJECT);
    assert_string_equal(d.text, "550 5.7.1 <bob@example.org>: Sender address rejected: not owned "
                                "by user alice@example.org");
    mail(f, &net, &t, "bob@example.org", &d);
    assert_int_equal(d.action, POLICY_REJECT);
    assert_string_equal(d.text, "550 5.7.1 <bob@example.org>: Sender address rejected: log in to "
                                "send as example.org");
    mail(f, &net, &t, "someone@elsewhere.test", &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    assert_string_equal(t.sender_key, ""); /* Internet mail: no sender limits */
    policy_txn_reset(&t);
    origin_clear(&a);
}

/* accept_message - the transaction T of O is accepted with N_RCPTS. */
static void accept_message(struct fixture *f, struct origin *o, struct policy_txn *t)
{
    struct policy_message m = {.queue_id = "Q", .sender = "alice@example.org"};
    policy_accepted(f->p, o, t, &m);
}

/* test_mail_rcpt_limits - messages, recipients and domains per hour, and
 * the user's own override from the store. */
static void test_mail_rcpt_limits(void **state)
{
    struct fixture *f = *state;
    struct origin a;
    struct policy_txn t = {0};
    struct policy_decision d;
    make_origin(f, &a, 1, "127.0.0.5");
    assert_int_equal(origin_set_auth(&a, "alice@example.org", NULL), 0);
    const char *doms[] = {"one.test", "two.test", "three.test"};
    mail(f, &a, &t, "alice@example.org", &d);
    for (int i = 0; i < 2; i++) {
        struct policy_rcpt r = {.orig = "x@d", .domain = doms[i]};
        policy_rcpt(f->p, &a, &t, &r, &d);
        assert_int_equal(d.action, POLICY_ACCEPT);
    }
    struct policy_rcpt r3 = {.orig = "x@three.test", .domain = doms[2]};
    policy_rcpt(f->p, &a, &t, &r3, &d); /* a third new domain: over domains_per_hour 2 */
    assert_int_equal(d.action, POLICY_DEFER);
    assert_string_equal(d.text, "451 4.7.1 Sending limit reached: alice@example.org may send to "
                                "2 domains per hour");
    accept_message(f, &a, &t);
    json_t *c = policy_counters(f->p, "alice@example.org");
    assert_int_equal(json_integer_value(json_object_get(c, "messages")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "recipients")), 2);
    assert_int_equal(json_integer_value(json_object_get(c, "domains")), 2);
    json_decref(c);
    mail(f, &a, &t, "alice@example.org", &d);
    struct policy_rcpt r1 = {.orig = "y@one.test", .domain = "ONE.test"};
    policy_rcpt(f->p, &a, &t, &r1, &d); /* a known domain, the third recipient */
    assert_int_equal(d.action, POLICY_ACCEPT);
    policy_rcpt(f->p, &a, &t, &r1, &d); /* the fourth: over recipients_per_hour 3 */
    assert_int_equal(d.action, POLICY_DEFER);
    assert_string_equal(d.text, "451 4.7.1 Sending limit reached: alice@example.org may send to "
                                "3 recipients per hour");
    accept_message(f, &a, &t);
    mail(f, &a, &t, "alice@example.org", &d); /* the third message */
    assert_int_equal(d.action, POLICY_DEFER);
    assert_string_equal(d.text,
                        "451 4.7.1 Sending limit reached: alice@example.org may send 2 messages "
                        "per hour");
    char err[256];
    struct user_limits u = {.messages = 10, .recipients = -1, .domains = -1};
    assert_int_equal(accounts_user_set_limits(f->db, "alice@example.org", &u, err, sizeof err), 0);
    mail(f, &a, &t, "alice@example.org", &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    assert_int_equal(t.limits.messages, 10);
    policy_txn_reset(&t);
    origin_clear(&a);
}

/* test_rcpt_relay - the relay rule through the engine: local known and
 * unknown, literal, remote from the Internet (denied), from a trusted
 * group and from an authenticated user (accepted). */
static void test_rcpt_relay(void **state)
{
    struct fixture *f = *state;
    struct origin net, lan, user;
    struct policy_txn t = {0};
    struct policy_decision d;
    make_origin(f, &net, 1, "127.0.0.5");
    make_origin(f, &lan, 2, "127.0.0.3");
    make_origin(f, &user, 3, "127.0.0.6");
    assert_int_equal(origin_set_auth(&user, "bob@example.org", NULL), 0);
    struct policy_rcpt local = {
        .orig = "alice@example.org", .domain = "example.org", .domain_local = true, .known = true};
    struct policy_rcpt remote = {.orig = "x@far.test", .domain = "far.test"};
    struct policy_rcpt literal = {
        .orig = "x@[192.0.2.1]", .domain = "[192.0.2.1]", .literal = true};
    policy_rcpt(f->p, &net, &t, &local, &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    policy_rcpt(f->p, &net, &t, &remote, &d);
    assert_int_equal(d.action, POLICY_REJECT);
    assert_string_equal(d.text, "554 5.7.1 <x@far.test>: Relay access denied");
    policy_rcpt(f->p, &net, &t, &literal, &d);
    assert_string_equal(d.text, "550 5.7.1 <x@[192.0.2.1]>: Address literals are not accepted");
    policy_txn_reset(&t);
    mail(f, &lan, &t, "pc@lan.test", &d);
    assert_string_equal(t.sender_key, "ip:127.0.0.3");
    policy_rcpt(f->p, &lan, &t, &remote, &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    mail(f, &user, &t, "bob@example.org", &d);
    policy_rcpt(f->p, &user, &t, &remote, &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    struct policy_rcpt failed = {
        .orig = "a@example.org", .domain = "example.org", .lookup_failed = true};
    policy_rcpt(f->p, &user, &t, &failed, &d);
    assert_int_equal(d.action, POLICY_DEFER);
    assert_string_equal(d.text, "451 4.3.0 <a@example.org>: Temporary lookup failure");
    policy_txn_reset(&t);
    origin_clear(&user);
}

/* test_unknown_recipients_ban - past max_unknown_recipients the client
 * is banned: the 550 is followed by a 421 and the session closes. */
static void test_unknown_recipients_ban(void **state)
{
    struct fixture *f = *state;
    struct origin net;
    struct policy_txn t = {0};
    struct policy_decision d;
    make_origin(f, &net, 1, "127.0.0.5");
    connect_ok(f, &net);
    struct policy_rcpt r = {
        .orig = "nobody@example.org", .domain = "example.org", .domain_local = true};
    for (int i = 0; i < 2; i++) {
        policy_rcpt(f->p, &net, &t, &r, &d);
        assert_int_equal(d.action, POLICY_REJECT);
        assert_string_equal(d.text,
                            "550 5.1.1 <nobody@example.org>: Recipient address rejected: User "
                            "unknown");
    }
    policy_rcpt(f->p, &net, &t, &r, &d);
    assert_int_equal(d.action, POLICY_DISCONNECT);
    assert_int_equal(d.code, 550);
    assert_string_equal(d.then, "421 4.7.0 " HOST
                                " Too many unknown recipients from your address, closing");
    assert_true(policy_banned(f->p, "127.0.0.5"));
    policy_disconnect(f->p, &net);
}

/* The observer of test_hold: holds every message of alice. */
struct watcher {
    unsigned accepted, auth_ok, auth_fail, ended;
    char last_qid[32];
};

static void watch_end_of_data(void *arg, const struct origin *o, const struct policy_message *m,
                              struct policy_decision *d)
{
    if (o->auth_user && strcmp(o->auth_user, "alice@example.org") == 0 &&
        d->action == POLICY_ACCEPT)
        d->action = POLICY_HOLD;
}

static void watch_accepted(void *arg, const struct origin *o, const struct policy_message *m)
{
    struct watcher *w = arg;
    w->accepted++;
    snprintf(w->last_qid, sizeof w->last_qid, "%s", m->queue_id);
}

static void watch_auth(void *arg, const struct origin *o, const char *user, const char *label,
                       bool ok, const char *why)
{
    struct watcher *w = arg;
    if (ok)
        w->auth_ok++;
    else
        w->auth_fail++;
}

static void watch_session_end(void *arg, const struct origin *o)
{
    ((struct watcher *)arg)->ended++;
}

/* test_hold - an observer answers HOLD at the end of data for one
 * sender; the header From rule still rejects first; events arrive. */
static void test_hold(void **state)
{
    struct fixture *f = *state;
    struct watcher w = {0};
    struct policy_observer obs = {.arg = &w,
                                  .auth = watch_auth,
                                  .end_of_data = watch_end_of_data,
                                  .accepted = watch_accepted,
                                  .session_end = watch_session_end};
    struct origin a, b;
    struct policy_txn t = {0};
    struct policy_decision d;
    assert_int_equal(policy_add_observer(f->p, &obs), 0);
    make_origin(f, &a, 1, "127.0.0.5");
    make_origin(f, &b, 2, "127.0.0.6");
    connect_ok(f, &a);
    policy_auth_result(f->p, &a, "alice@example.org", NULL, true, NULL, &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    policy_auth_result(f->p, &b, "bob@example.org", NULL, false, "bad_password", &d);
    assert_int_equal(w.auth_ok, 1);
    assert_int_equal(w.auth_fail, 1);
    assert_int_equal(origin_set_auth(&a, "alice@example.org", NULL), 0);
    assert_int_equal(origin_set_auth(&b, "bob@example.org", NULL), 0);
    struct policy_message m = {
        .queue_id = "ABC", .sender = "alice@example.org", .header_from = "alice@example.org"};
    end_of_data(f, &a, &t, &m, &d);
    assert_int_equal(d.action, POLICY_HOLD);
    m.header_from = "bob@example.org";
    end_of_data(f, &a, &t, &m, &d);
    assert_int_equal(d.action, POLICY_REJECT);
    assert_string_equal(d.text, "550 5.7.1 Message rejected: From: <bob@example.org> is not an "
                                "address of alice@example.org");
    m.header_from = "bob@example.org";
    end_of_data(f, &b, &t, &m, &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    m.held = true;
    policy_accepted(f->p, &a, &t, &m);
    assert_int_equal(w.accepted, 1);
    assert_string_equal(w.last_qid, "ABC");
    json_t *list = policy_sessions(f->p);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "messages")), 1);
    json_decref(list);
    policy_disconnect(f->p, &a);
    assert_int_equal(w.ended, 1);
    origin_clear(&a);
    origin_clear(&b);
}

/* test_end_sessions - by id, user (any case), app password, network. */
static void test_end_sessions(void **state)
{
    struct fixture *f = *state;
    struct origin a, b, c;
    make_origin(f, &a, 11, "127.0.0.5");
    make_origin(f, &b, 12, "127.0.0.6");
    make_origin(f, &c, 13, "127.0.2.7");
    connect_ok(f, &a);
    connect_ok(f, &b);
    connect_ok(f, &c);
    assert_int_equal(origin_set_auth(&a, "alice@example.org", "phone"), 0);
    assert_int_equal(origin_set_auth(&b, "alice@example.org", NULL), 0);
    struct policy_match none = {0};
    assert_int_equal(policy_end_sessions(f->p, &none, NULL, "kill"), 0);
    struct policy_match app = {.user = "alice@example.org", .app_password = "phone"};
    assert_int_equal(policy_end_sessions(f->p, &app, NULL, "app_password_revoked"), 1);
    assert_ptr_equal(f->ended_handles[0], &a);
    assert_string_equal(f->last_text,
                        "421 4.7.0 " HOST " The app password of this session was revoked, closing "
                        "connection");
    struct policy_match user = {.user = "ALICE@example.org"};
    assert_int_equal(policy_end_sessions(f->p, &user, "421 4.7.0 bye", "suspended"), 2);
    struct policy_match net = {.ip = "127.0.2.0/24"};
    assert_int_equal(policy_end_sessions(f->p, &net, NULL, "kill"), 1);
    assert_ptr_equal(f->ended_handles[3], &c);
    struct policy_match id = {.id = 12};
    assert_int_equal(policy_end_sessions(f->p, &id, NULL, "kill"), 1);
    policy_disconnect(f->p, &a);
    policy_disconnect(f->p, &b);
    policy_disconnect(f->p, &c);
    origin_clear(&a);
    origin_clear(&b);
}

/* test_fail_closed - a lookup the sender rule needs fails: 451 4.3.0 by
 * default, the client let on with policy.fail_open. */
static void test_fail_closed(void **state)
{
    struct fixture *f = *state;
    struct origin a;
    struct policy_txn t = {0};
    struct policy_decision d;
    make_origin(f, &a, 1, "127.0.0.5");
    assert_int_equal(origin_set_auth(&a, "alice@example.org", NULL), 0);
    assert_int_equal(sqlite3_exec(f->db, "DROP TABLE send_as", NULL, NULL, NULL), SQLITE_OK);
    mail(f, &a, &t, "alias-of-alice@example.org", &d);
    assert_int_equal(d.action, POLICY_DEFER);
    assert_string_equal(d.text, "451 4.3.0 Temporary lookup failure, try again later");
    struct config *open = load_config(f, "policy = { fail_open = true; };\n");
    assert_true(open->policy.fail_open);
    policy_set_config(f->p, open);
    config_unref(open);
    mail(f, &a, &t, "alias-of-alice@example.org", &d);
    assert_int_equal(d.action, POLICY_ACCEPT);
    policy_txn_reset(&t);
    origin_clear(&a);
}

/* test_reload_regroups - a reload that takes an address out of the
 * trusted group ends its sessions; the others go on. */
static void test_reload_regroups(void **state)
{
    struct fixture *f = *state;
    struct origin lan, net;
    make_origin(f, &lan, 1, "127.0.0.3");
    make_origin(f, &net, 2, "127.0.0.5");
    connect_ok(f, &lan);
    connect_ok(f, &net);
    struct config *same = load_config(f, "");
    policy_set_config(f->p, same);
    config_unref(same);
    assert_int_equal(f->ended, 0);
    /* the extra text comes last: a second relay group replaces nothing,
     * so write a config without the lan group's address */
    FILE *fp = fopen(f->conf, "w");
    assert_non_null(fp);
    fprintf(fp,
            "hostname = \"" HOST "\";\nstate_dir = \"%s\";\n"
            "listeners = ( { name = \"mx\"; address = \"127.0.0.1:2525\"; tls = \"none\"; "
            "auth = \"off\"; } );\n"
            "ip_groups = { lan = [ \"127.0.0.4\" ]; };\n"
            "relay = { allow_groups = [ \"lan\" ]; };\n",
            f->dir);
    fclose(fp);
    char err[512];
    struct config *moved = config_load(f->conf, err, sizeof err);
    assert_non_null(moved);
    policy_set_config(f->p, moved);
    config_unref(moved);
    assert_int_equal(f->ended, 1);
    assert_ptr_equal(f->ended_handles[0], &lan);
    assert_string_equal(f->last_reason, "ip_groups");
    assert_string_equal(f->last_text, "421 4.7.0 " HOST
                                      " The permissions of your address changed, please connect "
                                      "again");
    policy_disconnect(f->p, &lan);
    policy_disconnect(f->p, &net);
}

/* ---- logins ---- */

/* LOCKOUT: three wrong guesses from a network lock it, five from all
 * networks lock the account (but for its known networks). */
#define LOCKOUT "lockout = { failures = 3; window = 600; account_failures = 5; };\n"

/* login - the verdict on a login of USER from O as the SMTP room asks it:
 * the ticket first, then the store's state ST as read (FOUND), and what
 * the password check found (MAIN_OK, APP). */
static void login(struct fixture *f, struct origin *o, const char *user, int found,
                  const struct login_state *st, bool main_ok, int app, struct policy_decision *d)
{
    struct policy_login_ticket t;
    policy_login_begin(f->p, o, &t);
    struct policy_login l = {
        .user = user, .ticket = &t, .found = found, .st = st, .main_ok = main_ok, .app = app};
    policy_auth_login(f->p, o, &l, d);
}

/* use_lockout - the engine runs under the config with LOCKOUT. */
static void use_lockout(struct fixture *f, const char *extra)
{
    struct config *c = load_config(f, extra);
    policy_set_config(f->p, c);
    config_unref(c);
    lockout_forget_all();
}

/* expect - D is ACTION with REASON (and, for a refusal, the reply TEXT). */
static void expect(const struct policy_decision *d, enum policy_action action, const char *reason,
                   const char *text)
{
    assert_int_equal(d->action, action);
    if (reason)
        assert_string_equal(d->reason, reason);
    if (text)
        assert_string_equal(d->text, text);
}

#define INVALID "535 5.7.8 Authentication credentials invalid"

/* test_login_lockout_per_network - guesses from one network lock the main
 * password from there, even when the store's read came too early to show
 * the lock (no committer here: nothing reaches the store), while alice at
 * another network still logs in; app passwords are never locked. */
static void test_login_lockout_per_network(void **state)
{
    struct fixture *f = *state;
    struct origin bot, bot2, home;
    struct policy_decision d;
    struct login_state st = {.password_changed = time(NULL), .n_app = 1};
    st.app[0].id = 7;
    snprintf(st.app[0].label, sizeof st.app[0].label, "phone");
    use_lockout(f, LOCKOUT);
    make_origin(f, &bot, 1, "127.0.9.10");
    make_origin(f, &bot2, 2, "127.0.9.11"); /* the same /24 */
    make_origin(f, &home, 3, "127.0.5.1");
    for (int i = 0; i < 3; i++) {
        login(f, &bot, "Alice@example.org", 1, &st, false, -1, &d);
        expect(&d, POLICY_REJECT, "bad_password", INVALID);
    }
    /* the right password right after the locking guess: the store read
     * (ST, no lock in it) missed the lock, the engine did not */
    login(f, &bot2, "alice@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_REJECT, "locked", INVALID);
    assert_null(bot2.auth_user);
    /* a wrong one while locked counts nothing (no account-wide lock after
     * five): still "locked" */
    for (int i = 0; i < 3; i++) {
        login(f, &bot, "alice@example.org", 1, &st, false, -1, &d);
        expect(&d, POLICY_REJECT, "locked", NULL);
    }
    login(f, &home, "alice@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_ACCEPT, NULL, NULL);
    assert_string_equal(home.auth_user, "alice@example.org");
    login(f, &bot2, "alice@example.org", 1, &st, false, 0, &d); /* her phone's app password */
    expect(&d, POLICY_ACCEPT, NULL, NULL);
    assert_string_equal(bot2.app_password, "phone");
    /* the store's own lock of the network binds too */
    lockout_forget_all();
    st.network_locked_until = time(NULL) + 60;
    login(f, &bot, "alice@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_REJECT, "locked", INVALID);
    origin_clear(&bot);
    origin_clear(&bot2);
    origin_clear(&home);
}

/* test_login_lock_stored - once the store has a lock, a login whose read
 * began after that sees it in the store: the memory lets it go (an admin's
 * unlock in between is obeyed); one whose read began before stays bound. */
static void test_login_lock_stored(void **state)
{
    struct fixture *f = *state;
    struct origin bot;
    struct policy_decision d;
    struct login_state st = {.password_changed = time(NULL)};
    use_lockout(f, LOCKOUT);
    make_origin(f, &bot, 1, "127.0.9.10");
    struct policy_login_ticket early;
    policy_login_begin(f->p, &bot, &early); /* a read that began before the lock */
    for (int i = 0; i < 3; i++)
        login(f, &bot, "alice@example.org", 1, &st, false, -1, &d);
    expect(&d, POLICY_REJECT, "bad_password", NULL);
    assert_string_equal(early.network, "127.0.9.0/24");
    lockout_stored("alice@example.org", early.network); /* as the committer's answer does */
    struct policy_login l = {.user = "alice@example.org",
                             .ticket = &early,
                             .found = 1,
                             .st = &st,
                             .main_ok = true,
                             .app = -1};
    policy_auth_login(f->p, &bot, &l, &d);
    expect(&d, POLICY_REJECT, "locked", NULL);
    login(f, &bot, "alice@example.org", 1, &st, true, -1, &d); /* read after: unlocked there */
    expect(&d, POLICY_ACCEPT, NULL, NULL);
    origin_clear(&bot);
}

/* test_login_account_lock - guesses spread over networks lock the account
 * everywhere except the networks it logged in from recently. */
static void test_login_account_lock(void **state)
{
    struct fixture *f = *state;
    struct origin o[5], known, stranger;
    struct policy_decision d;
    struct login_state st = {.password_changed = time(NULL)};
    use_lockout(f, LOCKOUT);
    for (int i = 0; i < 5; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "127.0.%d.1", 20 + i);
        make_origin(f, &o[i], (unsigned long)i + 1, ip);
        login(f, &o[i], "bob@example.org", 1, &st, false, -1, &d);
        expect(&d, POLICY_REJECT, "bad_password", NULL);
    }
    make_origin(f, &known, 10, "127.0.5.1");
    make_origin(f, &stranger, 11, "127.0.6.1");
    login(f, &stranger, "bob@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_REJECT, "locked", NULL);
    struct login_state at_home = st;
    at_home.network_last_ok = time(NULL) - 60; /* the store knows this network */
    login(f, &known, "bob@example.org", 1, &at_home, true, -1, &d);
    expect(&d, POLICY_ACCEPT, NULL, NULL);
    for (int i = 0; i < 5; i++)
        origin_clear(&o[i]);
    origin_clear(&known);
    origin_clear(&stranger);
}

/* test_login_refusals - the account's state refuses a right main
 * password; an unknown user and a failed read are refused as such. */
static void test_login_refusals(void **state)
{
    struct fixture *f = *state;
    struct origin c;
    struct policy_decision d;
    struct login_state st = {.password_changed = time(NULL), .suspended = true};
    make_origin(f, &c, 1, "127.0.0.5");
    login(f, &c, "alice@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_REJECT, "suspended", INVALID);
    st.suspended = false;
    st.totp_enabled = true;
    login(f, &c, "alice@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_REJECT, "2fa_requires_app_password", INVALID);
    st.totp_enabled = false;
    st.password_expired = true;
    login(f, &c, "alice@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_REJECT, "expired",
           "535 5.7.8 Your password has expired: ask your administrator to set a new one");
    assert_int_equal(d.code, 535);
    use_lockout(f, "web = { address = \"127.0.0.1:8080\"; "
                   "public_url = \"https://mail.example.org/\"; };\n");
    login(f, &c, "alice@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_REJECT, "expired",
           "535 5.7.8 Your password has expired: change it at https://mail.example.org/account");
    login(f, &c, "alice@example.org", 1, &st, false, -1, &d); /* a guesser learns nothing */
    expect(&d, POLICY_REJECT, "bad_password", INVALID);
    login(f, &c, "nobody@example.org", 0, &st, false, -1, &d);
    expect(&d, POLICY_REJECT, "unknown_user", INVALID);
    login(f, &c, "alice@example.org", -1, &st, false, -1, &d);
    expect(&d, POLICY_DEFER, NULL, "454 4.7.0 Temporary authentication failure");
    assert_null(c.auth_user);
    origin_clear(&c);
}

/* test_login_banned_meanwhile - a ban while the check ran: no 535, the
 * ban's 421 and the end of the session, even for a right password. */
static void test_login_banned_meanwhile(void **state)
{
    struct fixture *f = *state;
    struct origin c;
    struct policy_decision d;
    struct login_state st = {.password_changed = time(NULL)};
    make_origin(f, &c, 1, "127.0.0.5");
    assert_int_equal(policy_ban_add(f->p, "127.0.0.5", 60, "test"), 0);
    login(f, &c, "alice@example.org", 1, &st, true, -1, &d);
    expect(&d, POLICY_DISCONNECT, "banned", NULL);
    assert_null(c.auth_user);
    origin_clear(&c);
}

int main(void)
{
    if (password_hash("correct horse", hash_secret) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ban_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_failures_ban, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mail_sender_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mail_rcpt_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rcpt_relay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_recipients_ban, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_regroups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_lockout_per_network, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_lock_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_account_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_banned_meanwhile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
