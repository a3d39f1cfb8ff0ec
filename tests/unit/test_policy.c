/* tests/unit/test_policy - unit tests of the in-memory policy tables (room:
 * tests): core/strmap, policy/counters (sliding windows), policy/bans
 * (when failures earn a ban, repeat offenders, networks, expiry) and
 * policy/sender (the sender-address rule). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ipset.h"
#include "core/strmap.h"
#include "policy/bans.h"
#include "policy/counters.h"
#include "policy/sender.h"

#define T0 1800000000 /* a fixed "now" */

static bool drop_odd(const char *key, void *value, void *arg)
{
    return ((uintptr_t)value & 1) == 0;
}

/* test_strmap - put, replace, get, delete, growth and sweep. */
static void test_strmap(void **state)
{
    struct strmap *m = strmap_new();
    char key[32];
    void *old = (void *)1;
    assert_non_null(m);
    assert_null(strmap_get(m, "missing"));
    assert_int_equal(strmap_put(m, "a", (void *)10, &old), 0);
    assert_null(old);
    assert_int_equal(strmap_put(m, "a", (void *)12, &old), 0);
    assert_ptr_equal(old, (void *)10);
    assert_int_equal(strmap_count(m), 1);
    for (uintptr_t i = 1; i <= 5000; i++) { /* several doublings */
        snprintf(key, sizeof key, "10.0.%u.%u", (unsigned)(i / 256), (unsigned)(i % 256));
        assert_int_equal(strmap_put(m, key, (void *)i, NULL), 0);
    }
    assert_int_equal(strmap_count(m), 5001);
    assert_ptr_equal(strmap_get(m, "10.0.19.136"), (void *)(uintptr_t)(19 * 256 + 136));
    assert_ptr_equal(strmap_del(m, "a"), (void *)12);
    assert_null(strmap_del(m, "a"));
    strmap_sweep(m, drop_odd, NULL, NULL);
    assert_int_equal(strmap_count(m), 2500);
    assert_null(strmap_get(m, "10.0.0.1"));
    assert_ptr_equal(strmap_get(m, "10.0.0.2"), (void *)2);
    strmap_free(m, NULL);
}

/* test_counters_window - events leave the total once the window passed
 * them; keys are independent; reset forgets. */
static void test_counters_window(void **state)
{
    struct counters *c = counters_new(60, 100); /* 12 slots of 5 s */
    assert_non_null(c);
    assert_int_equal(counters_add(c, "ip", 1, T0), 1);
    assert_int_equal(counters_add(c, "ip", 2, T0 + 10), 3);
    assert_int_equal(counters_add(c, "other", 1, T0 + 10), 1);
    assert_int_equal(counters_get(c, "ip", T0 + 59), 3);
    assert_int_equal(counters_get(c, "ip", T0 + 61), 2); /* the first slot left */
    assert_int_equal(counters_get(c, "ip", T0 + 75), 0);
    assert_int_equal(counters_add(c, "ip", 1, T0 + 200), 1); /* a slot reused, not added to */
    counters_reset(c, "ip");
    assert_int_equal(counters_get(c, "ip", T0 + 200), 0);
    counters_sweep(c, T0 + 1000);
    assert_int_equal(counters_keys(c), 0);
    counters_free(c);
}

/* test_counters_bounded - a full table keeps what it has and reports the
 * events of a new key without keeping them; a sweep makes room. */
static void test_counters_bounded(void **state)
{
    struct counters *c = counters_new(3600, 3);
    counters_add(c, "a", 5, T0);
    counters_add(c, "b", 1, T0);
    counters_add(c, "c", 9, T0);
    assert_int_equal(counters_add(c, "d", 2, T0), 2);
    assert_int_equal(counters_get(c, "d", T0), 0);
    assert_int_equal(counters_keys(c), 3);
    struct counter_total top[2];
    assert_int_equal(counters_top(c, T0, top, 2), 2);
    assert_string_equal(top[0].key, "c");
    assert_int_equal(top[0].total, 9);
    assert_string_equal(top[1].key, "a");
    assert_int_equal(counters_add(c, "d", 2, T0 + 7200), 2); /* the old keys swept */
    assert_int_equal(counters_get(c, "d", T0 + 7200), 2);
    counters_free(c);
}

static struct config_hammering rules(struct ipset *exempt)
{
    return (struct config_hammering){
        .failures = 3, .window = 60, .ban = 300, .ban_max = 1000, .exempt = exempt};
}

/* test_bans_failures - the Nth failure within the window bans; the ban
 * is active until it ends; a repeat offender's ban doubles up to the cap. */
