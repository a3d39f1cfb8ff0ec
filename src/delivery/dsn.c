/* delivery/dsn - queue a DSN for a failed message. */
#include "delivery/dsn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "core/log.h"
#include "core/util.h"
#include "delivery/bounce.h"
#include "queue/envelope.h"
#include "store/body.h"
#include "store/store.h"

static bool any_in(const struct delivery_rcpt *r, size_t n, enum delivery_outcome o)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].outcome == o)
            return true;
    return false;
}

/* read_headers - the original's header section, at most LEN octets. */
static size_t read_headers(store_db *db, const char *qid, char *buf, size_t len)
{
    struct store_body *body = store_body_get(db, qid);
    if (body == NULL)
        return 0;
    size_t size = store_body_size(body);
    size_t n = size < len ? size : len;
    long got = store_body_read(body, 0, buf, n);
    store_body_close(body);
    return bounce_header_end(buf, got > 0 ? (size_t)got : 0);
}

/* dsn_recipient - where the DSN goes: for a sender in one of our domains,
 * what that address delivers to (the user, or the first target of an
 * alias); for any other sender the address itself, remotely.  -1 when a
 * sender of ours has no mailbox: MX routing would only bring the DSN back
 * here, so it is dropped instead; -2 on a store error. */
static int dsn_recipient(store_db *db, const char *sender, char *out, size_t len, bool *local)
{
    struct accounts_expansion x = {0};
    char key[256];
    str_copy(key, sender, sizeof key);
    const char *at = strrchr(key, '@');
    *local = false;
    if (at == NULL || !accounts_domain_is_local(db, at + 1)) {
        str_copy(out, sender, len);
        return 0;
    }
    enum accounts_rcpt_kind k = accounts_resolve(db, str_lower(key), &x);
    int rc = k == ACCOUNTS_RCPT_ERROR ? -2 : -1;
    if ((k == ACCOUNTS_RCPT_USER || k == ACCOUNTS_RCPT_ALIAS) && x.n > 0) {
        str_copy(out, x.t[0].address, len);
        *local = x.t[0].local;
        rc = 0;
    }
    accounts_expansion_free(&x);
    return rc;
}

int dsn_enqueue(store_db *db, const char *hostname, const char *spool_dir,
                const struct dsn_original *orig, const struct delivery_rcpt *r, size_t n, char *err,
                size_t errlen)
{
    /* RFC 5321 6.1 / RFC 3464: never a bounce to <>, so bounces cannot loop */
    if (orig->sender[0] == '\0' ||
        !any_in(r, n, orig->delayed ? OUTCOME_DEFERRED : OUTCOME_BOUNCED))
        return 0;
    static __thread char headers[BOUNCE_HEADERS_MAX];
    size_t hlen = read_headers(db, orig->qid, headers, sizeof headers);
    struct bounce_info bi = {.hostname = hostname,
                             .qid = orig->qid,
                             .sender = orig->sender,
                             .arrival = orig->created,
                             .remote_mta = orig->remote_mta,
                             .delayed = orig->delayed};
    char to[256];
    struct envelope_rcpt rcpt = {.address = to, .orig = to};
    int found = dsn_recipient(db, orig->sender, to, sizeof to, &rcpt.local);
    if (found == -2) {
        snprintf(err, errlen, "cannot look up the sender %s of %s", orig->sender, orig->qid);
        return -1;
    }
    if (found < 0) {
        log_info("event=dsn_dropped qid=%s to=%s reason=%s", orig->qid,
                 log_quote_addr(orig->sender),
                 log_quote("the sender is in a local domain but has no mailbox"));
        return 0;
    }
    struct spool body;
    spool_init(&body, spool_dir);
    struct envelope env = {.created = time(NULL),
                           .sender = "",
                           .client_ip = "127.0.0.1",
                           .listener = "bounce",
                           .subject = orig->delayed ? "Delayed Mail (still being retried)"
                                                    : "Undelivered Mail Returned to Sender",
                           .rcpts = &rcpt,
                           .n_rcpts = 1,
                           .body = &body};
    queue_id_new(env.id);
    int rc = bounce_build(&body, &bi, r, n, headers, hlen) == 0 ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "cannot build the DSN for %s", orig->qid);
    else
        rc = envelope_store(db, &env, err, errlen);
    spool_free(&body);
    if (rc < 0)
        return -1;
    log_info("event=%s qid=%s dsn_qid=%s to=%s", orig->delayed ? "delay_warning" : "bounce",
             orig->qid, env.id, log_quote_addr(orig->sender));
    return 1;
}
