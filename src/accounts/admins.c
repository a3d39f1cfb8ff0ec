/* accounts/admins - the rules over the web admin's administrators (see
 * accounts/admins.h); their rows are store/admins.c's.
 *
 * Room: accounts. */
#include "accounts/admins.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "accounts/password.h"
#include "core/log.h"
#include "store/admins.h"

/* admin_name_ok - a short lowercase word. */
bool admin_name_ok(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++)
        if (!((name[n] >= 'a' && name[n] <= 'z') || (name[n] >= '0' && name[n] <= '9') ||
              strchr("._-", name[n]) != NULL))
            return false;
    return n >= 1 && n <= ADMIN_NAME_MAX;
}

/* admin_add - a new row with a new secret. */
int admin_add(store_db *db, const char *name, const char *hash, char b32[TOTP_BASE32_MAX],
              char *err, size_t errlen)
{
    char hex[2 * TOTP_SECRET_LEN + 1];
    if (!admin_name_ok(name)) {
        snprintf(err, errlen, "bad admin name '%.80s': use 1 to %d of a-z, 0-9, '.', '_' and '-'",
                 name, ADMIN_NAME_MAX);
        return -1;
    }
    if (totp_new_secret(hex, b32, err, errlen) < 0)
        return -1;
    int rc = store_admins_insert(db, name, hash, hex, (long long)time(NULL));
    sodium_memzero(hex, sizeof hex);
    if (rc == -2)
        snprintf(err, errlen,
                 "admin %s exists already: to give it a new password or phone, run "
                 "'floodctl admin del %s' and add it again",
                 name, name);
    else if (rc < 0)
        snprintf(err, errlen, "store error: %s", store_errmsg(db));
    if (rc == 0)
        log_info("event=admin_added admin=%s", name);
    return rc < 0 ? -1 : 0;
}

/* admin_del - remove a row. */
int admin_del(store_db *db, const char *name, char *err, size_t errlen)
{
    int rc = admin_name_ok(name) ? store_admins_delete(db, name) : 0;
    if (rc == 0)
        snprintf(err, errlen, "no such admin %.80s: see 'floodctl admin list'", name);
    else if (rc < 0)
        snprintf(err, errlen, "store error: %s", store_errmsg(db));
    if (rc == 1)
        log_info("event=admin_deleted admin=%s", name);
    return rc == 1 ? 0 : -1;
}

/* admin_login - the password, then the code: both must fit. */
int admin_login(store_db *db, const char *name, const char *password, const char *code, time_t now)
{
    char hash[PASSWORD_HASH_MAX], hex[2 * TOTP_SECRET_LEN + 1];
    int found = admin_name_ok(name) && strlen(password) <= PASSWORD_MAX
                    ? store_admins_read(db, name, hash, sizeof hash, hex, sizeof hex)
                    : 0;
    if (found < 0)
        return -1;
    /* an unknown name is verified against a dummy: no timing tells it apart */
    bool ok = password_verify(found ? hash : password_dummy_hash(), password) && found == 1 &&
              totp_check_hex(hex, code, now);
    sodium_memzero(hex, sizeof hex);
    return ok ? 1 : 0;
}

/* admin_logged_in - NAME's last login is NOW: called once the login is
 * let in (after the caller's own checks, a code's replay say), so that a
 * refused attempt never moves it. */
void admin_logged_in(store_db *db, const char *name, time_t now)
{
    store_admins_logged_in(db, name, (long long)now);
}
