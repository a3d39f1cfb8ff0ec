/* tests/unit/test_relay - policy/relay, the decision whether a recipient is
 * taken (RFC 5321 3.6.2: no open relay): every combination of the facts
 * against the rules, then facts read from a real store in a temporary
 * directory (local domains, users, aliases) as the SMTP server gathers
 * them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "accounts/accounts.h"
#include "policy/relay.h"
#include "tmp_store.h"

/* facts_from_bits - the five facts as bits of I (all 32 combinations). */
static struct relay_facts facts_from_bits(unsigned i)
{
    return (struct relay_facts){.domain_local = i & 1,
                                .recipient_known = i & 2,
                                .authenticated = i & 4,
                                .client_trusted = i & 8,
                                .address_literal = i & 16};
}

/* test_every_combination - the rules, each checked over all 32 cases. */
static void test_every_combination(void **state)
{
    for (unsigned i = 0; i < 32; i++) {
        struct relay_facts f = facts_from_bits(i);
        enum relay_verdict v = policy_relay_decide(&f);
        if (f.address_literal) {
            /* user@[192.0.2.1] bypasses MX routing and domain policy:
             * refused whoever asks, even an authenticated user */
            assert_int_equal(v, RELAY_LITERAL_DENIED);
        } else if (f.domain_local) {
            /* our domain: known recipients only, never relayed onwards,
             * however trusted the client */
            assert_int_equal(v, f.recipient_known ? RELAY_ACCEPT_LOCAL : RELAY_UNKNOWN_USER);
        } else if (f.authenticated || f.client_trusted) {
            assert_int_equal(v, RELAY_ACCEPT_REMOTE);
        } else {
            /* a stranger asking for another domain: relay denied */
            assert_int_equal(v, RELAY_DENIED);
        }
    }
}

/* test_never_open_relay - no combination without AUTH or a trusted IP
 * queues mail for a remote domain. */
static void test_never_open_relay(void **state)
{
    for (unsigned i = 0; i < 32; i++) {
        struct relay_facts f = facts_from_bits(i);
        if (!f.authenticated && !f.client_trusted)
            assert_int_not_equal(policy_relay_decide(&f), RELAY_ACCEPT_REMOTE);
    }
}

struct fixture {
    char dir[64];
    char path[128];
    sqlite3 *db;
};

/* setup - a fresh store with example.test, a user, an alias to her and
 * an alias to a remote address. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];
    if (f == NULL)
        return -1;
    f->db = tmp_store_open("test_relay", f->dir, sizeof f->dir, f->path, sizeof f->path);
    if (f->db == NULL)
        return -1;
    /* the hash is never checked here: any non-empty string will do */
    if (accounts_domain_add(f->db, "example.test", err, sizeof err) < 0 ||
        accounts_user_add(f->db, "anna@example.test", "$argon2id$not-checked", err, sizeof err) <
            0 ||
        accounts_alias_add(f->db, "sales@example.test", "anna@example.test", err, sizeof err) < 0 ||
        accounts_alias_add(f->db, "fwd@example.test", "someone@remote.test", err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

/* teardown - close the store and remove its directory. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->db);
    int rc = tmp_store_remove(f->dir);
    free(f);
    return rc;
}

/* decide - the verdict for LOCAL@DOMAIN with facts looked up in DB, as the
 * SMTP server gathers them at RCPT TO. */
static enum relay_verdict decide(sqlite3 *db, const char *address, bool auth, bool trusted)
{
    struct accounts_expansion x = {.max = 8};
    const char *at = strrchr(address, '@');
    struct relay_facts f = {.authenticated = auth, .client_trusted = trusted};
    assert_non_null(at);
    f.domain_local = accounts_domain_is_local(db, at + 1);
    if (f.domain_local) {
        enum accounts_rcpt_kind k = accounts_resolve(db, address, &x);
        assert_int_not_equal(k, ACCOUNTS_RCPT_ERROR);
        f.recipient_known = k != ACCOUNTS_RCPT_UNKNOWN && x.n > 0;
        accounts_expansion_free(&x);
    }
    return policy_relay_decide(&f);
}

/* test_store_facts - recipients of a real store: users and aliases of a
 * local domain are taken from anyone; unknown ones refused even from a
 * trusted client; a remote domain only for AUTH or a trusted IP. */
static void test_store_facts(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db = f->db;
    assert_int_equal(decide(db, "anna@example.test", false, false), RELAY_ACCEPT_LOCAL);
    assert_int_equal(decide(db, "sales@example.test", false, false), RELAY_ACCEPT_LOCAL);
    /* an alias pointing outside is still our recipient: the alias is ours */
    assert_int_equal(decide(db, "fwd@example.test", false, false), RELAY_ACCEPT_LOCAL);
    assert_int_equal(decide(db, "nobody@example.test", false, false), RELAY_UNKNOWN_USER);
    assert_int_equal(decide(db, "nobody@example.test", true, true), RELAY_UNKNOWN_USER);
    /* domains are compared lowercased (RFC 5321 2.4) */
    assert_int_equal(decide(db, "anna@EXAMPLE.Test", false, false), RELAY_ACCEPT_LOCAL);
    assert_int_equal(decide(db, "bob@remote.test", false, false), RELAY_DENIED);
    assert_int_equal(decide(db, "bob@remote.test", true, false), RELAY_ACCEPT_REMOTE);
    assert_int_equal(decide(db, "bob@remote.test", false, true), RELAY_ACCEPT_REMOTE);
    /* a subdomain of a local domain is not local */
    assert_int_equal(decide(db, "anna@sub.example.test", false, false), RELAY_DENIED);
}

/* test_domain_removed - once the domain is deleted, its former users are
 * remote addresses like any other. */
static void test_domain_removed(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(accounts_domain_del(f->db, "example.test", true, err, sizeof err), 0);
    assert_int_equal(decide(f->db, "anna@example.test", false, false), RELAY_DENIED);
    assert_int_equal(decide(f->db, "anna@example.test", true, false), RELAY_ACCEPT_REMOTE);
}

/* main - the pure rules first, then the store-fed cases. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_combination),
        cmocka_unit_test(test_never_open_relay),
        cmocka_unit_test_setup_teardown(test_store_facts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_removed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
