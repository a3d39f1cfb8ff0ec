/* accounts/totp - TOTP secrets and codes (RFC 6238) with liboath.
 *
 * Room: accounts.  Only floodctl uses this file: the SMTP server never
 * sees a one-time code (a mail client cannot type one); with 2FA on it
 * accepts app passwords only.  The secret is 20 bytes from libsodium's
 * randombytes, stored hex (users.totp_secret). */
#include "accounts/totp.h"
#include "accounts/accounts_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liboath/oath.h>
#include <sodium.h>

#include "core/log.h"
#include "core/util.h"
#include "store/logins.h"
#include "store/store.h"

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_ok;

static void totp_init_once(void)
{
    oath_ok = oath_init() == OATH_OK && sodium_init() >= 0;
}

/* totp_ready - liboath and libsodium are initialised. */
static bool totp_ready(void)
{
    return pthread_once(&oath_once, totp_init_once) == 0 && oath_ok;
}

/* lookup - normalise ADDRESS into A (256) and read its 2FA columns;
 * -1 with ERR for an unknown user or a store error. */
static int lookup(store_db *db, const char *address, char *a, bool *enabled, char *hex,
                  size_t hexlen, char *err, size_t errlen)
{
    int found =
        str_copy(a, address, 256) ? store_logins_totp(db, str_lower(a), enabled, hex, hexlen) : 0;
    if (found == 0)
        accounts_no_such_user(address, err, errlen);
    else if (found < 0)
        snprintf(err, errlen, "store error: %s", store_errmsg(db));
    return found == 1 ? 0 : -1;
}

/* totp_new_secret - 20 random octets as HEX and as B32. */
int totp_new_secret(char hex[2 * TOTP_SECRET_LEN + 1], char b32[TOTP_BASE32_MAX], char *err,
                    size_t errlen)
{
    unsigned char secret[TOTP_SECRET_LEN];
    if (!totp_ready()) {
        snprintf(err, errlen, "cannot start liboath or libsodium");
        return -1;
    }
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(hex, 2 * TOTP_SECRET_LEN + 1, secret, sizeof secret);
    char *enc = NULL;
    size_t enclen = 0;
    int rc = oath_base32_encode((const char *)secret, sizeof secret, &enc, &enclen);
    sodium_memzero(secret, sizeof secret);
    if (rc != OATH_OK || enclen >= TOTP_BASE32_MAX) {
        free(enc);
        sodium_memzero(hex, 2 * TOTP_SECRET_LEN + 1);
        snprintf(err, errlen, "cannot encode the secret: %s", oath_strerror(rc));
        return -1;
    }
    memcpy(b32, enc, enclen + 1);
    free(enc);
    return 0;
}

/* totp_begin - a new pending secret for ADDRESS. */
int totp_begin(store_db *db, const char *address, char b32[TOTP_BASE32_MAX], char *err,
               size_t errlen)
{
    char a[256], hex[2 * TOTP_SECRET_LEN + 1];
    bool enabled = false;
    if (lookup(db, address, a, &enabled, hex, sizeof hex, err, errlen) < 0)
        return -1;
    if (enabled) {
        snprintf(err, errlen,
                 "2FA is already on for %s: to enrol a new device, run "
                 "'floodctl user 2fa disable %s' first",
                 a, a);
        return -1;
    }
    if (totp_new_secret(hex, b32, err, errlen) < 0)
        return -1;
    int rc = store_logins_totp_pending(db, a, hex, err, errlen);
    sodium_memzero(hex, sizeof hex);
    if (rc == 0)
        log_info("event=2fa_enrolment_started user=%s", log_quote(a));
    return rc;
}

/* uri_char_ok - characters left as they are in the URI's label. */
static bool uri_char_ok(unsigned char c)
{
    return isalnum(c) || strchr("-._~@+", c) != NULL;
}

/* totp_uri - "otpauth://totp/Floodgate:ADDRESS?secret=B32&issuer=Floodgate"
 * (the Key Uri Format of Google Authenticator, which every app reads). */
