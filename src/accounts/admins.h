/* accounts/admins - the web admin's administrators: who they are and how
 * one logs in (a password under the same policy as mail users', and a
 * TOTP code, always: an admin page can stop a whole mail system).
 *
 * Room: accounts.  floodctl admin adds and removes them; the web server
 * (control/web_admin.c) checks a login on its own thread. */
#ifndef FLOODGATE_ACCOUNTS_ADMINS_H
#define FLOODGATE_ACCOUNTS_ADMINS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "accounts/totp.h"
#include "store/store.h"

#define ADMIN_NAME_MAX 64

/* admin_name_ok - 1 to ADMIN_NAME_MAX of a-z 0-9 . _ - (it goes into log
 * lines, the audit log and a cookie-less page: nothing to escape). */
bool admin_name_ok(const char *name);
/* admin_add - administrator NAME with the password HASH (already checked
 * against the policy and hashed) and a new TOTP secret, given back in B32
 * for the app.  -1 with ERR (an existing name says what to do). */
int admin_add(store_db *db, const char *name, const char *hash, char b32[TOTP_BASE32_MAX],
              char *err, size_t errlen);
/* admin_del - remove NAME; -1 with ERR when there is none. */
int admin_del(store_db *db, const char *name, char *err, size_t errlen);
/* admin_login - do PASSWORD and CODE log NAME in at NOW?  1 yes, 0 no
 * (an unknown name costs the same time as a wrong password), -1 when the
 * store cannot answer. */
int admin_login(store_db *db, const char *name, const char *password, const char *code, time_t now);
/* admin_logged_in - record NOW as NAME's last login (admin list), once the
 * caller let the login in: admin_login itself writes nothing. */
void admin_logged_in(store_db *db, const char *name, time_t now);

#endif
