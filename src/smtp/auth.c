/* smtp/auth - SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms.  The password check runs argon2id on a worker thread, and an
 * unknown user is checked against a dummy hash, so the reply takes the same
 * time whether the account exists or not and the loop never blocks.
 *
 * Besides the main password an account may have app passwords (one per
 * device); a candidate in their shape is checked against each of them too
 * (at most APP_PASSWORDS_MAX more verifications).  Every refusal spends
 * the same verification, so the timing tells a guesser nothing about the
 * reason.
 *
 * This file only gathers facts: the exchange, the store's read of the
 * account's login state (from the network the engine names), the result
 * of the password check.  Whether the login may proceed (suspension, the
 * lockout after guessing, 2FA, an expired password, a ban) is the policy
 * engine's verdict (policy_auth_login), which it writes as it gets it.
 *
 * The checks wait their turn per client IP (auth_queue.h), so one host's
 * hundred guesses do not delay another's login, and a login verified a
 * moment ago is not verified again (accounts/login_cache.h). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accounts/login_cache.h"
#include "accounts/login_state.h"
#include "accounts/login_verify.h"
#include "accounts/password.h"
#include "core/log.h"
#include "core/util.h"
#include "smtp/auth_queue.h"
#include "smtp/session_internal.h"

struct auth_job {
    struct smtp_session *s;
    char user[256];
    char key[256];                     /* USER lowercased: the account */
    struct policy_login_ticket ticket; /* the network to read, the lockout's generation */
    char *password;
    char cached[PASSWORD_HASH_MAX]; /* the hash the login cache matched, or "" */
    struct login_verified v;        /* the check's facts, found on the worker */
};

static void auth_fail_reply(struct smtp_session *s, const char *reply)
{
    s->state = SMTP_STATE_HELO;
    smtp_reply(s, "%s", reply);
}

/* auth_verify_work - on a worker: the account's login state (its own
 * connection: the loop never reads the store) and which of its passwords
 * this is (accounts/login_verify, the check IMAP logins run too). */
static void auth_verify_work(void *arg)
{
    struct auth_job *j = arg;
    login_verify(store_thread_db(STORE_FILE), j->user, j->ticket.network, j->password, j->cached,
                 &j->v);
}

/* auth_verify_done - on the loop: the facts of the check go to the engine,
 * whose verdict is written as it comes. */
static void auth_verify_done(void *arg)
{
    struct auth_job *j = arg;
    struct smtp_session *s = j->s;
    struct policy_decision d;
    const char *label = j->v.app >= 0 ? j->v.st.app[j->v.app].label : NULL;
    s->state = SMTP_STATE_HELO;
    login_verified_remember(s->srv->logins, j->key, j->password, &j->v, time(NULL));
    OPENSSL_cleanse(j->password, strlen(j->password));
    free(j->password);
    policy_auth_verified(s->srv->policy, &s->origin, j->user, &j->ticket, &j->v, &d);
    if (d.action == POLICY_ACCEPT) {
        log_info("event=auth result=ok session=%lu user=%s ip=%s listener=%s app_password=%s",
                 s->serial, log_quote(j->user), s->origin.ip, s->lc->name, log_quote(label));
        smtp_reply(s, "235 2.7.0 Authentication successful");
    } else if (d.action == POLICY_DEFER) { /* our failure (the engine said which): not counted */
        smtp_reply_why(s, d.reason, "%s", d.text);
    } else {
        log_info("event=auth result=fail session=%lu user=%s ip=%s listener=%s reason=%s%s%s",
                 s->serial, log_quote(j->user), s->origin.ip, s->lc->name, d.reason,
                 label ? " app_password=" : "", label ? log_quote(label) : "");
        smtp_reply_why(s, d.reason, "%s", d.text);
        if (d.action == POLICY_DISCONNECT) /* banned meanwhile: not even a 535 */
            s->closing = true;
        else
            smtp_session_note_failure(s, "auth");
    }
    OPENSSL_cleanse(&j->v, sizeof j->v);
    free(j);
    smtp_session_resume(s);
}

