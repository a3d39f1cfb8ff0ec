/* store/dkim_keys - the dkim_keys table: which selector, algorithm and key
 * file sign the mail of a domain.  The key itself is a file under the
 * state dir (delivery/dkim.c makes and reads it); the store only points
 * to it. */
#ifndef FLOODGATE_STORE_DKIM_KEYS_H
#define FLOODGATE_STORE_DKIM_KEYS_H

#include <stddef.h>
#include <time.h>

#include "store/store.h"

/* store_dkim_key_put - record the key of DOMAIN (SELECTOR, ALGORITHM, its
 * FILE relative to the state dir, made at CREATED), replacing the one
 * before.  -1 and ERR on failure. */
int store_dkim_key_put(store_db *db, const char *domain, const char *selector,
                       const char *algorithm, const char *file, time_t created, char *err,
                       size_t errlen);

/* store_dkim_key_get - the selector, algorithm and key file of DOMAIN into
 * the buffers given: 1 found, 0 none, -1 and ERR on a store error or a row
 * that does not fit them (a damaged row). */
int store_dkim_key_get(store_db *db, const char *domain, char *selector, size_t sellen,
                       char *algorithm, size_t alglen, char *file, size_t filelen, char *err,
                       size_t errlen);

#endif
