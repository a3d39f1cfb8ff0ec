/* accounts/app_passwords - one generated password per device (phone,
 * laptop, printer), each with a label, revocable on its own.  They are
 * what a user with 2FA logs in with, and the label used is recorded in
 * every envelope and AUTH log line, so an incident shows which device
 * leaked.  Stored as argon2id hashes like the main password. */
#ifndef FLOODGATE_ACCOUNTS_APP_PASSWORDS_H
#define FLOODGATE_ACCOUNTS_APP_PASSWORDS_H

#include <jansson.h>
#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>

#include "accounts/login_state.h"

/* "abcd-efgh-ijkl-mnop": 16 of 36 symbols, about 82 bits. */
#define APP_PASSWORD_GROUPS 4
#define APP_PASSWORD_GROUP_LEN 4
#define APP_PASSWORD_LEN (APP_PASSWORD_GROUPS * (APP_PASSWORD_GROUP_LEN + 1) - 1)
#define APP_PASSWORD_SYMBOLS (APP_PASSWORD_GROUPS * APP_PASSWORD_GROUP_LEN)

/* app_password_generate - a fresh random password into OUT; -1 when no
 * randomness is to be had. */
int app_password_generate(char out[APP_PASSWORD_LEN + 1]);
/* app_password_canonical - PW as it is hashed: the 16 symbols, lowercase,
 * without the dashes or spaces a user may type between groups.  False when
 * PW is not in that shape (so it cannot be an app password). */
bool app_password_canonical(const char *pw, char out[APP_PASSWORD_SYMBOLS + 1]);

/* app_password_add - store HASH (of the canonical form) as the app
 * password LABEL of ADDRESS.  Refuses an unknown user, a bad or taken
 * label, and a user who has APP_PASSWORDS_MAX already. */
int app_password_add(store_db *db, const char *address, const char *label, const char *hash,
                     char *err, size_t errlen);
/* app_password_create - a fresh app password LABEL for ADDRESS: made,
 * hashed and stored (app_password_add), and given back in PW to be shown
 * once.  -1 with ERR. */
int app_password_create(store_db *db, const char *address, const char *label,
                        char pw[APP_PASSWORD_LEN + 1], char *err, size_t errlen);
/* app_password_revoke - delete the app password LABEL of ADDRESS. */
int app_password_revoke(store_db *db, const char *address, const char *label, char *err,
                        size_t errlen);
/* app_password_list - [{label, created, last_used, last_ip}] of ADDRESS;
 * NULL with ERR when there is no such user. */
json_t *app_password_list(store_db *db, const char *address, char *err, size_t errlen);

#endif
