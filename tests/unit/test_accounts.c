/* tests/unit/test_accounts - domains, users, aliases, alias resolution and
 * password hashes against a real store in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "accounts/accounts.h"
#include "accounts/password.h"
#include "store/store.h"

/* One hash for every test: argon2id is slow on purpose. */
static char hash_secret[PASSWORD_HASH_MAX];

struct fixture {
    char dir[64];
    sqlite3 *db;
};

/* group_setup - hash the test password once. */
static int group_setup(void **state)
{
    return password_hash("correct horse", hash_secret);
}

/* setup - a fresh store in a fresh temporary directory. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char path[128], err[256];
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_accounts.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->db = store_open(store_path(f->dir, path, sizeof path), err, sizeof err);
    if (f->db == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

/* teardown - close the store and remove its files. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm"};
    char path[160];
    store_close(f->db);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* add_user - add ADDRESS with the shared hash, asserting success. */
static void add_user(sqlite3 *db, const char *address)
{
    char err[256] = "";
    assert_int_equal(accounts_user_add(db, address, hash_secret, err, sizeof err), 0);
}

/* add_alias - add ADDRESS -> TARGET, asserting success. */
static void add_alias(sqlite3 *db, const char *address, const char *target)
{
    char err[256] = "";
    int rc = accounts_alias_add(db, address, target, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "alias_add: %s\n", err);
    assert_int_equal(rc, 0);
}

/* test_domains - add, duplicate, case, list, invalid names, delete. */
static void test_domains(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(accounts_domain_add(f->db, "Example.ORG", err, sizeof err), 0);
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), -1);
    assert_non_null(strstr(err, "domain example.org already exists"));
    assert_true(accounts_domain_is_local(f->db, "EXAMPLE.org"));
    assert_false(accounts_domain_is_local(f->db, "example.net"));
    assert_int_equal(accounts_domain_add(f->db, "bad..name", err, sizeof err), -1);
    assert_int_equal(accounts_domain_add(f->db, "", err, sizeof err), -1);
    assert_int_equal(accounts_domain_add(f->db, "sp ace.org", err, sizeof err), -1);

    json_t *list = accounts_domain_list(f->db);
    assert_int_equal(json_array_size(list), 1);
    json_t *d = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(d, "name")), "example.org");
    assert_int_equal(json_integer_value(json_object_get(d, "users")), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "aliases")), 0);
    assert_true(json_integer_value(json_object_get(d, "created")) > 0);
    json_decref(list);

    assert_int_equal(accounts_domain_del(f->db, "example.net", false, err, sizeof err), -1);
    assert_string_equal(err, "no such domain example.net: see 'floodctl domain list'");
    assert_int_equal(accounts_domain_del(f->db, "EXAMPLE.ORG", false, err, sizeof err), 0);
    assert_false(accounts_domain_is_local(f->db, "example.org"));
}

/* test_domain_del_force - a domain in use is kept unless forced, and a
 * forced delete takes its users and aliases along. */
/* The engine's copy of the local domains answers as the store does. */
static void test_domain_set(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(accounts_domain_add(f->db, "Example.ORG", err, sizeof err), 0);
    assert_int_equal(accounts_domain_add(f->db, "mail.example.net", err, sizeof err), 0);
    json_t *names = accounts_domain_names(f->db);
    assert_int_equal(json_array_size(names), 2);
    /* a row written by other means than floodctl, and not a domain */
    json_array_append_new(names, json_string("bad..name"));
    struct accounts_domain_set *set = accounts_domain_set_new(names);
    json_decref(names);
    assert_non_null(set);
    assert_int_equal(accounts_domain_set_count(set), 2);
    const char *asked[] = {"example.org", "EXAMPLE.org", "mail.example.net", "example.net",
                           "org", "bad..name", "", "exam ple.org", "example.org."};
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++)
        assert_int_equal(accounts_domain_set_has(set, asked[i]),
                         accounts_domain_local(f->db, asked[i]));
    assert_int_equal(accounts_domain_set_has(set, "Example.Org"), 1);
    assert_int_equal(accounts_domain_set_has(set, "example.net"), 0);
    accounts_domain_set_free(set);
    /* an empty table: an empty set, not "unknown" */
    assert_int_equal(accounts_domain_del(f->db, "example.org", false, err, sizeof err), 0);
    assert_int_equal(accounts_domain_del(f->db, "mail.example.net", false, err, sizeof err), 0);
    names = accounts_domain_names(f->db);
    assert_non_null(names);
    set = accounts_domain_set_new(names);
    json_decref(names);
    assert_int_equal(accounts_domain_set_count(set), 0);
    assert_int_equal(accounts_domain_set_has(set, "example.org"), 0);
    accounts_domain_set_free(set);
}

