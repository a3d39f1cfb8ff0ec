/* control/login_service - "login.check": another service's login (IMAP
 * through Dovecot) checked as SMTP AUTH checks one (room: control).
 *
 * The request names the user, the password, the client's IP as the
 * service saw it (Dovecot's %r, TCPREMOTEIP to a checkpassword program)
 * and the service ("imap").  On the loop the engine is asked first
 * whether the IP is banned (no argon2 is spent on it), then for the
 * network whose lock state to read (policy_login_begin); the check runs
 * on a worker in the IP's turn (auth_queue: one host's hundred guesses
 * do not delay another's login) and the verdict is the engine's
 * (policy_auth_login), which counts a wrong password toward the account's
 * lockout from that network and writes what it decides.  A refusal is
 * one failure of the IP toward its ban (policy_failure, hammering), as a
 * failed SMTP AUTH is: whoever guesses over IMAP is banned from SMTP too,
 * and the other way round.
 *
 * The answer is {"ok": bool, "user": the account (lowercased), "reason":
 * why not, "temporary": true when the store could not say,
 * "app_password": the label used}. */
#include "control/login_service.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/login_cache.h"
#include "accounts/login_verify.h"
#include "core/log.h"
#include "core/util.h"
#include "policy/engine.h"
#include "policy/origin.h"
#include "smtp/auth_queue.h"

#define LOGIN_USER_MAX 256     /* an address: RFC 5321 4.5.3.1.3 allows 254 */
#define LOGIN_PASSWORD_MAX 512 /* SMTP AUTH's line limit leaves less after base64 */
#define LOGIN_SERVICE_MAX 16
#define LOGIN_SLOTS 2 /* checks on the workers at once (SMTP AUTH has its own) */

struct login_service {
    struct smtp_server *srv;
    struct auth_queue *queue; /* this service's checks, fair per IP */
    unsigned long serial;     /* numbers the checks in the log (check=) */
    bool stopping;            /* shutdown: no check starts, each is answered at once */
};

/* One check, from the request to the answer. */
struct login_job {
    struct login_service *ls;
    struct control_job *job;
    struct config *cfg; /* the config the check started with (held) */
    struct origin o;    /* session 0: no SMTP session */
    unsigned long serial;
    char user[LOGIN_USER_MAX];
    char key[LOGIN_USER_MAX]; /* USER lowercased: the account */
    char service[LOGIN_SERVICE_MAX];
    char *password;
    char cached[PASSWORD_HASH_MAX]; /* the hash the login cache matched, or "" */
    struct policy_login_ticket ticket;
    struct login_verified v; /* the worker's findings */
};

/* job_free - wipe and free J (its origin, its config, its secrets). */
static void job_free(struct login_job *j)
{
    if (j->password) {
        OPENSSL_cleanse(j->password, strlen(j->password));
        free(j->password);
    }
    OPENSSL_cleanse(&j->v, sizeof j->v);
    origin_clear(&j->o);
    config_unref(j->cfg);
    free(j);
}

/* answer - send J's verdict and free J.  OK: logged in; otherwise WHY,
 * and TEMPORARY when it was not the client's failure. */
static void answer(struct login_job *j, bool ok, const char *why, bool temporary)
{
    json_t *r = json_pack("{s:b, s:s, s:s*, s:b, s:s*}", "ok", ok, "user", j->key, "reason",
                          ok ? NULL : why, "temporary", temporary, "app_password",
                          ok ? j->o.app_password : NULL);
    control_answer(j->job, r, "out of memory");
    job_free(j);
}

/* refuse - a login refused on the loop before any check (bad request,
 * banned IP). */
static void refuse_request(struct control_job *job, const char *why)
{
    control_answer(job, NULL, why);
}

/* check_work - on a worker: the account's login state and which of its
 * passwords this is. */
static void check_work(void *arg)
{
    struct login_job *j = arg;
    store_db *db = store_thread_db(STORE_FILE);
    login_verify(db, j->user, j->ticket.network, j->password, j->cached, &j->v);
}

/* log_result - the line SMTP AUTH writes, with the service as listener
 * and the check's number in place of a session's. */
static void log_result(const struct login_job *j, bool ok, const char *why)
{
    if (ok)
        log_info("event=auth result=ok check=%lu user=%s ip=%s listener=%s app_password=%s",
                 j->serial, log_quote(j->user), j->o.ip, j->service, log_quote(j->o.app_password));
    else
        log_info("event=auth result=fail check=%lu user=%s ip=%s listener=%s reason=%s", j->serial,
                 log_quote(j->user), j->o.ip, j->service, why);
}

/* check_done - on the loop: the engine's verdict on the facts; a refusal
 * is one failure of the IP toward its ban. */
