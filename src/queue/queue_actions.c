/* queue/queue_actions - admin actions on selections of queued messages.
 *
 * The selection is read first (ids only), then acted on in batches of
 * BATCH messages, each batch one short write transaction: the daemon's own
 * commits wait at most one batch.  Quarantine writes each message to
 * quarantine/XY/ID.eml and makes the whole batch of files durable (syncfs)
 * before the transaction that removes the bodies from the store commits:
 * a message is always in one place or the other, never in neither.  The
 * flush of one batch runs while the next batch's files are written. */
#include "queue/queue_actions.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/quarantine_files.h"
#include "store/audit.h"
#include "store/queue.h"
#include "store/queue_filter.h"
#include "store/store.h"

#define BATCH 2000 /* one syncfs and one short transaction per batch */

static const char *const action_names[] = {"hold",       "release", "retry",       "bounce",
                                           "quarantine", "purge",   "unquarantine"};

const char *queue_action_name(enum queue_action act)
{
    return action_names[act];
}

/* ---- the selection ---- */

struct id_list {
    char (*ids)[17];
    size_t n, cap;
};

/* id_push - one more id at the end of L; -1 out of memory. */
static int id_push(void *arg, const char *id)
{
    struct id_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        void *p = realloc(l->ids, cap * sizeof *l->ids);
        if (p == NULL)
            return -1;
        l->ids = p;
        l->cap = cap;
    }
    str_copy(l->ids[l->n++], id, sizeof l->ids[0]);
    return 0;
}

/* select_ids - the ids F selects, read before acting on any. */
static int select_ids(store_db *db, const struct queue_filter *f, struct id_list *out)
{
    return store_queue_select(db, f, id_push, out);
}

/* ---- one message ---- */

/* bounce_one - every pending recipient is marked to be returned with the
 * admin's reason.  The daemon's scheduler then bounces them with one DSN
 * per message - but only recipients whose delivery is not in flight: one
 * that the remote MX takes meanwhile is recorded as delivered, and its
 * sender gets no false bounce.  With the daemon stopped, this happens
 * when it starts. */
static int bounce_one(store_db *db, const char *qid, const struct queue_action_ctx *ctx)
{
    char text[512]; /* the size of a recipient's last_error (delivery_job.h) */
    snprintf(text, sizeof text, "550 5.7.1 returned by the administrator: %s",
             ctx->reason ? ctx->reason : "no reason given");
    return store_queue_return(db, qid, text);
}

/* act_one - ACT on QID inside the batch transaction: >0 when it changed
 * something, 0 when the message was not in a state for it, -1 on error. */
static int act_one(store_db *db, enum queue_action act, const char *qid,
                   const struct queue_action_ctx *ctx, char *err, size_t errlen)
{
    switch (act) {
    case QUEUE_HOLD:
        return store_queue_hold(db, qid);
    case QUEUE_RELEASE:
        return store_queue_release(db, qid);
    case QUEUE_RETRY:
        return store_queue_retry(db, qid);
    case QUEUE_BOUNCE:
        return bounce_one(db, qid, ctx);
    case QUEUE_PURGE: {
        int n = store_queue_delete(db, qid);
        if (n > 0)
            quarantine_file_remove(ctx->state_dir, qid); /* if it was quarantined */
        return n;
    }
    case QUEUE_QUARANTINE:
        return quarantine_commit(db, ctx->state_dir, qid, ctx->admin, ctx->reason);
    case QUEUE_UNQUARANTINE:
        return quarantine_restore(db, ctx->state_dir, qid, ctx->admin);
    }
    return -1;
}

/* ---- batches ---- */

static void log_action(enum queue_action act, const char *qid, const struct queue_action_ctx *ctx)
{
    log_info("event=queue_%s qid=%s admin=%s reason=%s", action_names[act], qid,
             log_quote(ctx->admin), log_quote(ctx->reason));
}

/* commit_batch - ACT on the N messages IDS in one write transaction (for
 * a quarantine, their files are already durable).  Returns the number of
 * messages changed, -1 with ERR. */
static long commit_batch(store_db *db, enum queue_action act, char (*ids)[17], size_t n,
                         const struct queue_action_ctx *ctx, char *err, size_t errlen)
{
    bool *done = calloc(n, sizeof *done);
    if (done == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long changed = 0;
    char why[256] = "";
    int rc = store_begin(db, true, why, sizeof why);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int k = act_one(db, act, ids[i], ctx, err, errlen);
        if (k < 0)
            rc = -1;
        else if (k > 0)
            done[i] = true, changed++;
    }
    if (rc == 0 && store_commit(db, why, sizeof why) < 0)
        rc = -1;
    if (rc < 0) {
        if (!err[0])
            snprintf(err, errlen, "store: %s", why[0] ? why : store_errmsg(db));
        store_rollback(db);
    }
    for (size_t i = 0; i < n; i++) {
        /* a file for a message that turned out not to be pending is dropped */
        if (act == QUEUE_QUARANTINE && (rc < 0 || !done[i]))
            quarantine_file_remove(ctx->state_dir, ids[i]);
        if (act == QUEUE_UNQUARANTINE && rc == 0 && done[i])
            quarantine_file_remove(ctx->state_dir, ids[i]);
        if (rc == 0 && done[i])
            log_action(act, ids[i], ctx);
    }
    free(done);
    return rc < 0 ? -1 : changed;
}