static void test_domain_del_force(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), 0);
    assert_int_equal(accounts_domain_add(f->db, "example.com", err, sizeof err), 0);
    add_user(f->db, "bob@example.org");
    add_user(f->db, "carol@example.com");
    add_alias(f->db, "info@example.org", "bob@example.org");
    add_alias(f->db, "info@example.org", "carol@example.com");

    json_t *list = accounts_domain_list(f->db);
    json_t *d = json_array_get(list, 1); /* ordered by name: .com, .org */
    assert_string_equal(json_string_value(json_object_get(d, "name")), "example.org");
    assert_int_equal(json_integer_value(json_object_get(d, "users")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "aliases")), 1);
    json_decref(list);

    assert_int_equal(accounts_domain_del(f->db, "example.org", false, err, sizeof err), -1);
    assert_non_null(strstr(err, "1 user(s) and 1 alias(es)"));
    assert_non_null(strstr(err, "'floodctl domain del example.org --force'"));
    assert_int_equal(accounts_domain_del(f->db, "example.org", true, err, sizeof err), 0);

    list = accounts_user_list(f->db, NULL);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    list = accounts_alias_list(f->db, NULL);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

/* test_users - add in a missing domain, add, duplicate, list, change
 * password, delete. */
static void test_users(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(accounts_user_add(f->db, "bob@example.org", hash_secret, err, sizeof err), -1);
    assert_string_equal(err, "no such domain example.org: add it first with "
                             "'floodctl domain add example.org'");
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), 0);
    add_user(f->db, "Bob@Example.ORG");
    assert_int_equal(accounts_user_add(f->db, "bob@example.org", hash_secret, err, sizeof err), -1);
    assert_non_null(strstr(err, "user bob@example.org already exists"));
    add_user(f->db, "alice@example.org");

    json_t *list = accounts_user_list(f->db, "EXAMPLE.org");
    assert_int_equal(json_array_size(list), 2);
    json_t *u = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(u, "address")), "bob@example.org");
    assert_true(json_is_false(json_object_get(u, "suspended")));
    json_decref(list);
    list = accounts_user_list(f->db, "example.net");
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);

    assert_int_equal(
        accounts_user_set_password(f->db, "BOB@example.org", "$argon2id$x", err, sizeof err), 0);
    assert_int_equal(
        accounts_user_set_password(f->db, "nobody@example.org", hash_secret, err, sizeof err), -1);
    assert_string_equal(err, "no such user nobody@example.org: see 'floodctl user list'");

    assert_int_equal(accounts_user_del(f->db, "bob@EXAMPLE.org", err, sizeof err), 0);
    assert_int_equal(accounts_user_del(f->db, "bob@example.org", err, sizeof err), -1);
    assert_string_equal(err, "no such user bob@example.org: see 'floodctl user list'");
}

/* test_bad_addresses - the shape checks on addresses. */
static void test_bad_addresses(void **state)
{
    struct fixture *f = *state;
    char err[256], longaddr[300];
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), 0);
    static const char *const bad[] = {"noat", "a@b@example.org",  "@example.org",
                                      "bob@", "b ob@example.org", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(accounts_user_add(f->db, bad[i], hash_secret, err, sizeof err), -1);
        assert_non_null(strstr(err, "invalid"));
    }
    memset(longaddr, 'a', 250);
    memcpy(longaddr + 250, "@example.org", 13);
    assert_int_equal(accounts_user_add(f->db, longaddr, hash_secret, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most 254"));
}

/* test_credentials - found, suspended, missing. */
static void test_credentials(void **state)
{
    struct fixture *f = *state;
    char err[256], hash[PASSWORD_HASH_MAX];
    bool suspended = true;
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), 0);
    add_user(f->db, "bob@example.org");
    assert_int_equal(
        accounts_user_credentials(f->db, "Bob@Example.org", hash, sizeof hash, &suspended), 1);
    assert_string_equal(hash, hash_secret);
    assert_false(suspended);
    assert_true(password_verify(hash, "correct horse"));

    assert_int_equal(store_exec(f->db, "UPDATE users SET suspended = 1", err, sizeof err), 0);
    assert_int_equal(
        accounts_user_credentials(f->db, "bob@example.org", hash, sizeof hash, &suspended), 1);
    assert_true(suspended);
    json_t *list = accounts_user_list(f->db, NULL);
    assert_true(json_is_true(json_object_get(json_array_get(list, 0), "suspended")));
    json_decref(list);

    assert_int_equal(
        accounts_user_credentials(f->db, "eve@example.org", hash, sizeof hash, &suspended), 0);
    assert_int_equal(
        accounts_user_credentials(f->db, "not an address", hash, sizeof hash, &suspended), 0);
}

