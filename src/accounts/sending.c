/* accounts/sending - send-as grants and per-user sending limits: the rules
 * over store/sending (room: accounts).  The session asks
 * accounts_may_send_as at MAIL and after DATA; floodctl changes grants and
 * limits. */
#include "accounts/sending.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/accounts_internal.h"
#include "core/util.h"
#include "store/accounts.h"
#include "store/sending.h"
#include "store/store.h"

/* alias_reaches - does ADDRESS, an alias, deliver (also) to USER? */
static int alias_reaches(store_db *db, const char *user, const char *address)
{
    struct accounts_expansion x = {0};
    enum accounts_rcpt_kind k = accounts_resolve(db, address, &x);
    int found = k == ACCOUNTS_RCPT_ERROR ? -1 : 0;
    for (size_t i = 0; k == ACCOUNTS_RCPT_ALIAS && i < x.n && found == 0; i++)
        found = strcmp(x.t[i].address, user) == 0;
    accounts_expansion_free(&x);
    return found;
}

/* accounts_may_send_as - its own address, a grant, or an alias reaching it. */
int accounts_may_send_as(store_db *db, const char *user, const char *address)
{
    char a[256];
    if (!str_copy(a, address, sizeof a))
        return 0;
    str_lower(a);
    if (strcmp(a, user) == 0)
        return 1;
    const char *at = strrchr(a, '@');
    int granted = store_sending_granted(db, user, a);
    if (granted == 0 && at)
        granted = store_sending_granted(db, user, at);
    if (granted != 0)
        return granted < 0 ? -1 : 1;
    return at && accounts_domain_is_local(db, at + 1) ? alias_reaches(db, user, a) : 0;
}

/* norm_grant - ADDRESS or "@domain", lowercased, into OUT (256). */
static int norm_grant(const char *address, char *out, char *err, size_t errlen)
{
    const char *at = address ? strchr(address, '@') : NULL;
    if (at == NULL || strchr(at + 1, '@') || at[1] == '\0' || !str_copy(out, address, 256) ||
        strpbrk(address, " \t<>\"")) {
        snprintf(err, errlen,
                 "invalid address '%s': give local@domain, or @domain to grant the whole domain",
                 address ? address : "");
        return -1;
    }
    str_lower(out);
    return 0;
}

/* user_exists - refuse grants and limits for a user that is not there. */
static int user_exists(store_db *db, const char *user, const char *op, char *err, size_t errlen)
{
    int found = store_accounts_is_user(db, user);
    if (found < 0)
        return accounts_store_failed(db, op, err, errlen);
    if (found == 0)
        return accounts_no_such_user(user, err, errlen);
    return 0;
}

/* accounts_send_as_grant - for an existing user only. */
int accounts_send_as_grant(store_db *db, const char *user, const char *address, char *err,
                           size_t errlen)
{
    char a[256];
    if (norm_grant(address, a, err, errlen) < 0 ||
        user_exists(db, user, "send-as grant", err, errlen) < 0)
        return -1;
    if (store_sending_grant(db, user, a, (long long)time(NULL)) < 0)
        return accounts_store_failed(db, "send-as grant", err, errlen);
    return 0;
}

/* accounts_send_as_revoke - "no grant" is an error the admin hears. */
int accounts_send_as_revoke(store_db *db, const char *user, const char *address, char *err,
                            size_t errlen)
{
    char a[256];
    if (norm_grant(address, a, err, errlen) < 0)
        return -1;
    int rc = store_sending_revoke(db, user, a);
    if (rc < 0)
        return accounts_store_failed(db, "send-as revoke", err, errlen);
    if (rc == 0) {
        snprintf(err, errlen, "%s has no grant to send as %s: see 'floodctl user show %s'", user, a,
                 user);
        return -1;
    }
    return 0;
}

/* accounts_send_as_list - the grants of USER. */
json_t *accounts_send_as_list(store_db *db, const char *user)
{
    return store_sending_grants(db, user);
}

/* accounts_user_limits - USER's own limits (-1: the config's). */
int accounts_user_limits(store_db *db, const char *user, struct user_limits *out)
{
    long long v[3];
    int rc = store_sending_limits(db, user, v);
    out->messages = v[0];
    out->recipients = v[1];
    out->domains = v[2];
    return rc;
}

/* accounts_user_set_limits - for an existing user only. */
int accounts_user_set_limits(store_db *db, const char *user, const struct user_limits *l, char *err,
                             size_t errlen)
{
    if (user_exists(db, user, "user limits", err, errlen) < 0)
        return -1;
    const long long v[] = {l->messages, l->recipients, l->domains};
    if (store_sending_set_limits(db, user, v) < 0)
        return accounts_store_failed(db, "user limits", err, errlen);
    return 0;
}

/* accounts_user_bulk - is USER a bulk sender? */
int accounts_user_bulk(store_db *db, const char *user)
{
    return store_sending_bulk(db, user);
}

/* accounts_user_set_bulk - for an existing user only. */
int accounts_user_set_bulk(store_db *db, const char *user, bool bulk, char *err, size_t errlen)
{
    if (user_exists(db, user, "user limits", err, errlen) < 0)
        return -1;
    if (store_sending_set_bulk(db, user, bulk) < 0)
        return accounts_store_failed(db, "user limits", err, errlen);
    return 0;
}

/* accounts_bulk_users - every bulk sender. */
json_t *accounts_bulk_users(store_db *db)
{
    return store_sending_bulk_users(db);
}
