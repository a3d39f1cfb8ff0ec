/* accounts/accounts_internal - the small helpers of accounts.c shared with
 * the other files of the accounts room.  Not for other rooms. */
#ifndef FLOODGATE_ACCOUNTS_ACCOUNTS_INTERNAL_H
#define FLOODGATE_ACCOUNTS_ACCOUNTS_INTERNAL_H

#include <stddef.h>

#include "store/store.h"

/* accounts_store_failed - log a store error during OP and tell the admin
 * about it in ERR; always -1. */
int accounts_store_failed(store_db *db, const char *op, char *err, size_t errlen);
/* accounts_no_such_user - tell the admin in ERR that ADDRESS is no user,
 * and where to look; always -1. */
int accounts_no_such_user(const char *address, char *err, size_t errlen);

#endif