/* test_aliases - the refusals of alias add, listing, deleting. */
static void test_aliases(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), 0);
    add_user(f->db, "bob@example.org");

    assert_int_equal(accounts_alias_add(f->db, "bob@example.org", "x@example.net", err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "is a user"));
    assert_int_equal(
        accounts_alias_add(f->db, "info@example.net", "bob@example.org", err, sizeof err), -1);
    assert_non_null(strstr(err, "floodctl domain add example.net"));
    assert_int_equal(
        accounts_alias_add(f->db, "info@example.org", "INFO@example.org", err, sizeof err), -1);
    assert_non_null(strstr(err, "itself"));

    add_alias(f->db, "Info@Example.org", "Bob@Example.org");
    add_alias(f->db, "info@example.org", "ext@example.net");
    assert_int_equal(
        accounts_alias_add(f->db, "info@example.org", "bob@example.org", err, sizeof err), -1);
    assert_non_null(strstr(err, "already exists"));
    /* An address that is an alias cannot become a user. */
    assert_int_equal(accounts_user_add(f->db, "info@example.org", hash_secret, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "floodctl alias del info@example.org"));

    json_t *list = accounts_alias_list(f->db, "example.org");
    assert_int_equal(json_array_size(list), 2);
    json_t *a = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(a, "address")), "info@example.org");
    assert_string_equal(json_string_value(json_object_get(a, "target")), "bob@example.org");
    json_decref(list);

    assert_int_equal(
        accounts_alias_del(f->db, "info@example.org", "ext@example.net", err, sizeof err), 0);
    assert_int_equal(
        accounts_alias_del(f->db, "info@example.org", "ext@example.net", err, sizeof err), -1);
    assert_non_null(strstr(err, "has no target ext@example.net"));
    assert_int_equal(accounts_alias_del(f->db, "info@example.org", NULL, err, sizeof err), 0);
    assert_int_equal(accounts_alias_del(f->db, "info@example.org", NULL, err, sizeof err), -1);
    assert_string_equal(err, "no such alias info@example.org: see 'floodctl alias list'");
}

/* resolve_setup - example.org with users bob and carol, and aliases:
 * team -> bob, carol, sales;  sales -> bob, ext@example.net;
 * loop1 <-> loop2;  ghost -> nobody (a local non-user). */
static void resolve_setup(sqlite3 *db)
{
    char err[256];
    assert_int_equal(accounts_domain_add(db, "example.org", err, sizeof err), 0);
    add_user(db, "bob@example.org");
    add_user(db, "carol@example.org");
    add_alias(db, "team@example.org", "bob@example.org");
    add_alias(db, "team@example.org", "carol@example.org");
    add_alias(db, "team@example.org", "sales@example.org");
    add_alias(db, "sales@example.org", "bob@example.org");
    add_alias(db, "sales@example.org", "ext@example.net");
    add_alias(db, "loop1@example.org", "loop2@example.org");
    /* floodctl refuses to close a loop (test_alias_loops): a store from
     * before that check may hold one all the same */
    assert_int_equal(store_exec(db,
                                "INSERT INTO aliases(address, target, created)"
                                " VALUES('loop2@example.org', 'loop1@example.org', 0)",
                                err, sizeof err),
                     0);
    add_alias(db, "ghost@example.org", "nobody@example.org");
    add_alias(db, "ghost@example.org", "carol@example.org");
}

