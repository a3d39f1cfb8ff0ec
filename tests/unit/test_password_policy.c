/* tests/unit/test_password_policy - the password policy (libpwquality),
 * app password shapes, TOTP codes (RFC 6238 test vectors) and the lockout
 * counter: the pure parts of the login rules, without a store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "accounts/app_passwords.h"
#include "accounts/lockout.h"
#include "accounts/login_state.h"
#include "accounts/password_policy.h"
#include "accounts/totp.h"

static const struct config_passwords defaults = {
    .min_length = 12, .min_classes = 3, .dictionary_check = true, .warn_before = 14 * 86400};

/* refused - the message for PW of ADDRESS, or NULL when accepted. */
static const char *refused(const struct config_passwords *p, const char *address, const char *pw)
{
    static char msg[1024];
    int rc = password_policy_check(p, address, pw, msg, sizeof msg);
    assert_true(rc == 0 || rc == -1);
    return rc == 0 ? NULL : msg;
}

static void test_good_password(void **state)
{
    assert_null(refused(&defaults, "alice@example.test", "Tulip-Harbor-47"));
    assert_null(refused(&defaults, "bob@example.org", "Kq7#vR2!mZp9xw"));
}

static void test_length_and_classes(void **state)
{
    const char *m = refused(&defaults, "alice@example.test", "Xq7-bnz");
    assert_non_null(m);
    assert_non_null(strstr(m, "password refused: it has 7 characters"));
    assert_non_null(strstr(m, "Required: at least 12 characters"));
    m = refused(&defaults, "alice@example.test", "zebratideharbor");
    assert_non_null(strstr(m, "it uses 1 character class (lowercase)"));
    /* characters, not octets: 12 two-octet letters are 12 characters */
    struct config_passwords p = defaults;
    p.min_classes = 1;
    p.dictionary_check = false;
    assert_null(refused(&p, "a@example.test",
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
    m = refused(&p, "a@example.test", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_non_null(strstr(m, "it has 6 characters"));
}

static void test_names(void **state)
{
    const char *m = refused(&defaults, "alice@example.test", "alice-Secret-2026");
    assert_non_null(m);
    assert_non_null(strstr(m, "password refused: it contains the user name 'alice'"));
    m = refused(&defaults, "alice@example.test", "Kq7-ECILA-tide");
    assert_non_null(strstr(m, "it contains the user name 'alice'"));
    m = refused(&defaults, "alice@example.test", "Kq7-Example-tide");
    assert_non_null(strstr(m, "it contains 'example' from the domain name example.test"));
    m = refused(&defaults, "john.smith@mail.school.org", "Kq7-School-tide");
    assert_non_null(strstr(m, "'school' from the domain name"));
    m = refused(&defaults, "john.smith@mail.school.org", "Kq7-Smith-tide");
    assert_non_null(strstr(m, "the user name 'smith'"));
    /* the top-level domain and parts shorter than 3 are no secret */
    assert_null(refused(&defaults, "al@example.org", "Kq7-Organ-al-tide"));
}

static void test_dictionary(void **state)
{
    const char *m = refused(&defaults, "alice@example.test", "Dictionary1!");
    assert_non_null(m);
    assert_non_null(strstr(m, "dictionary check"));
    struct config_passwords p = defaults;
    p.dictionary_check = false;
    assert_null(refused(&p, "alice@example.test", "Dictionary1!"));
}

static void test_app_password_shape(void **state)
{
    char pw[APP_PASSWORD_LEN + 1], canon[APP_PASSWORD_SYMBOLS + 1], other[APP_PASSWORD_LEN + 1];
    assert_int_equal(app_password_generate(pw), 0);
    assert_int_equal(app_password_generate(other), 0);
    assert_string_not_equal(pw, other);
    assert_int_equal(strlen(pw), 19);
    assert_true(pw[4] == '-' && pw[9] == '-' && pw[14] == '-');
    assert_true(app_password_canonical(pw, canon));
    assert_int_equal(strlen(canon), 16);
    assert_true(app_password_canonical("ABCD EFGH-ijkl mnop", canon));
    assert_string_equal(canon, "abcdefghijklmnop");
    assert_false(app_password_canonical("Tulip-Harbor-47", canon));
    assert_false(app_password_canonical("abcd-efgh-ijkl-mnop-q", canon));
}

static void test_totp_rfc6238(void **state)
{
    /* RFC 6238 appendix B, SHA1, the last 6 of the 8 digits */
    const unsigned char secret[] = "12345678901234567890";
    assert_true(totp_check(secret, 20, "287082", 59));
    assert_true(totp_check(secret, 20, "081804", 1111111109));
    assert_true(totp_check(secret, 20, "081804", 1111111109 + 30)); /* one step late */
    assert_false(totp_check(secret, 20, "081804", 1111111109 + 90));
    assert_false(totp_check(secret, 20, "94287082", 59)); /* 8 digits: not ours */
    assert_false(totp_check(secret, 20, "28708", 59));
    char uri[TOTP_URI_MAX];
    assert_int_equal(totp_uri("alice@example.test", "GEZDGNBV", uri, sizeof uri), 0);
    assert_non_null(strstr(uri, "otpauth://totp/Floodgate:alice@example.test?secret=GEZDGNBV"
                                "&issuer=Floodgate"));
}

/* guess - one failure of ADDRESS from NET at NOW under L. */
static struct lockout_verdict guess(const struct config_lockout *l, const char *address,
                                    const char *net, time_t now)
{
    struct lockout_verdict v;
    lockout_failure(l, address, net, now, &v);
    return v;
}

static void test_lockout_counts(void **state)
{
    struct config_lockout l = {.failures = 3, .window = 60, .duration = 900};
    lockout_forget_all();
    assert_false(guess(&l, "a@x.test", "192.0.2.0/24", 1000).lock_network);
    assert_false(guess(&l, "b@x.test", "192.0.2.0/24", 1000).lock_network);
    struct lockout_verdict v = guess(&l, "a@x.test", "192.0.2.0/24", 1001);
    assert_false(v.lock_network);
    assert_int_equal(v.count, 2);
    v = guess(&l, "a@x.test", "192.0.2.0/24", 1002);
    assert_true(v.lock_network);
    assert_false(v.lock_account); /* account_failures 0: no valve */
    assert_int_equal(v.count, 3);
    v = guess(&l, "a@x.test", "192.0.2.0/24", 1003); /* counts from zero again */
    assert_false(v.lock_network);
    assert_int_equal(v.count, 1);
    /* outside the window the count starts over */
    v = guess(&l, "b@x.test", "192.0.2.0/24", 1100);
    assert_int_equal(v.count, 1);
    lockout_success("b@x.test", "192.0.2.0/24");
    assert_int_equal(guess(&l, "b@x.test", "192.0.2.0/24", 1101).count, 1);
    struct config_lockout off = {.failures = 0, .window = 60, .duration = 900};
    for (int i = 0; i < 10; i++)
        assert_false(guess(&off, "c@x.test", "192.0.2.0/24", 1000).lock_network);
}

/* The rule of issue 14 item 6: failures count per account and network. */
static void test_lockout_per_network(void **state)
{
    struct config_lockout l = {.failures = 3,
                               .window = 600,
                               .duration = 900,
                               .account_failures = 10,
                               .account_window = 3600};
    lockout_forget_all();
    /* the guessers' network locks after 3 */
    for (int i = 0; i < 2; i++)
        assert_false(guess(&l, "alice@x.test", "198.51.100.0/24", 1000 + i).lock_network);
    assert_true(guess(&l, "alice@x.test", "198.51.100.0/24", 1002).lock_network);
    /* alice's own network has its own count: two typos there lock nothing */
    for (int i = 0; i < 2; i++)
        assert_false(guess(&l, "alice@x.test", "192.0.2.0/24", 1003 + i).lock_network);
    /* a success there forgets her typos, not the guessers' count */
    lockout_success("alice@x.test", "192.0.2.0/24");
    struct lockout_verdict v = guess(&l, "alice@x.test", "192.0.2.0/24", 1005);
    assert_int_equal(v.count, 1);
    assert_int_equal(v.account_count, 6);
    /* bob is another account: alice's failures are not his */
    assert_int_equal(guess(&l, "bob@x.test", "198.51.100.0/24", 1006).count, 1);
    /* the valve: failures from many networks add up for the account */
    char net[32];
    for (int i = 0; i < 3; i++) {
        snprintf(net, sizeof net, "203.0.113.%d/32", i);
        v = guess(&l, "alice@x.test", net, 1010 + i);
        assert_int_equal(v.count, 1);
        assert_false(v.lock_account);
    }
    v = guess(&l, "alice@x.test", "203.0.113.9/32", 1020);
    assert_true(v.lock_account);
    assert_int_equal(v.account_count, 10);
    assert_false(v.lock_network);
    /* after the valve the account-wide count starts over */
    assert_int_equal(guess(&l, "alice@x.test", "203.0.113.9/32", 1021).account_count, 1);
}

static void test_lockout_network(void **state)
{
    struct config_lockout l = {.ipv4_prefix = 24, .ipv6_prefix = 64};
    char net[LOCKOUT_NETWORK_MAX];
    assert_true(lockout_network(&l, "127.0.9.77", net, sizeof net));
    assert_string_equal(net, "127.0.9.0/24");
    assert_true(lockout_network(&l, "::ffff:192.0.2.200", net, sizeof net));
    assert_string_equal(net, "192.0.2.0/24");
    assert_true(lockout_network(&l, "2001:db8:1:2:3:4:5:6", net, sizeof net));
    assert_string_equal(net, "2001:db8:1:2::/64");
    assert_true(lockout_network(&l, "::1", net, sizeof net));
    assert_string_equal(net, "::/64");
    l.ipv4_prefix = 20;
    l.ipv6_prefix = 56;
    assert_true(lockout_network(&l, "10.1.31.5", net, sizeof net));
    assert_string_equal(net, "10.1.16.0/20");
    assert_true(lockout_network(&l, "2001:db8:1:2ff::1", net, sizeof net));
    assert_string_equal(net, "2001:db8:1:200::/56");
    l.ipv4_prefix = 32;
    assert_true(lockout_network(&l, "10.1.31.5", net, sizeof net));
    assert_string_equal(net, "10.1.31.5/32");
    assert_false(lockout_network(&l, "not-an-ip", net, sizeof net));
    assert_string_equal(net, "not-an-ip");
}

/* What a read login state means: the network's own lock always holds;
 * the account-wide lock spares a network known within KNOWN_AGE. */
static void test_login_main_locked(void **state)
{
    struct login_state s = {0};
    time_t now = 100000;
    assert_false(login_main_locked(&s, now, 3600));
    s.network_locked_until = now + 10;
    assert_true(login_main_locked(&s, now, 3600));
    s.network_last_ok = now - 5; /* her own network that failed itself: locked */
    assert_true(login_main_locked(&s, now, 3600));
    s.network_locked_until = now - 1; /* that lock ran out */
    assert_false(login_main_locked(&s, now, 3600));
    s.locked_until = now + 900; /* the valve: her known network stays open */
    assert_false(login_main_locked(&s, now, 3600));
    s.network_last_ok = now - 7200; /* known, but too long ago */
    assert_true(login_main_locked(&s, now, 3600));
    s.network_last_ok = 0; /* never seen */
    assert_true(login_main_locked(&s, now, 3600));
    s.network_last_ok = now - 5; /* known_network_age 0: the valve spares none */
    assert_true(login_main_locked(&s, now, 0));
    /* the valve's rule, which the engine's pending locks follow too */
    assert_true(login_network_known(&s, now, 3600));
    assert_false(login_network_known(&s, now, 0));
    s.network_last_ok = now - 3601;
    assert_false(login_network_known(&s, now, 3600));
    s.network_last_ok = 0;
    assert_false(login_network_known(&s, now, 3600));
}

static void test_password_age(void **state)
{
    struct config_passwords p = defaults;
    long long exp;
    assert_int_equal(password_age_of(&p, false, 1000, 5000000, &exp), PASSWORD_FRESH);
    assert_int_equal(exp, 0);
    assert_int_equal(password_age_of(&p, true, 1000, 1001, &exp), PASSWORD_EXPIRED);
    p.max_age = 100 * 86400;
    assert_int_equal(password_age_of(&p, false, 0, 10 * 86400, &exp), PASSWORD_FRESH);
    assert_int_equal(exp, 100 * 86400);
    assert_int_equal(password_age_of(&p, false, 0, 90 * 86400, &exp), PASSWORD_EXPIRING);
    assert_int_equal(password_age_of(&p, false, 0, 100 * 86400, &exp), PASSWORD_EXPIRED);
}

/* test_lockout_pending - a lock decided but maybe not yet in the store
 * binds every AUTH that read the store before the write was stored, and
 * no AUTH that read it after (the store then says it, or the admin's
 * unlock does). */
static void test_lockout_pending(void **state)
{
    (void)state;
    lockout_forget_all();
    unsigned long before = lockout_generation();
    lockout_pending_add("alice@x.test", "192.0.2.0/24", 2000);
    /* the write is on its way: every read so far missed it */
    assert_true(lockout_pending_locked("ALICE@x.test", "192.0.2.0/24", before, 1000, false));
    assert_false(lockout_pending_locked("alice@x.test", "198.51.100.0/24", before, 1000, false));
    assert_false(lockout_pending_locked("bob@x.test", "192.0.2.0/24", before, 1000, false));
    lockout_stored("alice@x.test", "192.0.2.0/24");
    /* a read that started before the store had it still missed it */
    assert_true(lockout_pending_locked("alice@x.test", "192.0.2.0/24", before, 1001, false));
    /* a read that started after sees the store's lock (or its lifting) */
    assert_false(
        lockout_pending_locked("alice@x.test", "192.0.2.0/24", lockout_generation(), 1001, false));
    /* over when the lock ends */
    assert_false(lockout_pending_locked("alice@x.test", "192.0.2.0/24", before, 2000, false));
    /* the account-wide lock spares a known network */
    before = lockout_generation();
    lockout_pending_add("carol@x.test", "", 3000);
    assert_true(lockout_pending_locked("carol@x.test", "203.0.113.0/24", before, 1000, false));
    assert_false(lockout_pending_locked("carol@x.test", "203.0.113.0/24", before, 1000, true));
    lockout_forget_all();
    assert_false(lockout_pending_locked("carol@x.test", "203.0.113.0/24", before, 1000, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_password),
        cmocka_unit_test(test_length_and_classes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_app_password_shape),
        cmocka_unit_test(test_totp_rfc6238),
        cmocka_unit_test(test_lockout_counts),
        cmocka_unit_test(test_lockout_per_network),
        cmocka_unit_test(test_lockout_network),
        cmocka_unit_test(test_lockout_pending),
        cmocka_unit_test(test_login_main_locked),
        cmocka_unit_test(test_password_age),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