/* auth_job_forget - a login taken out of the queue unchecked: wipe and
 * free its job; its session is back in command state. */
static struct smtp_session *auth_job_forget(struct auth_job *j)
{
    struct smtp_session *s = j->s;
    OPENSSL_cleanse(j->password, strlen(j->password));
    free(j->password);
    OPENSSL_cleanse(&j->v, sizeof j->v);
    free(j);
    s->state = SMTP_STATE_HELO;
    return s;
}

/* smtp_auth_drop_ip - IP was banned: its logins still waiting for a worker
 * are not checked; each session gets the ban's 421 and is closed. */
static void auth_dropped(void *arg)
{
    struct smtp_session *s = auth_job_forget(arg);
    char text[POLICY_TEXT_MAX];
    policy_banned_text(s->srv->policy, text, sizeof text);
    smtp_reply(s, "%s", text);
    s->closing = true;
    smtp_session_resume(s);
}

void smtp_auth_drop_ip(struct smtp_server *srv, const char *ip)
{
    auth_queue_drop(srv->auth_queue, ip, auth_dropped);
}

/* auth_dropped_stopping - shutdown: a login still waiting for a worker is
 * not checked; resuming the session answers 421 (shutting down). */
static void auth_dropped_stopping(void *arg)
{
    smtp_session_resume(auth_job_forget(arg));
}

void smtp_auth_drop_all(struct smtp_server *srv)
{
    auth_queue_drop_all(srv->auth_queue, auth_dropped_stopping);
}

/* auth_verify - hand the login state's read and the expensive hash
 * comparisons to a worker; a login the cache vouches for skips the fair
 * queue of password checks (it costs one read, not argon2). */
static void auth_verify(struct smtp_session *s, const char *user, const char *password)
{
    struct auth_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->password = strdup(password)) == NULL) {
        free(j);
        auth_fail_reply(s, "454 4.7.0 Temporary authentication failure");
        return;
    }
    j->s = s;
    str_copy(j->user, user, sizeof j->user);
    str_copy(j->key, user, sizeof j->key);
    str_lower(j->key);
    policy_login_begin(s->srv->policy, &s->origin, &j->ticket);
    const char *cached = login_cache_match(s->srv->logins, j->key, password, time(NULL));
    str_copy(j->cached, cached ? cached : "", sizeof j->cached);
    s->wait = SMTP_WAIT_AUTH; /* its socket stays readable (session_internal.h) */
    if (cached) {
        worker_pool_submit(s->srv->lookups, auth_verify_work, auth_verify_done, j);
        return;
    }
    auth_queue_submit(s->srv->auth_queue, s->origin.ip, auth_verify_work, auth_verify_done, j);
}

/* auth_end - the exchange ends without a login (RFC 4954 4): REPLY, and
 * back to command state, so that the client's next line is read as a
 * command, never as one more response.  It is one failed login for the
 * client IP (anti-hammering), counted here once.  The account's lockout
 * counts wrong passwords only: no password was tried. */
static void auth_end(struct smtp_session *s, const char *user, const char *reply,
                     const char *reason)
{
    struct policy_decision d; /* for the observers: the failure is counted below */
    log_info("event=auth result=fail session=%lu user=%s ip=%s listener=%s reason=%s", s->serial,
             log_quote(user), s->origin.ip, s->lc->name, reason);
    policy_auth_result(s->srv->policy, &s->origin, user ? user : "", NULL, false, reason, &d);
    OPENSSL_cleanse(s->auth_login_user, sizeof s->auth_login_user);
    auth_fail_reply(s, reply);
    smtp_session_note_failure(s, "auth");
}

