/* queue/inject - re-insert a saved message into the queue. */
#include "queue/inject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/envelope.h"
#include "store/store.h"
#include "core/header_scan.h"

/* read_message - the file into SP with CR LF line ends (files saved on
 * disk usually have bare LF; the queue keeps the wire form). */
static int read_message(const struct inject_request *req, struct spool *sp, char *err,
                        size_t errlen)
{
    FILE *in = req->in ? req->in : fopen(req->path, "rb");
    if (in == NULL) {
        snprintf(err, errlen, "%s: cannot open", req->path);
        return -1;
    }
    char buf[65536];
    size_t k;
    int prev = 0, rc = 0;
    while (rc == 0 && (k = fread(buf, 1, sizeof buf, in)) > 0) {
        size_t start = 0;
        for (size_t i = 0; i < k && rc == 0; i++) {
            if (buf[i] == '\n' && (i > 0 ? buf[i - 1] : prev) != '\r') {
                rc = spool_append(sp, buf + start, i - start);
                if (rc == 0)
                    rc = spool_append(sp, "\r", 1);
                start = i;
            }
        }
        if (rc == 0)
            rc = spool_append(sp, buf + start, k - start);
        prev = buf[k - 1];
        if (spool_size(sp) > req->max_size) {
            snprintf(err, errlen, "%s: larger than limits.max_message_size", req->path);
            rc = -1;
        }
    }
    if (rc == 0 && prev != '\n')
        rc = spool_append(sp, "\r\n", 2);
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "%s: cannot read or spool it", req->path);
    if (in != req->in)
        fclose(in);
    return rc;
}

/* add_recipient - RCPT, local through its aliases (into X), as RCPT would. */
static int add_recipient(store_db *db, const char *rcpt, struct envelope *env,
                         struct accounts_expansion *x, char *err, size_t errlen)
{
    char a[256];
    str_copy(a, rcpt, sizeof a);
    str_lower(a);
    const char *at = strrchr(a, '@');
    if (at == NULL || at == a || at[1] == '\0') {
        snprintf(err, errlen, "%s is not an address", rcpt);
        return -1;
    }
    if (!accounts_domain_is_local(db, at + 1))
        return envelope_add_rcpt(env, a, rcpt, false) < 0 ? -1 : 0;
    enum accounts_rcpt_kind k = accounts_resolve(db, a, x);
    if (k == ACCOUNTS_RCPT_LOOP || k == ACCOUNTS_RCPT_TOO_MANY) {
        snprintf(err, errlen, "%s: %s: see 'floodctl alias list'", a, x->why);
        return -1;
    }
    if (k == ACCOUNTS_RCPT_UNKNOWN || k == ACCOUNTS_RCPT_ERROR || x->n == 0) {
        snprintf(err, errlen, "no such local recipient %s: see 'floodctl user list'", a);
        return -1;
    }
    for (size_t i = 0; i < x->n; i++)
        if (envelope_add_rcpt(env, x->t[i].address, rcpt, x->t[i].local) < 0)
            return -1;
    return 0;
}

/* add_recipients - local ones through their aliases, as RCPT would. */
static int add_recipients(store_db *db, const struct inject_request *req, struct envelope *env,
                          char *err, size_t errlen)
{
    struct accounts_expansion x = {0};
    int rc = 0;
    for (size_t i = 0; i < req->n_rcpts && rc == 0; i++)
        rc = add_recipient(db, req->rcpts[i], env, &x, err, errlen);
    accounts_expansion_free(&x);
    return rc;
}

int queue_inject(store_db *db, const struct inject_request *req, char *qid, char *err,
                 size_t errlen)
{
    struct spool sp;
    struct envelope env = {0};
    struct header_facts facts;
    char date[64], why[256];
    err[0] = '\0';
    spool_init(&sp, req->spool_dir);
    int rc = read_message(req, &sp, err, errlen);
    if (rc == 0) {
        header_scan(sp.mem, sp.mem_len, &facts);
        queue_id_new(env.id);
        env.created = time(NULL);
        env.body = &sp;
        if ((env.sender = strdup(req->sender)) == NULL ||
            (env.client_ip = strdup("127.0.0.1")) == NULL ||
            (env.listener = strdup("inject")) == NULL ||
            (facts.from[0] && (env.header_from = strdup(facts.from)) == NULL) ||
            (facts.subject[0] && (env.subject = strdup(facts.subject)) == NULL) ||
            (facts.message_id[0] && (env.message_id = strdup(facts.message_id)) == NULL) ||
            asprintf(
                &env.trace,
                "Received: by %s (Floodgate) with local id %s\r\n\t(injected by %s);\r\n\t%s\r\n",
                req->hostname, env.id, req->admin,
                rfc5322_date(env.created, date, sizeof date)) < 0) {
            env.trace = NULL;
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0)
        rc = add_recipients(db, req, &env, err, errlen);
    if (rc == 0 && store_begin(db, true, why, sizeof why) < 0) {
        snprintf(err, errlen, "store: %s", why);
        rc = -1;
    } else if (rc == 0) {
        rc = envelope_store(db, &env, err, errlen);
        if (rc == 0 && store_commit(db, why, sizeof why) < 0) {
            snprintf(err, errlen, "store: %s", why);
            rc = -1;
        }
        if (rc < 0)
            store_rollback(db);
    }
    if (rc == 0) {
        memcpy(qid, env.id, sizeof env.id);
        log_info("event=injected qid=%s from=%s nrcpt=%zu size=%zu admin=%s file=%s", env.id,
                 log_quote_addr(env.sender), env.n_rcpts, envelope_size(&env),
                 log_quote(req->admin), log_quote(req->path));
    }
    envelope_clear(&env);
    free(env.rcpts);
    spool_free(&sp);
    return rc;
}
