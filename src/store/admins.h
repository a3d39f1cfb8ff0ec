/* store/admins - the rows of the web admin's administrators: name,
 * password hash, TOTP secret (hex), when made, last login.
 *
 * Room: store.  The rules (what a name may be, the password policy, the
 * check of a login) are accounts/admins.c's; floodctl admin writes these
 * rows and the web server's threads read them with their own connection. */
#ifndef FLOODGATE_STORE_ADMINS_H
#define FLOODGATE_STORE_ADMINS_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"

/* store_admins_insert - a new administrator NAME: 0, -2 when NAME exists,
 * -1 on a store error (logged). */
int store_admins_insert(store_db *db, const char *name, const char *hash, const char *totp_hex,
                        long long now);
/* store_admins_delete - 1 deleted, 0 no such name, -1 on a store error. */
int store_admins_delete(store_db *db, const char *name);
/* store_admins_read - the password hash and TOTP secret of NAME: 1 found,
 * 0 not, -1 on a store error (logged) or a value that does not fit. */
int store_admins_read(store_db *db, const char *name, char *hash, size_t hashlen, char *totp_hex,
                      size_t hexlen);
/* store_admins_logged_in - NAME logged in at WHEN (for admin list). */
int store_admins_logged_in(store_db *db, const char *name, long long when);
/* store_admins_list - [{name, created, last_login}] by name; NULL on a
 * store error (logged). */
json_t *store_admins_list(store_db *db);

#endif
