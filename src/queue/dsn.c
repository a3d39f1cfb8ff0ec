/* queue/dsn - queue a DSN for a failed message. */
#include "queue/dsn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "core/log.h"
#include "core/util.h"
#include "delivery/bounce.h"
#include "queue/envelope.h"
#include "queue/store.h"

static bool any_in(const struct delivery_rcpt *r, size_t n, enum delivery_outcome o)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].outcome == o)
            return true;
    return false;
}

/* read_headers - the original's header section, at most LEN octets. */
static size_t read_headers(sqlite3 *db, const char *qid, char *buf, size_t len)
{
    sqlite3_blob *blob;
    if (store_body_open(db, qid, &blob) < 0)
        return 0;
    int size = sqlite3_blob_bytes(blob);
    size_t n = (size_t)size < len ? (size_t)size : len;
    size_t got = sqlite3_blob_read(blob, buf, (int)n, 0) == SQLITE_OK ? n : 0;
    sqlite3_blob_close(blob);
    return bounce_header_end(buf, got);
}

/* dsn_recipient - where the DSN goes: the sender's mailbox here when the
 * sender is one of our users, else the address itself (remote). */
static bool dsn_recipient(sqlite3 *db, const char *sender, char *out, size_t len)
{
    struct accounts_target t[ALIAS_TARGETS_MAX];
    size_t n = 0;
    char key[256];
    str_copy(key, sender, sizeof key);
    const char *at = strrchr(key, '@');
    if (at && accounts_domain_is_local(db, at + 1) &&
        accounts_resolve(db, str_lower(key), t, ALIAS_TARGETS_MAX, &n) == ACCOUNTS_RCPT_USER) {
        str_copy(out, t[0].address, len);
        return true;
    }
    str_copy(out, sender, len);
    return false;
}

int dsn_enqueue(sqlite3 *db, const char *hostname, const char *spool_dir,
                const struct dsn_original *orig, const struct delivery_rcpt *r, size_t n,
                char *err, size_t errlen)
{
    /* RFC 5321 6.1 / RFC 3464: never a bounce to <>, so bounces cannot loop */
    if (orig->sender[0] == '\0' ||
        !any_in(r, n, orig->delayed ? OUTCOME_DEFERRED : OUTCOME_BOUNCED))
        return 0;
    static __thread char headers[BOUNCE_HEADERS_MAX];
    size_t hlen = read_headers(db, orig->qid, headers, sizeof headers);
    struct bounce_info bi = {.hostname = hostname, .qid = orig->qid, .sender = orig->sender,
                             .arrival = orig->created, .remote_mta = orig->remote_mta,
                             .delayed = orig->delayed};
    struct spool body;
    spool_init(&body, spool_dir);
    char to[256];
    struct envelope_rcpt rcpt = {.address = to, .orig = to};
    rcpt.local = dsn_recipient(db, orig->sender, to, sizeof to);
    struct envelope env = {.created = time(NULL), .sender = "", .client_ip = "127.0.0.1",
                           .listener = "bounce",
                           .subject = orig->delayed ? "Delayed Mail (still being retried)"
                                                    : "Undelivered Mail Returned to Sender",
                           .rcpts = &rcpt, .n_rcpts = 1, .body = &body};
    queue_id_new(env.id);
    int rc = bounce_build(&body, &bi, r, n, headers, hlen) == 0 ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "cannot build the DSN for %s", orig->qid);
    else
        rc = envelope_store(db, &env, err, errlen);
    spool_free(&body);
    if (rc < 0)
        return -1;
    log_info("event=%s qid=%s dsn_qid=%s to=<%s>", orig->delayed ? "delay_warning" : "bounce",
             orig->qid, env.id, orig->sender);
    return 1;
}
