/* accounts/accounts_internal - the small helper of accounts.c shared with
 * the other files of the accounts room (sending.c).  Not for other rooms. */
#ifndef FLOODGATE_ACCOUNTS_ACCOUNTS_INTERNAL_H
#define FLOODGATE_ACCOUNTS_ACCOUNTS_INTERNAL_H

#include <stddef.h>

#include "store/store.h"

/* accounts_store_failed - log a store error during OP and tell the admin
 * about it in ERR; always -1. */
int accounts_store_failed(store_db *db, const char *op, char *err, size_t errlen);

#endif