static void check_done(void *arg)
{
    struct login_job *j = arg;
    struct smtp_server *srv = j->ls->srv;
    struct policy_decision d, f;
    login_verified_remember(srv->logins, j->key, j->password, &j->v, time(NULL));
    policy_auth_verified(srv->policy, &j->o, j->user, &j->ticket, &j->v, &d);
    bool ok = d.action == POLICY_ACCEPT;
    log_result(j, ok, d.reason);
    if (d.action == POLICY_REJECT) {
        char what[LOGIN_SERVICE_MAX + 8];
        snprintf(what, sizeof what, "%s_auth", j->service);
        policy_failure(srv->policy, &j->o, what, &f);
    }
    answer(j, ok, d.reason, d.action == POLICY_DEFER);
}

/* check_dropped - shutdown: a check not started yet is not run. */
static void check_dropped(void *arg)
{
    answer(arg, false, "shutting_down", true);
}

/* service_name - Dovecot's SERVICE ("imap", "pop3"...) as a log word:
 * letters, digits and '-' only, at most LOGIN_SERVICE_MAX - 1. */
static void service_name(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (; in && *in && n + 1 < len; in++)
        if ((*in >= 'a' && *in <= 'z') || (*in >= '0' && *in <= '9') || *in == '-')
            out[n++] = *in;
    out[n] = '\0';
    if (n == 0)
        str_copy(out, "service", len);
}

/* client_sockaddr - IP (Dovecot's text form) as a socket address. */
static int client_sockaddr(const char *ip, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        *len = sizeof *v6;
        return 0;
    }
    return -1;
}

/* new_job - J for REQUEST, or NULL with *WHY set (a bad request). */
static struct login_job *new_job(struct login_service *ls, json_t *req, const char **why)
{
    const char *user = json_string_value(json_object_get(req, "user"));
    const char *password = json_string_value(json_object_get(req, "password"));
    const char *ip = json_string_value(json_object_get(req, "ip"));
    struct sockaddr_storage ss;
    socklen_t sslen;
    *why = "login.check needs user, password and ip (strings)";
    if (user == NULL || password == NULL || ip == NULL)
        return NULL;
    *why = "login.check: user or password too long";
    if (strlen(user) >= LOGIN_USER_MAX || strlen(password) > LOGIN_PASSWORD_MAX)
        return NULL;
    *why = "login.check: ip is not an IPv4 or IPv6 address";
    if (client_sockaddr(ip, &ss, &sslen) < 0)
        return NULL;
    *why = "out of memory";
    struct login_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->password = strdup(password)) == NULL) {
        free(j);
        return NULL;
    }
    j->ls = ls;
    j->cfg = config_ref(ls->srv->cfg);
    str_copy(j->user, user, sizeof j->user);
    str_copy(j->key, user, sizeof j->key);
    str_lower(j->key);
    service_name(json_string_value(json_object_get(req, "service")), j->service, sizeof j->service);
    j->serial = ++ls->serial;
    origin_init(&j->o, 0, (struct sockaddr *)&ss, sslen, j->service, j->cfg);
    return j;
}

/* login_check - the control command: bans first, then the check in the
 * IP's turn. */
static void login_check(void *ctx, json_t *req, struct control_job *job)
{
    struct login_service *ls = ctx;
    const char *why;
    struct policy_decision d;
    struct login_job *j = new_job(ls, req, &why);
    if (j == NULL) {
        refuse_request(job, why);
        return;
    }
    j->job = job;
    if (ls->stopping) { /* a request read while the daemon stops: no worker takes it */
        answer(j, false, "shutting_down", true);
        return;
    }
    policy_auth_start(ls->srv->policy, &j->o, &d);
    if (d.action != POLICY_ACCEPT) { /* banned: no argon2 for it */
        log_result(j, false, d.reason);
        answer(j, false, d.reason, false);
        return;
    }
    policy_login_begin(ls->srv->policy, &j->o, &j->ticket);
    const char *cached = login_cache_match(ls->srv->logins, j->key, j->password, time(NULL));
    str_copy(j->cached, cached ? cached : "", sizeof j->cached);
    auth_queue_submit(ls->queue, j->o.ip, check_work, check_done, j);
}

struct login_service *login_service_start(struct control_server *ctl, struct smtp_server *srv,
                                          struct worker_pool *workers)
{
    struct login_service *ls = calloc(1, sizeof *ls);
    if (ls == NULL || (ls->queue = auth_queue_new(workers, LOGIN_SLOTS)) == NULL) {
        free(ls);
        return NULL;
    }
    ls->srv = srv;
    control_server_register_async(ctl, "login.check", login_check, ls);
    return ls;
}

void login_service_stop(struct login_service *ls)
{
    if (ls == NULL)
        return;
    ls->stopping = true;
    auth_queue_drop_all(ls->queue, check_dropped);
    auth_queue_stop(ls->queue);
}

void login_service_free(struct login_service *ls)
{
    if (ls == NULL)
        return;
    auth_queue_free(ls->queue);
    free(ls);
}
