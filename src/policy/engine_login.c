/* policy/engine_login - the engine's verdict on a login (room: policy).
 *
 * The SMTP room reports the facts of one AUTH: who the client said it is,
 * what the store said of the account (struct login_state, read on a worker
 * from the network policy_login_begin named), and what the password check
 * found (the main password matched, or one of the app passwords).  The
 * decision is made here: suspension, the lockout after guessing, 2FA (the
 * main password no longer logs in), an expired password, a ban meanwhile.
 *
 * The lockout's rules and counts are the accounts room's
 * (accounts/lockout.c, per account AND client network: a botnet guessing
 * alice's password locks its own networks out for alice, not alice at
 * hers); the engine applies them and writes the locks it decides through
 * the committer.  A lock just decided reaches the store a moment later: an
 * AUTH whose store read began before that write committed would miss it,
 * so each such lock is also kept in memory and binds every login whose
 * read began before it was stored (lockout_pending_*, with the generation
 * noted by policy_login_begin). */
#include "policy/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/lockout.h"
#include "accounts/login_state.h"
#include "accounts/login_verify.h"
#include "core/log.h"
#include "core/util.h"
#include "store/committer.h"

_Static_assert(POLICY_NETWORK_MAX == LOCKOUT_NETWORK_MAX, "a login's network is the lockout's");

#define AUTH_TEMPFAIL "454 4.7.0 Temporary authentication failure"

/* The store writes a login asks of the committer: a lock, a login from a
 * network, or the last use of an app password.  None holds up the reply. */
struct login_write {
    char user[256];
    char network[POLICY_NETWORK_MAX]; /* "" with until: the account-wide lock */
    long long until;                  /* lock: until when */
    unsigned failures;                /* lock: the failures that made it */
    long long app_id;                 /* app password: its id */
    long long when;
    char ip[64];
};

/* login_write_apply - on the committer thread, inside its transaction. */
static int login_write_apply(store_db *db, void *arg, char *err, size_t errlen)
{
    struct login_write *w = arg;
    int rc = w->app_id ? login_app_password_used(db, w->app_id, w->when, w->ip) : 0;
    if (rc == 0 && w->until)
        rc = login_lock(db, w->user, w->network[0] ? w->network : NULL, w->until, w->failures,
                        w->when);
    else if (rc == 0 && w->network[0])
        rc = login_network_ok(db, w->user, w->network, w->when);
    if (rc < 0)
        snprintf(err, errlen, "%s", store_errmsg(db));
    return rc;
}

/* login_write_done - on the loop: a stored lock is marked so (logins that
 * read the store from now on see it there); a failed write is logged, and
 * its lock holds in memory until it ends (lockout_pending_locked). */
static void login_write_done(void *arg, int status, const char *err)
{
    struct login_write *w = arg;
    if (status < 0)
        log_warnx("event=store_error op=%s user=%s error=%s",
                  w->until ? "account_lock" : "login_recorded", log_quote(w->user), log_quote(err));
    else if (w->until)
        lockout_stored(w->user, w->network);
    free(w);
}

/* login_write - hand one store write to the committer: a lock of USER
 * from NETWORK ("": account-wide) until UNTIL after FAILURES, or (UNTIL 0)
 * a login from NETWORK (when not "") with app password APP_ID (when not
 * 0).  Without a committer (unit tests) nothing is written, and a lock
 * holds in memory only. */
static void login_write(struct policy *p, const struct origin *o, const char *user,
                        const char *network, long long until, unsigned failures, long long app_id)
{
    if (p->committer == NULL)
        return;
    struct login_write *w = calloc(1, sizeof *w);
    if (w == NULL) {
        log_warnx("event=store_error op=login_write user=%s error=out_of_memory", log_quote(user));
        return;
    }
    str_copy(w->user, user, sizeof w->user);
    str_copy(w->network, network, sizeof w->network);
    w->until = until;
    w->failures = failures;
    w->app_id = app_id;
    w->when = (long long)time(NULL);
    str_copy(w->ip, o->ip, sizeof w->ip);
    committer_submit(p->committer, login_write_apply, login_write_done, w);
}

void policy_login_begin(struct policy *p, const struct origin *o, struct policy_login_ticket *t)
{
    lockout_network(&p->cfg->lockout, o->ip, t->network, sizeof t->network);
    t->generation = lockout_generation();
}

/* lock - KEY, guessed at from the client's NETWORK, is locked from
 * SCOPE (that network, or "": account-wide) after FAILURES in WINDOW
 * seconds: log it, keep it in memory until the store has it, write it. */
static void lock(struct policy *p, const struct origin *o, const char *key, const char *network,
                 const char *scope, unsigned failures, unsigned window)
{
    char when[32];
    long long until = (long long)time(NULL) + p->cfg->lockout.duration;
    log_info("event=account_locked user=%s failures=%u window=%us until=%s ip=%s network=%s"
             " scope=%s",
             log_quote(key), failures, window, iso8601_utc((time_t)until, when, sizeof when), o->ip,
             log_quote(network), scope[0] ? "network" : "account");
    lockout_pending_add(key, scope, (time_t)until);
    login_write(p, o, key, scope, until, failures, 0);
}

/* bad_password - a wrong password for a known account: count it, and lock
 * the main password from the client's network when there were too many
 * from there, or account-wide when there were very many from all. */
