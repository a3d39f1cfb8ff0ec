/* accounts/totp - two-factor enrolment with time-based one-time codes
 * (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits - what authenticator apps
 * use), done by liboath.  The secret is kept in users.totp_secret as hex;
 * 2FA is on only once the admin typed one code the app showed
 * (users.totp_enabled = 1).  Once on, only app passwords log in. */
#ifndef FLOODGATE_ACCOUNTS_TOTP_H
#define FLOODGATE_ACCOUNTS_TOTP_H

#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define TOTP_SECRET_LEN 20 /* octets (RFC 4226 4: 160 bits) */
#define TOTP_DIGITS 6
#define TOTP_STEP 30
#define TOTP_WINDOW 1 /* steps accepted either side: clocks drift */
#define TOTP_BASE32_MAX 40
#define TOTP_URI_MAX 512

/* totp_begin - make a new secret for ADDRESS and store it with 2FA still
 * off (a pending enrolment replaces an earlier one).  Writes the secret
 * in base32, the form apps take, into B32.  Refuses when 2FA is on. */
int totp_begin(store_db *db, const char *address, char b32[TOTP_BASE32_MAX], char *err,
               size_t errlen);
/* totp_new_secret - a new random secret, as HEX (the store's form) and
 * B32 (the apps'); -1 with ERR when liboath or libsodium cannot start. */
int totp_new_secret(char hex[2 * TOTP_SECRET_LEN + 1], char b32[TOTP_BASE32_MAX], char *err,
                    size_t errlen);
/* totp_uri - the otpauth:// URI of the secret B32 for ADDRESS. */
int totp_uri(const char *address, const char *b32, char *out, size_t len);
/* totp_confirm - check CODE against the pending secret of ADDRESS at NOW
 * and turn 2FA on when it matches.  -1 with ERR otherwise (a wrong code
 * leaves 2FA off and the secret pending, for another try). */
int totp_confirm(store_db *db, const char *address, const char *code, time_t now, char *err,
                 size_t errlen);
/* totp_disable - turn 2FA off and forget the secret. */
int totp_disable(store_db *db, const char *address, char *err, size_t errlen);
/* totp_check - does CODE (six digits) fit SECRET (LEN octets) at NOW,
 * within TOTP_WINDOW steps? */
bool totp_check(const unsigned char *secret, size_t len, const char *code, time_t now);
/* totp_check_hex - totp_check with the secret in HEX, as stored. */
bool totp_check_hex(const char *hex, const char *code, time_t now);

#endif
