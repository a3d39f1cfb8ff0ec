/* accounts/sending - what an account may send: the addresses it may use as
 * sender (its own, aliases that deliver to it, explicit send-as grants)
 * and its own sending limits, overriding the config's. */
#ifndef FLOODGATE_ACCOUNTS_SENDING_H
#define FLOODGATE_ACCOUNTS_SENDING_H

#include <jansson.h>
#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>

/* accounts_may_send_as - may USER (lowercased) use ADDRESS as sender?
 * 1 yes, 0 no, -1 store error.  A grant "@domain" covers the domain. */
int accounts_may_send_as(store_db *db, const char *user, const char *address);

int accounts_send_as_grant(store_db *db, const char *user, const char *address, char *err,
                           size_t errlen);
int accounts_send_as_revoke(store_db *db, const char *user, const char *address, char *err,
                            size_t errlen);
/* accounts_send_as_list - ["addr", "@domain", ...] granted to USER. */
json_t *accounts_send_as_list(store_db *db, const char *user);

/* Per-user sending limits; -1 in a field means "the config's value". */
struct user_limits {
    long long messages, recipients, domains;
};
/* accounts_user_limits - 1 found, 0 no such user, -1 store error. */
int accounts_user_limits(store_db *db, const char *user, struct user_limits *out);
int accounts_user_set_limits(store_db *db, const char *user, const struct user_limits *l, char *err,
                             size_t errlen);

/* A bulk sender (newsletters): the outbreak detector relaxes its volume
 * signals for it and keeps the identity ones (docs/detector.md). */
/* accounts_user_bulk - 1 bulk, 0 not (or no such user), -1 store error. */
int accounts_user_bulk(store_db *db, const char *user);
int accounts_user_set_bulk(store_db *db, const char *user, bool bulk, char *err, size_t errlen);
/* accounts_bulk_users - ["user", ...] marked bulk; NULL on a store error. */
json_t *accounts_bulk_users(store_db *db);

#endif