int totp_uri(const char *address, const char *b32, char *out, size_t len)
{
    char label[3 * 256 + 1];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)address; *p && o + 4 < sizeof label; p++)
        o += (size_t)(uri_char_ok(*p) ? snprintf(label + o, 2, "%c", *p)
                                      : snprintf(label + o, 4, "%%%02X", *p));
    label[o] = '\0';
    int n = snprintf(out, len,
                     "otpauth://totp/Floodgate:%s?secret=%s&issuer=Floodgate"
                     "&algorithm=SHA1&digits=%d&period=%d",
                     label, b32, TOTP_DIGITS, TOTP_STEP);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* code_ok - exactly TOTP_DIGITS ASCII digits (liboath takes the number of
 * digits from the string, so a longer code must not reach it). */
static bool code_ok(const char *code)
{
    size_t n = 0;
    for (; code[n]; n++)
        if (!isdigit((unsigned char)code[n]))
            return false;
    return n == TOTP_DIGITS;
}

/* totp_check - does CODE fit SECRET at NOW, within TOTP_WINDOW steps? */
bool totp_check(const unsigned char *secret, size_t len, const char *code, time_t now)
{
    if (!code_ok(code) || !totp_ready())
        return false;
    return oath_totp_validate((const char *)secret, len, now, TOTP_STEP, 0, TOTP_WINDOW, code) >= 0;
}

/* totp_check_hex - totp_check with the secret as the store keeps it. */
bool totp_check_hex(const char *hex, const char *code, time_t now)
{
    unsigned char secret[TOTP_SECRET_LEN];
    size_t n = 0;
    if (sodium_hex2bin(secret, sizeof secret, hex, strlen(hex), NULL, &n, NULL) != 0 ||
        n != sizeof secret)
        return false;
    bool ok = totp_check(secret, sizeof secret, code, now);
    sodium_memzero(secret, sizeof secret);
    return ok;
}

/* totp_confirm - turn 2FA on when CODE fits the pending secret. */
int totp_confirm(store_db *db, const char *address, const char *code, time_t now, char *err,
                 size_t errlen)
{
    char a[256], hex[2 * TOTP_SECRET_LEN + 1];
    unsigned char secret[TOTP_SECRET_LEN];
    size_t n = 0;
    bool enabled = false;
    if (lookup(db, address, a, &enabled, hex, sizeof hex, err, errlen) < 0)
        return -1;
    if (enabled) {
        snprintf(err, errlen, "2FA is already on for %s", a);
        return -1;
    }
    if (hex[0] == '\0' ||
        sodium_hex2bin(secret, sizeof secret, hex, strlen(hex), NULL, &n, NULL) != 0 ||
        n != sizeof secret) {
        snprintf(err, errlen,
                 "no 2FA enrolment is pending for %s: start one with 'floodctl user 2fa enable %s'",
                 a, a);
        return -1;
    }
    bool ok = totp_check(secret, sizeof secret, code, now);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(hex, sizeof hex);
    if (!ok) {
        log_info("event=2fa_enrolment_failed user=%s", log_quote(a));
        snprintf(err, errlen,
                 "wrong code '%.12s': 2FA stays off for %s. Check the phone's clock, then try "
                 "again with 'floodctl user 2fa enable %s --code CODE' (the enrolment stays "
                 "pending: the app needs no new QR code)",
                 code, a, a);
        return -1;
    }
    if (store_logins_totp_enable(db, a, err, errlen) < 0)
        return -1;
    log_info("event=2fa_enabled user=%s", log_quote(a));
    return 0;
}

/* totp_disable - turn 2FA off and forget the secret. */
int totp_disable(store_db *db, const char *address, char *err, size_t errlen)
{
    char a[256], hex[2 * TOTP_SECRET_LEN + 1];
    bool enabled = false;
    if (lookup(db, address, a, &enabled, hex, sizeof hex, err, errlen) < 0)
        return -1;
    if (store_logins_totp_disable(db, a, err, errlen) < 0)
        return -1;
    log_info("event=2fa_disabled user=%s was=%s", log_quote(a),
             enabled  ? "on"
             : hex[0] ? "pending"
                      : "off");
    return 0;
}
