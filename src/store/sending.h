/* store/sending - the rows of what an account may send: send-as grants
 * (an address, or "@domain" for a whole domain), the per-user sending
 * limits and the bulk-sender mark.  The rules (what a grant covers, the
 * config's limits when a user has none) are accounts/sending's. */
#ifndef FLOODGATE_STORE_SENDING_H
#define FLOODGATE_STORE_SENDING_H

#include <jansson.h>
#include <stdbool.h>

#include "store/store.h"

/* store_sending_granted - 1 when USER has the grant ADDRESS (an address or
 * "@domain"), 0 when not, -1 on a store error. */
int store_sending_granted(store_db *db, const char *user, const char *address);
/* store_sending_grant - add the grant unless there; -1 on a store error. */
int store_sending_grant(store_db *db, const char *user, const char *address, long long now);
/* store_sending_revoke - the grants removed (0 or 1), -1 on a store error. */
int store_sending_revoke(store_db *db, const char *user, const char *address);
/* store_sending_grants - ["addr", "@domain", ...] of USER; NULL on error. */
json_t *store_sending_grants(store_db *db, const char *user);

/* store_sending_limits - USER's messages, recipients and domains per hour
 * into V (-1: none set).  1 found, 0 no such user, -1 store error. */
int store_sending_limits(store_db *db, const char *user, long long v[3]);
/* store_sending_set_limits - V as above (-1 stores none); -1 on error. */
int store_sending_set_limits(store_db *db, const char *user, const long long v[3]);

/* store_sending_bulk - 1 bulk, 0 not (or no such user), -1 store error. */
int store_sending_bulk(store_db *db, const char *user);
int store_sending_set_bulk(store_db *db, const char *user, bool bulk);
/* store_sending_bulk_users - ["user", ...] marked bulk; NULL on error. */
json_t *store_sending_bulk_users(store_db *db);

#endif