static void bad_password(struct policy *p, const struct origin *o, const char *key,
                         const char *network, time_t now)
{
    struct lockout_verdict v;
    const struct config_lockout *l = &p->cfg->lockout;
    lockout_failure(l, key, network, now, &v);
    if (v.lock_network)
        lock(p, o, key, network, network, v.count, l->window);
    if (v.lock_account)
        lock(p, o, key, network, "", v.account_count, l->account_window);
}

/* good_login - a login that succeeded: its network's failures are
 * forgotten, and the store learns (at most once an hour per network, so
 * that a busy account costs no write per login) that the account logs in
 * from there: the account-wide lock spares such networks. */
static void good_login(struct policy *p, const struct origin *o, const struct policy_login *l,
                       const char *key, time_t now)
{
    const char *network = l->ticket->network;
    lockout_success(key, network);
    if (l->app >= 0)
        login_write(p, o, key, network, 0, 0, l->st->app[l->app].id);
    else if (now - l->st->network_last_ok >= 3600)
        login_write(p, o, key, network, 0, 0, 0);
}

/* locked - the main password is locked from the client's network: by the
 * store as the login read it, or by a lock decided here that the read may
 * have come too early to see. */
static bool locked(struct policy *p, const struct policy_login *l, const char *key, time_t now)
{
    unsigned age = p->cfg->lockout.known_network_age;
    return login_main_locked(l->st, now, age) ||
           lockout_pending_locked(key, l->ticket->network, l->ticket->generation, now,
                                  login_network_known(l->st, now, age));
}

/* main_verdict - why a matching main password may still not log in: NULL
 * when it may. */
static const char *main_verdict(struct policy *p, const struct origin *o,
                                const struct policy_login *l, const char *key, time_t now)
{
    long long expires;
    if (l->st->suspended)
        return "suspended";
    if (locked(p, l, key, now))
        return "locked";
    if (l->st->totp_enabled)
        return "2fa_requires_app_password";
    enum password_age age = password_age_of(&p->cfg->passwords, l->st->password_expired,
                                            l->st->password_changed, now, &expires);
    if (age == PASSWORD_EXPIRED)
        return "expired";
    if (age == PASSWORD_EXPIRING) {
        char when[32];
        log_info("event=password_expiring user=%s expires=%s session=%lu", log_quote(l->user),
                 iso8601_utc((time_t)expires, when, sizeof when), o->session);
    }
    return NULL;
}

/* login_verdict - the reason to refuse L, or NULL to accept; *LABEL gets
 * the app password that matched.  App passwords log in while the main
 * password is locked, 2FA is on or it expired: a botnet guessing alice's
 * password must not lock her phone out, and they are long random strings
 * nobody guesses. */
static const char *login_verdict(struct policy *p, const struct origin *o,
                                 const struct policy_login *l, const char *key, const char **label)
{
    time_t now = time(NULL);
    *label = NULL;
    if (l->found != 1)
        return "unknown_user";
    if (l->app >= 0) {
        *label = l->st->app[l->app].label;
        return l->st->suspended ? "suspended" : NULL;
    }
    if (l->main_ok)
        return main_verdict(p, o, l, key, now);
    /* While locked, a wrong password is "locked" too, and counts nothing. */
    if (locked(p, l, key, now))
        return "locked";
    bad_password(p, o, key, l->ticket->network, now);
    return "bad_password";
}

/* expired_text - the 535 of a right password that expired says so, and
 * where to change it: the web's /account page when web.public_url says
 * where users reach it, else the administrator.  Only the holder of the
 * password reads it (it matched), so it tells a guesser nothing. */
static const char *expired_text(struct policy *p, char *buf, size_t len)
{
    const char *url = p->cfg->web.public_url;
    if (url != NULL)
        snprintf(buf, len, "535 5.7.8 Your password has expired: change it at %s/account", url);
    else
        snprintf(buf, len,
                 "535 5.7.8 Your password has expired: ask your administrator to set a "
                 "new one");
    return buf;
}

void policy_auth_login(struct policy *p, struct origin *o, const struct policy_login *l,
                       struct policy_decision *d)
{
    char key[256], text[POLICY_TEXT_MAX];
    const char *label;
    if (l->found < 0) { /* the store could not say: our failure, not counted */
        log_warnx("event=store_error op=login_state session=%lu user=%s", o->session,
                  log_quote(l->user));
        policy_decide(d, POLICY_DEFER, "store_error", AUTH_TEMPFAIL);
        return;
    }
    str_copy(key, l->user, sizeof key);
    str_lower(key);
    const char *why = login_verdict(p, o, l, key, &label);
    bool expired = why != NULL && strcmp(why, "expired") == 0;
    policy_auth_outcome(p, o, l->user, label, why == NULL, why,
                        expired ? expired_text(p, text, sizeof text) : NULL, d);
    if (d->action != POLICY_ACCEPT)
        return;
    if (origin_set_auth(o, l->user, label) < 0) {
        log_warnx("event=auth result=fail session=%lu user=%s reason=out_of_memory", o->session,
                  log_quote(l->user));
        policy_decide(d, POLICY_DEFER, "out_of_memory", AUTH_TEMPFAIL);
        return;
    }
    good_login(p, o, l, key, time(NULL));
}

void policy_auth_verified(struct policy *p, struct origin *o, const char *user,
                          const struct policy_login_ticket *ticket, const struct login_verified *v,
                          struct policy_decision *d)
{
    struct policy_login l = {.user = user,
                             .ticket = ticket,
                             .found = v->found,
                             .st = &v->st,
                             .main_ok = v->main_ok,
                             .app = v->app};
    policy_auth_login(p, o, &l, d);
}