static void test_bans_failures(void **state)
{
    struct ipset *exempt = ipset_new();
    struct config_hammering h = rules(exempt);
    struct bans *b = bans_new();
    struct ban ban;
    assert_false(bans_failure(b, &h, "192.0.2.7", "auth failures", T0, &ban));
    assert_false(bans_failure(b, &h, "192.0.2.7", "auth failures", T0 + 1, &ban));
    assert_false(bans_failure(b, &h, "192.0.2.8", "auth failures", T0 + 1, &ban));
    assert_true(bans_failure(b, &h, "192.0.2.7", "auth failures", T0 + 2, &ban));
    assert_int_equal(ban.until, T0 + 2 + 300);
    assert_int_equal(ban.offenses, 1);
    assert_string_equal(ban.reason, "auth failures");
    assert_null(bans_active(b, "192.0.2.7", T0 + 2));
    assert_int_equal(bans_set(b, "192.0.2.7", ban.until, ban.offenses, ban.reason), 0);
    assert_non_null(bans_active(b, "192.0.2.7", T0 + 3));
    assert_null(bans_active(b, "192.0.2.8", T0 + 3));
    assert_null(bans_active(b, "192.0.2.7", T0 + 302));
    /* again after the ban: twice as long, then four times, then the cap */
    time_t t = T0 + 400;
    unsigned long want[] = {600, 1000, 1000};
    for (int round = 0; round < 3; round++, t += 2000) {
        bans_failure(b, &h, "192.0.2.7", "auth failures", t, &ban);
        bans_failure(b, &h, "192.0.2.7", "auth failures", t, &ban);
        assert_true(bans_failure(b, &h, "192.0.2.7", "auth failures", t, &ban));
        assert_int_equal(ban.until - t, want[round]);
        assert_int_equal(ban.offenses, round + 2);
        bans_set(b, "192.0.2.7", ban.until, ban.offenses, ban.reason);
    }
    /* failures spread wider than the window never add up */
    for (int i = 0; i < 10; i++)
        assert_false(bans_failure(b, &h, "192.0.2.9", "auth failures", T0 + i * 61, &ban));
    bans_free(b);
    ipset_free(exempt);
}

/* test_bans_exempt_and_off - exempt IPs and failures = 0 never ban. */
static void test_bans_exempt_and_off(void **state)
{
    char err[128];
    struct ipset *exempt = ipset_new();
    assert_int_equal(ipset_add(exempt, "10.0.0.0/8", NULL, err, sizeof err), 0);
    struct config_hammering h = rules(exempt);
    struct bans *b = bans_new();
    struct ban ban;
    for (int i = 0; i < 10; i++)
        assert_false(bans_failure(b, &h, "10.1.2.3", "auth failures", T0, &ban));
    h.failures = 0;
    for (int i = 0; i < 10; i++)
        assert_false(bans_failure(b, &h, "192.0.2.1", "auth failures", T0, &ban));
    bans_free(b);
    ipset_free(exempt);
}

static unsigned expired_calls;
static void count_expired(const char *ip, void *arg)
{
    expired_calls++;
}

/* test_bans_networks_and_expiry - a CIDR ban covers its addresses; each
 * ended ban is reported once; a bad entry is refused. */
static void test_bans_networks_and_expiry(void **state)
{
    struct bans *b = bans_new();
    assert_int_equal(bans_set(b, "203.0.113.0/24", T0 + 100, 1, "admin"), 0);
    assert_int_equal(bans_set(b, "2001:db8::/32", T0 + 100, 1, "admin"), 0);
    assert_int_equal(bans_set(b, "198.51.100.1", T0 + 50, 1, "auth failures"), 0);
    assert_int_equal(bans_set(b, "not-an-ip/99", T0 + 50, 1, "x"), -1);
    assert_non_null(bans_active(b, "203.0.113.77", T0));
    assert_non_null(bans_active(b, "2001:db8::25", T0));
    assert_null(bans_active(b, "203.0.114.1", T0));
    assert_int_equal(bans_count_active(b, T0), 3);
    expired_calls = 0;
    assert_int_equal(bans_expire(b, T0 + 60, count_expired, NULL), 1);
    assert_int_equal(bans_expire(b, T0 + 61, count_expired, NULL), 0); /* reported once */
    assert_int_equal(bans_expire(b, T0 + 200, count_expired, NULL), 2);
    assert_int_equal(expired_calls, 3);
    assert_int_equal(bans_count_active(b, T0 + 200), 0);
    bans_clear(b);
    assert_null(bans_active(b, "203.0.113.77", T0));
    bans_free(b);
}

/* test_sender_rule - the sender policy's table of cases. */
static void test_sender_rule(void **state)
{
    struct config_sender_policy p = {.mode = SENDER_POLICY_REJECT, .anti_spoofing = true};
    struct sender_facts f = {.authenticated = true, .owned = true};
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_OK);
    f.owned = false;
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_NOT_OWNED);
    f.log_only = true;
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_NOT_OWNED_LOG);
    f.log_only = false;
    p.mode = SENDER_POLICY_LOG;
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_NOT_OWNED_LOG);
    f = (struct sender_facts){.null_sender = true, .authenticated = true};
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_OK);
    /* unauthenticated: only a local domain from outside the trusted groups */
    f = (struct sender_facts){.domain_local = true};
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_SPOOFED);
    f.client_trusted = true;
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_OK);
    f = (struct sender_facts){.domain_local = false};
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_OK);
    p.anti_spoofing = false;
    f = (struct sender_facts){.domain_local = true};
    assert_int_equal(policy_sender_decide(&p, &f), SENDER_OK);
    char *domains[] = {"legacy.test"};
    p.log_domains = domains;
    p.n_log_domains = 1;
    assert_true(policy_sender_log_only(&p, "legacy.test"));
    assert_false(policy_sender_log_only(&p, "example.test"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_counters_window),
        cmocka_unit_test(test_counters_bounded),
        cmocka_unit_test(test_bans_failures),
        cmocka_unit_test(test_bans_exempt_and_off),
        cmocka_unit_test(test_bans_networks_and_expiry),
        cmocka_unit_test(test_sender_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
