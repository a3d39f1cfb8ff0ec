/* smtp/outbreak_hooks - the outbreak module plugged into the policy
 * engine (room: smtp): an observer that feeds it every login, the end of
 * every logged-in session, every message at the end of DATA (and turns
 * the engine's ACCEPT into HOLD for a sender it holds) and every bounce
 * accepted for a local account, and the engine's calls for what
 * containment does to live clients (end their sessions, ban their IPs). */
#include <stdbool.h>
#include <string.h>

#include "core/util.h"
#include "policy/detector.h"
#include "policy/engine.h"
#include "policy/origin.h"
#include "smtp/outbreak.h"
#include "smtp/server.h"

/* The reasons of a failed login that are a password's verdict: a guess
 * (or a stuffing list's entry) that was checked.  A refused exchange or a
 * banned client tells nothing about the account. */
static bool guessed(const char *reason)
{
    static const char *const verdicts[] = {"bad_password", "unknown_user", "locked", NULL};
    for (size_t i = 0; reason && verdicts[i]; i++)
        if (strcmp(reason, verdicts[i]) == 0)
            return true;
    return false;
}

static void on_auth(void *arg, const struct origin *o, const char *user, const char *label, bool ok,
                    const char *reason)
{
    if (user == NULL || *user == '\0' || (!ok && !guessed(reason)))
        return;
    outbreak_auth(arg, user, o->ip, label, o->session, ok);
}

static void on_session_end(void *arg, const struct origin *o)
{
    if (o->auth_user != NULL)
        outbreak_session_end(arg, o->auth_user, o->session);
}

static void on_end_of_data(void *arg, const struct origin *o, const struct policy_message *m,
                           struct policy_decision *d)
{
    char key[300];
    if (d->action != POLICY_ACCEPT || origin_sender_key(o, key, sizeof key) == NULL)
        return;
    struct outbreak_message om = {.subject = key,
                                  .session = o->session,
                                  .client_ip = o->ip,
                                  .app_password = o->app_password,
                                  .header_from = m->header_from,
                                  .display_name = m->from_name,
                                  .subject_header = m->subject,
                                  .body = m->body,
                                  .body_len = m->body_len,
                                  .rcpts = m->rcpt_orig,
                                  .rcpt_local = m->rcpt_orig_local,
                                  .n_rcpts = m->n_rcpt_orig};
    if (outbreak_end_of_data(arg, &om)) {
        /* accepted with 250, stored held: nothing leaves, and the sender
         * is not warned that it was noticed */
        d->action = POLICY_HOLD;
        str_copy(d->reason, "detector", sizeof d->reason);
    }
}

/* orempty - S, or "" for NULL. */
static const char *orempty(const char *s)
{
    return s ? s : "";
}

static void on_accepted(void *arg, const struct origin *o, const struct policy_message *m)
{
    char key[300];
    if (origin_sender_key(o, key, sizeof key) != NULL)
        outbreak_accepted(arg, key, m->queue_id, m->held);
    /* a bounce counts for each account it comes back to (the expanded
     * recipients: an alias's bounce reaches its accounts); the detector
     * keeps it only for an account that has been sending */
    if (detector_is_bounce(orempty(m->sender), orempty(m->report_type), orempty(m->auto_submitted),
                           m->failed_recipients))
        for (size_t i = 0; i < m->n_rcpts; i++)
            outbreak_bounce(arg, m->rcpts[i]);
}

/* end_sessions - the live sessions of USER (or of IP). */
static unsigned end_sessions(void *ctx, const char *user, const char *ip, const char *reason)
{
    struct smtp_server *srv = ctx;
    struct policy_match match = {.user = user, .ip = user ? NULL : ip};
    return policy_end_sessions(srv->policy, &match, NULL, reason);
}

static void ban(void *ctx, const char *ip, unsigned seconds, const char *reason)
{
    struct smtp_server *srv = ctx;
    policy_ban_add(srv->policy, ip, seconds, reason);
}

int outbreak_plug(struct outbreak *o, struct smtp_server *srv)
{
    struct policy_observer obs = {.arg = o,
                                  .auth = on_auth,
                                  .end_of_data = on_end_of_data,
                                  .accepted = on_accepted,
                                  .session_end = on_session_end};
    struct outbreak_ops ops = {.ctx = srv, .end_sessions = end_sessions, .ban = ban};
    outbreak_set_ops(o, &ops);
    return policy_add_observer(srv->policy, &obs);
}
