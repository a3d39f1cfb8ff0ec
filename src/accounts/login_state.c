/* accounts/login_state - expiry, lockout, 2FA and app passwords as AUTH and
 * floodctl see them: the rules over the rows of store/logins.
 *
 * Room: accounts.  The daemon reads the state at every AUTH rather than
 * caching it, so that 'floodctl user expire', 'unlock', '2fa' and
 * 'app-password revoke' take effect at the very next login without any
 * message to the daemon: SQLite in WAL mode makes the read cheap. */
#include "accounts/login_state.h"
#include "accounts/accounts_internal.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/accounts.h"
#include "store/logins.h"
#include "store/store.h"

/* norm - the lowercased ADDRESS into OUT (256); false when too long. */
static bool norm(const char *address, char *out)
{
    if (address == NULL || !str_copy(out, address, 256))
        return false;
    str_lower(out);
    return true;
}

/* login_state_read - the state of ADDRESS from NETWORK into OUT.  The
 * network's row comes with the user's in the same statement (two
 * primary-key probes): the lockout per network costs AUTH no extra read. */
int login_state_read(store_db *db, const char *address, const char *network,
                     struct login_state *out)
{
    char a[256];
    if (!norm(address, a))
        return 0;
    return store_logins_read(db, a, network, out);
}

/* login_network_known - a login from there succeeded lately. */
bool login_network_known(const struct login_state *s, time_t now, unsigned known_age)
{
    return known_age > 0 && s->network_last_ok > 0 && now - s->network_last_ok <= known_age;
}

/* login_main_locked - whether the main password is locked from this
 * network.  The valve spares a network the account logged in from within
 * KNOWN_AGE: a botnet spread over a thousand networks must not lock alice
 * out at her office. */
bool login_main_locked(const struct login_state *s, time_t now, unsigned known_age)
{
    if (s->network_locked_until > now)
        return true;
    if (s->locked_until <= now)
        return false;
    return !login_network_known(s, now, known_age);
}

/* password_age_of - where a password stands. */
enum password_age password_age_of(const struct config_passwords *p, bool forced, long long changed,
                                  time_t now, long long *expires)
{
    *expires = p->max_age ? changed + (long long)p->max_age : 0;
    if (forced || (*expires && *expires <= now))
        return PASSWORD_EXPIRED;
    if (*expires && *expires - now <= (long long)p->warn_before)
        return PASSWORD_EXPIRING;
    return PASSWORD_FRESH;
}

/* login_expire - force a new password on ADDRESS (NULL: every user). */
int login_expire(store_db *db, const char *address, long *n, char *err, size_t errlen)
{
    char a[256];
    if (address && !norm(address, a))
        return accounts_no_such_user(address, err, errlen);
    if (store_logins_expire(db, address ? a : NULL, n, err, errlen) < 0)
        return -1;
    if (address && *n == 0)
        return accounts_no_such_user(address, err, errlen);
    log_info("event=password_expired user=%s users=%ld", address ? log_quote(address) : "*", *n);
    return 0;
}

/* login_unlock - lift the lockouts of ADDRESS (NULL: of every user), from
 * every network and account-wide.  *N counts the accounts that were locked. */
int login_unlock(store_db *db, const char *address, long *n, char *err, size_t errlen)
{
    char a[256];
    if (address) {
        int e = norm(address, a) ? store_accounts_is_user(db, a) : 0;
        if (e <= 0) {
            if (e < 0)
                snprintf(err, errlen, "store error: %s", store_errmsg(db));
            else
                accounts_no_such_user(address, err, errlen);
            return -1;
        }
    }
    if (store_logins_unlock(db, address ? a : NULL, (long long)time(NULL), n, err, errlen) < 0)
        return -1;
    log_info("event=account_unlocked user=%s users=%ld", address ? log_quote(address) : "*", *n);
    return 0;
}

/* login_lock - lock the main password of ADDRESS from NETWORK (NULL:
 * account-wide) until UNTIL. */
int login_lock(store_db *db, const char *address, const char *network, long long until,
               unsigned failures, long long now)
{
    char a[256];
    if (network == NULL && !norm(address, a))
        return -1;
    return store_logins_lock(db, network ? address : a, network, until, failures, now);
}

/* login_network_ok - note a successful login of ADDRESS from NETWORK. */
int login_network_ok(store_db *db, const char *address, const char *network, long long when)
{
    return store_logins_network_ok(db, address, network, when);
}

/* login_lockouts - the live locks of ADDRESS (NULL: every user) at NOW. */
json_t *login_lockouts(store_db *db, const char *address, long long now, char *err, size_t errlen)
{
    char a[256];
    if (address && !norm(address, a)) {
        accounts_no_such_user(address, err, errlen);
        return NULL;
    }
    return store_logins_lockouts(db, address ? a : NULL, now, err, errlen);
}

/* login_app_password_used - note a successful login with app password ID. */
int login_app_password_used(store_db *db, long long id, long long when, const char *ip)
{
    return store_logins_app_password_used(db, id, when, ip);
}

/* login_annotate - add the derived facts to a user object. */
void login_annotate(json_t *u, const struct config_passwords *p, time_t now)
{
    static const char *const names[] = {"ok", "expiring", "expired"};
    json_t *changed = json_object_get(u, "password_changed");
    long long when = json_is_integer(changed) ? json_integer_value(changed)
                                              : json_integer_value(json_object_get(u, "created"));
    json_t *forced = json_object_get(u, "password_expired");
    long long expires, locked = json_integer_value(json_object_get(u, "locked_until"));
    enum password_age age = password_age_of(
        p, json_is_true(forced) || json_integer_value(forced) != 0, when, now, &expires);
    json_object_set_new(u, "password_expires", expires ? json_integer(expires) : json_null());
    json_object_set_new(u, "password_state", json_string(names[age]));
    json_t *nets = json_object_get(u, "locked_networks");
    json_object_set_new(u, "locked_account", json_boolean(locked > now));
    json_object_set_new(u, "locked", json_boolean(locked > now || json_integer_value(nets) > 0));
}

/* login_facts - the login facts of ADDRESS for floodctl. */
json_t *login_facts(store_db *db, const struct config_passwords *p, const char *address, char *err,
                    size_t errlen)
{
    char a[256];
    if (!norm(address, a)) {
        accounts_no_such_user(address, err, errlen);
        return NULL;
    }
    json_t *o = store_logins_facts(db, a, err, errlen);
    if (o)
        login_annotate(o, p, time(NULL));
    return o;
}