void smtp_auth_refuse(struct smtp_session *s, enum auth_decode_status st)
{
    const char *user = s->auth_step == AUTH_STEP_LOGIN_PASS ? s->auth_login_user : NULL;
    const char *why = auth_decode_status_name(st);
    switch (st) {
    case AUTH_DECODE_CANCELLED: /* RFC 4954 4: "MUST reject ... with a 501" */
        auth_end(s, user, "501 5.7.0 Authentication aborted", why);
        break;
    case AUTH_DECODE_TOO_LONG: /* RFC 4954 6 */
        auth_end(s, user, "500 5.5.6 Authentication exchange line is too long", why);
        break;
    case AUTH_DECODE_BAD_BASE64: /* RFC 4954 4: 501 with 5.5.2 */
        auth_end(s, user, "501 5.5.2 Cannot decode the AUTH response (base64)", why);
        break;
    case AUTH_DECODE_MALFORMED:
        auth_end(s, user,
                 s->auth_step == AUTH_STEP_PLAIN ? "501 5.5.2 Malformed AUTH PLAIN response"
                                                 : "501 5.5.2 Malformed AUTH LOGIN response",
                 why);
        break;
    default: /* our failure, not the client's: not counted */
        auth_fail_reply(s, "454 4.7.0 Temporary authentication failure");
    }
}

/* auth_response - act on one response of the exchange: the LOGIN name
 * asks for the password; a PLAIN response or the LOGIN password goes to
 * the password check. */
static void auth_response(struct smtp_session *s, const char *line, size_t len)
{
    struct auth_response r;
    enum auth_decode_status st = auth_decode_response(s->auth_step, line, len, &r);
    if (st != AUTH_DECODE_OK) {
        smtp_auth_refuse(s, st);
        return;
    }
    if (s->auth_step == AUTH_STEP_LOGIN_USER) {
        str_copy(s->auth_login_user, r.user, sizeof s->auth_login_user);
        s->auth_step = AUTH_STEP_LOGIN_PASS;
        smtp_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
    } else if (s->auth_step == AUTH_STEP_LOGIN_PASS) {
        auth_verify(s, s->auth_login_user, r.password);
    } else if (*r.authzid && strcasecmp(r.authzid, r.user) != 0) {
        /* RFC 4616 2: we act only as ourselves, an authzid naming someone
         * else is refused. */
        auth_end(s, r.user, "535 5.7.8 Authentication credentials invalid", "authzid");
    } else {
        auth_verify(s, r.user, r.password);
    }
    auth_response_clear(&r);
}

void smtp_auth_start(struct smtp_session *s, const char *args, size_t len)
{
    const char *sp = memchr(args, ' ', len);
    size_t mech_len = sp ? (size_t)(sp - args) : len;
    const char *initial = sp ? sp + 1 : NULL;
    size_t initial_len = sp ? len - mech_len - 1 : 0;
    struct policy_decision d; /* banned while this session was open? */
    policy_auth_start(s->srv->policy, &s->origin, &d);
    if (!smtp_reply_decision(s, &d))
        return;
    s->state = SMTP_STATE_AUTH;
    if (mech_len == 5 && strncasecmp(args, "PLAIN", 5) == 0) {
        s->auth_step = AUTH_STEP_PLAIN;
        /* RFC 4954 4: "=" is an empty initial response. */
        if (initial && initial_len == 1 && initial[0] == '=')
            auth_response(s, "", 0);
        else if (initial)
            auth_response(s, initial, initial_len);
        else
            smtp_reply(s, "334 ");
    } else if (mech_len == 5 && strncasecmp(args, "LOGIN", 5) == 0) {
        s->auth_step = AUTH_STEP_LOGIN_USER;
        if (initial)
            auth_response(s, initial, initial_len);
        else
            smtp_reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
    } else {
        auth_fail_reply(s, "504 5.5.4 Unrecognized authentication type");
    }
}

void smtp_auth_continue(struct smtp_session *s, const char *line, size_t len)
{
    auth_response(s, line, len);
}
