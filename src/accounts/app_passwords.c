/* accounts/app_passwords - generated per-device passwords in the store.
 *
 * Room: accounts.  A password is 16 symbols of [a-z0-9] drawn with
 * libsodium's randombytes_uniform (no modulo bias), shown in four groups
 * of four; it is hashed in its canonical form so "ABCD EFGH IJKL MNOP"
 * typed on a phone still matches.  At most APP_PASSWORDS_MAX per user:
 * each one may cost an argon2id verification at AUTH. */
#include "accounts/app_passwords.h"
#include "accounts/accounts_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "accounts/password.h"
#include "core/log.h"
#include "core/util.h"
#include "store/logins.h"
#include "store/store.h"

static const char symbols[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/* app_password_generate - a fresh random password into OUT; -1 when
 * libsodium cannot start (no source of randomness). */
int app_password_generate(char out[APP_PASSWORD_LEN + 1])
{
    size_t o = 0;
    if (sodium_init() < 0)
        return -1;
    for (int g = 0; g < APP_PASSWORD_GROUPS; g++) {
        if (g)
            out[o++] = '-';
        for (int i = 0; i < APP_PASSWORD_GROUP_LEN; i++)
            out[o++] = symbols[randombytes_uniform(sizeof symbols - 1)];
    }
    out[o] = '\0';
    return 0;
}

/* app_password_canonical - the 16 symbols of PW, lowercased. */
bool app_password_canonical(const char *pw, char out[APP_PASSWORD_SYMBOLS + 1])
{
    size_t n = 0;
    for (const char *p = pw; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '-' || c == ' ')
            continue;
        if (!isascii(c) || !isalnum(c) || n >= APP_PASSWORD_SYMBOLS)
            return false;
        out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
    return n == APP_PASSWORD_SYMBOLS;
}

/* label_ok - 1 to APP_LABEL_MAX octets, printable, no leading space. */
static bool label_ok(const char *label)
{
    size_t len = strlen(label);
    if (len == 0 || len > APP_LABEL_MAX || label[0] == ' ')
        return false;
    for (const unsigned char *p = (const unsigned char *)label; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* norm_user - the lowercased ADDRESS into A (256) and the check that it
 * is a user; *COUNT gets its number of app passwords. */
static int norm_user(store_db *db, const char *address, char *a, long long *count, char *err,
                     size_t errlen)
{
    if (!str_copy(a, address, 256)) {
        snprintf(err, errlen, "invalid address '%.60s...': too long", address);
        return -1;
    }
    str_lower(a);
    *count = store_app_passwords_count(db, a);
    if (*count == -1)
        accounts_no_such_user(a, err, errlen);
    else if (*count < 0)
        snprintf(err, errlen, "store error: %s", store_errmsg(db));
    return *count < 0 ? -1 : 0;
}

/* app_password_add - store HASH as the app password LABEL of ADDRESS. */
int app_password_add(store_db *db, const char *address, const char *label, const char *hash,
                     char *err, size_t errlen)
{
    char a[256];
    long long count;
    if (!label_ok(label)) {
        snprintf(err, errlen,
                 "invalid label: give 1 to %d printable characters naming the device, "
                 "e.g. --label \"alice's phone\"",
                 APP_LABEL_MAX);
        return -1;
    }
    if (norm_user(db, address, a, &count, err, errlen) < 0)
        return -1;
    if (count >= APP_PASSWORDS_MAX) {
        snprintf(err, errlen,
                 "%s has %lld app passwords, the most allowed: revoke one it no longer needs "
                 "with 'floodctl user app-password revoke %s LABEL'",
                 a, count, a);
        return -1;
    }
    int rc = store_app_passwords_insert(db, a, label, hash, (long long)time(NULL));
    if (rc == -2) {
        snprintf(err, errlen,
                 "%s already has an app password labelled '%s': choose another label, or "
                 "revoke it first",
                 a, label);
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errlen, "store error: %s", store_errmsg(db));
        return -1;
    }
    log_info("event=app_password_added user=%s label=%s", log_quote(a), log_quote(label));
    return 0;
}

/* app_password_revoke - delete the app password LABEL of ADDRESS. */
int app_password_revoke(store_db *db, const char *address, const char *label, char *err,
                        size_t errlen)
{
    char a[256];
    long long count;
    if (norm_user(db, address, a, &count, err, errlen) < 0)
        return -1;
    int rc = store_app_passwords_delete(db, a, label);
    if (rc < 0) {
        snprintf(err, errlen, "store error: %s", store_errmsg(db));
        return -1;
    }
    if (rc == 0) {
        snprintf(err, errlen,
                 "%s has no app password labelled '%s': see 'floodctl user app-password list %s'",
                 a, label, a);
        return -1;
    }
    log_info("event=app_password_revoked user=%s label=%s", log_quote(a), log_quote(label));
    return 0;
}

/* app_password_list - [{label, created, last_used, last_ip}] of ADDRESS. */
json_t *app_password_list(store_db *db, const char *address, char *err, size_t errlen)
{
    char a[256];
    long long count;
    if (norm_user(db, address, a, &count, err, errlen) < 0)
        return NULL;
    json_t *arr = store_app_passwords_list(db, a);
    if (arr == NULL)
        snprintf(err, errlen, "store error: %s", store_errmsg(db));
    return arr;
}

/* app_password_create - generate, hash the canonical form, store. */
int app_password_create(store_db *db, const char *address, const char *label,
                        char pw[APP_PASSWORD_LEN + 1], char *err, size_t errlen)
{
    char canon[APP_PASSWORD_SYMBOLS + 1], hash[PASSWORD_HASH_MAX];
    if (app_password_generate(pw) < 0 || !app_password_canonical(pw, canon) ||
        password_hash(canon, hash) < 0) {
        sodium_memzero(canon, sizeof canon);
        sodium_memzero(pw, APP_PASSWORD_LEN + 1);
        snprintf(err, errlen, "cannot make a password (no randomness or out of memory)");
        return -1;
    }
    sodium_memzero(canon, sizeof canon);
    int rc = app_password_add(db, address, label, hash, err, errlen);
    if (rc < 0)
        sodium_memzero(pw, APP_PASSWORD_LEN + 1);
    return rc;
}