/* has_target - whether X holds ADDRESS with LOCAL. */
static bool has_target(const struct accounts_expansion *x, const char *address, bool local)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->t[i].address, address) == 0)
            return x->t[i].local == local;
    return false;
}

/* test_resolve - users, aliases to local and remote, chains, dedup,
 * loops, dangling targets, unknown addresses, a result too small. */
static void test_resolve(void **state)
{
    struct fixture *f = *state;
    struct accounts_expansion x = {.max = 10};
    resolve_setup(f->db);

    assert_int_equal(accounts_resolve(f->db, "BOB@example.org", &x), ACCOUNTS_RCPT_USER);
    assert_int_equal(x.n, 1);
    assert_true(has_target(&x, "bob@example.org", true));

    assert_int_equal(accounts_resolve(f->db, "sales@example.org", &x), ACCOUNTS_RCPT_ALIAS);
    assert_int_equal(x.n, 2);
    assert_true(has_target(&x, "bob@example.org", true));
    assert_true(has_target(&x, "ext@example.net", false));

    /* team -> bob, carol, sales(-> bob, ext): bob only once. */
    assert_int_equal(accounts_resolve(f->db, "team@example.org", &x), ACCOUNTS_RCPT_ALIAS);
    assert_int_equal(x.n, 3);
    assert_true(has_target(&x, "bob@example.org", true));
    assert_true(has_target(&x, "carol@example.org", true));
    assert_true(has_target(&x, "ext@example.net", false));

    /* A cycle (loop1 -> loop2 -> loop1) is a loop, named: the session
     * answers 550 5.4.6 with the chain, never a retry-forever 451. */
    assert_int_equal(accounts_resolve(f->db, "loop1@example.org", &x), ACCOUNTS_RCPT_LOOP);
    assert_int_equal(x.n, 0);
    assert_string_equal(x.why, "loop1@example.org -> loop2@example.org -> loop1@example.org");

    assert_int_equal(accounts_resolve(f->db, "ghost@example.org", &x), ACCOUNTS_RCPT_ALIAS);
    assert_int_equal(x.n, 1);
    assert_true(has_target(&x, "carol@example.org", true));

    assert_int_equal(accounts_resolve(f->db, "nobody@example.org", &x), ACCOUNTS_RCPT_UNKNOWN);
    assert_int_equal(x.n, 0);

    /* Three targets do not fit in two: refused whole, not a silent loss. */
    x.max = 2;
    assert_int_equal(accounts_resolve(f->db, "team@example.org", &x), ACCOUNTS_RCPT_TOO_MANY);
    assert_string_equal(x.why, "more than 2 recipients");
    accounts_expansion_free(&x);
}

/* test_alias_loops - a list inside two lists is no loop; a list reaching
 * itself through others is, wherever the cycle starts. */
static void test_alias_loops(void **state)
{
    struct fixture *f = *state;
    struct accounts_expansion x = {0};
    resolve_setup(f->db);
    /* all -> team, sales; team -> sales: sales twice, not a loop */
    add_alias(f->db, "all@example.org", "team@example.org");
    add_alias(f->db, "all@example.org", "sales@example.org");
    assert_int_equal(accounts_resolve(f->db, "all@example.org", &x), ACCOUNTS_RCPT_ALIAS);
    assert_int_equal(x.n, 3);
    /* staff -> a -> b -> a: the loop below the top is named from where it starts */
    add_alias(f->db, "staff@example.org", "bob@example.org");
    add_alias(f->db, "staff@example.org", "a@example.org");
    add_alias(f->db, "a@example.org", "b@example.org");
    /* floodctl refuses to close the loop, naming it */
    char err[512];
    assert_int_equal(accounts_alias_add(f->db, "b@example.org", "a@example.org", err, sizeof err),
                     -1);
    assert_string_equal(err, "b@example.org -> a@example.org would make a loop (b@example.org -> "
                             "a@example.org -> b@example.org): add the members of a@example.org "
                             "to b@example.org instead");
    const char *two[] = {"carol@example.org", "staff@example.org"};
    size_t added;
    assert_int_equal(
        accounts_alias_add_many(f->db, "b@example.org", two, 2, &added, err, sizeof err), -1);
    assert_non_null(strstr(err, "(b@example.org -> staff@example.org -> a@example.org -> "
                                "b@example.org)"));
    /* an older store may hold it all the same: RCPT refuses it */
    assert_int_equal(store_exec(f->db,
                                "INSERT INTO aliases(address, target, created)"
                                " VALUES('b@example.org', 'a@example.org', 0)",
                                err, sizeof err),
                     0);
    assert_int_equal(accounts_resolve(f->db, "staff@example.org", &x), ACCOUNTS_RCPT_LOOP);
    assert_string_equal(x.why, "a@example.org -> b@example.org -> a@example.org");
    assert_int_equal(x.n, 0);
    accounts_expansion_free(&x);
}

