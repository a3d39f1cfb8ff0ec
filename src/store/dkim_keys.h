/* store/dkim_keys - the dkim_keys table: which selector, algorithm and key
 * file sign the mail of a domain.  The key itself is a file under the
 * state dir (delivery/dkim.c makes and reads it); the store only points
 * to it. */
#ifndef FLOODGATE_STORE_DKIM_KEYS_H
#define FLOODGATE_STORE_DKIM_KEYS_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "store/store.h"

/* store_dkim_key_put - record the key of DOMAIN (SELECTOR, ALGORITHM, its
 * FILE relative to the state dir, made at CREATED) as the one that signs;
 * the one before (of another selector) moves to dkim_retiring, still
 * published, until store_dkim_key_retire.  -1 and ERR on failure. */
int store_dkim_key_put(store_db *db, const char *domain, const char *selector,
                       const char *algorithm, const char *file, time_t created, char *err,
                       size_t errlen);

/* store_dkim_key_get - the selector, algorithm and key file of DOMAIN into
 * the buffers given: 1 found, 0 none, -1 and ERR on a store error or a row
 * that does not fit them (a damaged row). */
int store_dkim_key_get(store_db *db, const char *domain, char *selector, size_t sellen,
                       char *algorithm, size_t alglen, char *file, size_t filelen, char *err,
                       size_t errlen);

/* store_dkim_keys_list - the keys of DOMAIN (NULL: of every domain), the
 * signing one of each domain first: [{domain, selector, algorithm,
 * key_file, created, state: "active"|"retiring", replaced (null when
 * active)}].  NULL and ERR on a store error. */
json_t *store_dkim_keys_list(store_db *db, const char *domain, char *err, size_t errlen);

/* store_dkim_key_retire - forget the retiring key SELECTOR of DOMAIN, its
 * key file (relative to the state dir) into FILE: 1 done, 0 no such
 * retiring key, -1 and ERR. */
int store_dkim_key_retire(store_db *db, const char *domain, const char *selector, char *file,
                          size_t filelen, char *err, size_t errlen);

#endif