/* Batch I of the selection L: its first id and its length. */
#define BATCH_IDS(l, i) ((l)->ids + (i)*BATCH)
#define BATCH_LEN(l, i) ((l)->n - (i)*BATCH < BATCH ? (l)->n - (i)*BATCH : BATCH)

static void progress(const struct queue_action_ctx *ctx, const struct id_list *l, size_t batch)
{
    if (ctx->progress)
        ctx->progress(ctx->progress_arg, batch * BATCH + BATCH_LEN(l, batch), l->n);
}

/* drop_batch_files - the files of batch I of a quarantine that will not
 * commit (the bodies stay in the store). */
static void drop_batch_files(const struct queue_action_ctx *ctx, const struct id_list *l, size_t i)
{
    for (size_t k = 0; k < BATCH_LEN(l, i); k++)
        quarantine_file_remove(ctx->state_dir, BATCH_IDS(l, i)[k]);
}

/* quarantine_batches - a quarantine, pipelined: the files of batch I are
 * written while those of batch I-1 are being flushed to disk, then batch
 * I-1 commits while batch I's flush runs.  A batch commits (and its bodies
 * leave the store) only after its files are durable. */
static long quarantine_batches(store_db *db, const struct id_list *l,
                               const struct queue_action_ctx *ctx, char *err, size_t errlen)
{
    size_t batches = (l->n + BATCH - 1) / BATCH;
    struct quarantine_flush fl = {0};
    bool flushing = false;
    long total = 0;
    size_t i;
    for (i = 0; i <= batches; i++) {
        if (i < batches && quarantine_write_files(db, ctx->state_dir, BATCH_IDS(l, i),
                                                  BATCH_LEN(l, i), err, errlen) < 0)
            goto failed;
        flushing = false;
        if (i > 0 && quarantine_flush_wait(&fl, err, errlen) < 0)
            goto failed;
        if (i < batches) {
            quarantine_flush_start(&fl, ctx->state_dir);
            flushing = true;
        }
        if (i > 0) {
            long k = commit_batch(db, QUEUE_QUARANTINE, BATCH_IDS(l, i - 1), BATCH_LEN(l, i - 1),
                                  ctx, err, errlen);
            if (k < 0)
                goto failed;
            total += k;
            progress(ctx, l, i - 1);
        }
    }
    return total;
failed:
    if (flushing) {
        char ignored[8]; /* ERR already says what went wrong first */
        quarantine_flush_wait(&fl, ignored, sizeof ignored);
    }
    if (i < batches)
        drop_batch_files(ctx, l, i);
    if (i > 0)
        drop_batch_files(ctx, l, i - 1);
    return -1;
}

/* batches_in_turn - every other action: one transaction after the other. */
static long batches_in_turn(store_db *db, enum queue_action act, const struct id_list *l,
                            const struct queue_action_ctx *ctx, char *err, size_t errlen)
{
    long total = 0;
    for (size_t i = 0; i * BATCH < l->n; i++) {
        long k = commit_batch(db, act, BATCH_IDS(l, i), BATCH_LEN(l, i), ctx, err, errlen);
        if (k < 0)
            return -1;
        total += k;
        progress(ctx, l, i);
    }
    return total;
}

/* audit_act - the audit trail of ACT on F: who, the selection as JSON,
 * how many messages changed (TOTAL, -1 when it failed part way).  The
 * daemon's own steps that changed nothing (a retention sweep with nothing
 * to do) leave no row. */
static void audit_act(store_db *db, enum queue_action act, const struct queue_filter *f,
                      const struct queue_action_ctx *ctx, long total)
{
    const char *admin = ctx->admin ? ctx->admin : "floodgated";
    if (total == 0 && strcmp(admin, "floodgated") == 0)
        return;
    char action[32];
    if (act == QUEUE_UNQUARANTINE)
        str_copy(action, "quarantine.release", sizeof action);
    else
        snprintf(action, sizeof action, "queue.%s", action_names[act]);
    json_t *sel = queue_filter_to_json(f);
    char *text = sel ? json_dumps(sel, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(sel);
    audit_record(db, admin, action, text ? text : "", total);
    free(text);
}

long queue_act(store_db *db, enum queue_action act, const struct queue_filter *f,
               const struct queue_action_ctx *ctx, char *err, size_t errlen)
{
    struct id_list l = {0};
    err[0] = '\0';
    if (queue_filter_register(db) < 0 || select_ids(db, f, &l) < 0) {
        snprintf(err, errlen, "cannot read the selection: %s", store_errmsg(db));
        free(l.ids);
        return -1;
    }
    long total = act == QUEUE_QUARANTINE ? quarantine_batches(db, &l, ctx, err, errlen)
                                         : batches_in_turn(db, act, &l, ctx, err, errlen);
    free(l.ids);
    audit_act(db, act, f, ctx, total);
    return total;
}