/* test_big_alias - 10,000 targets added in one go, expanded whole, each once. */
static void test_big_alias(void **state)
{
    struct fixture *f = *state;
    char err[256];
    enum { N = 10000 };
    static char bufs[N][32];
    static const char *list[N + 1];
    size_t added = 0;
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        snprintf(bufs[i], sizeof bufs[i], "u%05d@example.net", i);
        list[i] = bufs[i];
    }
    list[N] = bufs[0]; /* a duplicate in the file */
    assert_int_equal(
        accounts_alias_add_many(f->db, "all@example.org", list, N + 1, &added, err, sizeof err), 0);
    assert_int_equal(added, N);
    /* a bad line refuses the whole file */
    const char *bad[] = {"x@example.net", "not an address"};
    assert_int_equal(
        accounts_alias_add_many(f->db, "all@example.org", bad, 2, &added, err, sizeof err), -1);
    assert_int_equal(added, 0);
    struct accounts_expansion x = {.max = N};
    assert_int_equal(accounts_resolve(f->db, "all@example.org", &x), ACCOUNTS_RCPT_ALIAS);
    assert_int_equal(x.n, N);
    assert_false(has_target(&x, "x@example.net", false));
    x.max = N - 1;
    assert_int_equal(accounts_resolve(f->db, "all@example.org", &x), ACCOUNTS_RCPT_TOO_MANY);
    accounts_expansion_free(&x);
}

/* test_alias_chain - a chain of ALIAS_DEPTH_MAX aliases resolves, one
 * longer does not. */
static void test_alias_chain(void **state)
{
    struct fixture *f = *state;
    struct accounts_expansion x = {.max = 4};
    char a[64], b[64], err[256];
    assert_int_equal(accounts_domain_add(f->db, "example.org", err, sizeof err), 0);
    add_user(f->db, "end@example.org");
    /* c1 -> c2 -> ... -> cDEPTH -> end */
    for (int i = 1; i <= ALIAS_DEPTH_MAX; i++) {
        snprintf(a, sizeof a, "c%d@example.org", i);
        if (i < ALIAS_DEPTH_MAX)
            snprintf(b, sizeof b, "c%d@example.org", i + 1);
        else
            snprintf(b, sizeof b, "end@example.org");
        add_alias(f->db, a, b);
    }
    assert_int_equal(accounts_resolve(f->db, "c1@example.org", &x), ACCOUNTS_RCPT_ALIAS);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.t[0].address, "end@example.org");
    add_alias(f->db, "c0@example.org", "c1@example.org");
    assert_int_equal(accounts_resolve(f->db, "c0@example.org", &x), ACCOUNTS_RCPT_LOOP);
    assert_non_null(strstr(x.why, "nested more than 8 deep"));
    accounts_expansion_free(&x);
}

/* test_passwords - verify right and wrong, the dummy hash. */
static void test_passwords(void **state)
{
    assert_true(password_verify(hash_secret, "correct horse"));
    assert_false(password_verify(hash_secret, "correct horse "));
    assert_false(password_verify(hash_secret, ""));
    assert_false(password_verify("not a hash", "correct horse"));
    const char *dummy = password_dummy_hash();
    assert_non_null(dummy);
    assert_ptr_equal(dummy, password_dummy_hash());
    assert_true(strncmp(dummy, "$argon2id$", 10) == 0);
    assert_false(password_verify(dummy, ""));
    assert_false(password_verify(dummy, "correct horse"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_del_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alias_loops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alias_chain, setup, teardown),
        cmocka_unit_test(test_passwords),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
