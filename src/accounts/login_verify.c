/* accounts/login_verify - one password check: the account's login state
 * and which of its passwords the candidate is (room: accounts).  See
 * login_verify.h. */
#include "accounts/login_verify.h"

#include <openssl/crypto.h>
#include <string.h>

#include "accounts/app_passwords.h"
#include "accounts/login_cache.h"
#include "accounts/password.h"

/* recently_verified - the login cache matched this password of this
 * account a moment ago (CACHED) against a hash the account still has:
 * the verdict is known without argon2. */
static bool recently_verified(struct login_verified *v, const char *cached)
{
    v->app = -1;
    if (v->found != 1 || cached[0] == '\0')
        return false;
    v->main_ok = strcmp(cached, v->st.hash) == 0;
    for (size_t i = 0; i < v->st.n_app && !v->main_ok && v->app < 0; i++)
        if (strcmp(cached, v->st.app[i].hash) == 0)
            v->app = (int)i;
    return v->main_ok || v->app >= 0;
}

void login_verify(store_db *db, const char *user, const char *network, const char *password,
                  const char *cached, struct login_verified *out)
{
    char canon[APP_PASSWORD_SYMBOLS + 1];
    memset(out, 0, sizeof *out);
    out->app = -1;
    out->found = db ? login_state_read(db, user, network, &out->st) : -1;
    if (out->found < 0 || recently_verified(out, cached))
        return;
    bool known = out->found == 1;
    const char *hash = known ? out->st.hash : password_dummy_hash();
    out->main_ok = password_verify(hash, password) && known;
    if (out->main_ok || !known || !app_password_canonical(password, canon))
        return;
    for (size_t i = 0; i < out->st.n_app && out->app < 0; i++)
        if (password_verify(out->st.app[i].hash, canon))
            out->app = (int)i;
    OPENSSL_cleanse(canon, sizeof canon);
}

void login_verified_remember(struct login_cache *cache, const char *key, const char *password,
                             const struct login_verified *v, time_t now)
{
    if (v->main_ok || v->app >= 0)
        login_cache_remember(cache, key, password, v->main_ok ? v->st.hash : v->st.app[v->app].hash,
                             now);
}
