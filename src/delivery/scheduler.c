/* delivery/scheduler - picks recipients that are due, hands them to local
 * (Maildir) or remote (SMTP) delivery, and records each attempt's outcome.
 *
 * A recipient is "in flight" only in memory: the store knows queued,
 * deferred, delivered, bounced and held.  After a crash every recipient that
 * was in flight is simply queued again - it may then be delivered twice,
 * which is the price of never losing a message.  The outcome of an attempt,
 * and the DSN for its failed recipients, are written in one transaction.
 * When that write fails, the outcome waits in memory (delivery/outcomes.h) and
 * its recipients stay in flight: a message a server accepted is never sent
 * again while the process runs.  While the store fails no delivery starts.
 *
 * Remote recipients that are due are read into an in-memory active queue
 * (queue/destinations): one queue per destination, served round-robin, so
 * that a message to a healthy domain never waits behind a spam run to
 * hundreds of slow ones, nor a colleague's behind one account's flood to
 * the same provider.  The store stays the truth: the active queue is
 * refilled from it (a cursor over next_try) and thrown away when floodctl
 * changes the queue.
 *
 * The event loop never reads the store here.  A pass's reads (due local
 * recipients, the next remote ones past the cursor, those an admin
 * returned) run on the scheduler's own reader thread, with its own read
 * connection (store/due.h); the rows come back to the loop, which groups
 * them into jobs and starts them.  One read is in flight at a time; a kick
 * while it runs asks for one more pass after it.  Two things may change
 * while a read runs: an attempt's outcome is recorded (its recipients leave
 * the in-flight set, but the read may predate the commit: those ids are
 * remembered until the read is back, and skipped), or floodctl changes
 * the queue (the read may predate the change: its rows are dropped and the
 * pass runs again). */
#include "delivery/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "delivery/lmtp.h"
#include "delivery/maildir.h"
#include "delivery/remote.h"
#include "store/committer.h"
#include "core/strmap.h"
#include "delivery/delivery_job.h"
#include "delivery/destinations.h"
#include "delivery/dsn.h"
#include "delivery/outcomes.h"
#include "queue/pause_state.h"
#include "queue/quarantine_files.h"
#include "store/body.h"
#include "store/delivery.h"
#include "store/due.h"
#include "store/store.h"

#define PASS_RCPTS_MAX 512     /* recipients looked at per pass */
#define FILL_ROWS 2048         /* remote recipients read into memory per pass */
#define ACTIVE_RCPTS_MAX 20000 /* recipients in memory at most (queued + in flight) */
#define RESCAN_SECONDS 30      /* the fill cursor starts over this often */
#define JOB_RCPTS_MAX 100      /* recipients in one job */
#define LOCAL_JOBS_MAX 16      /* messages being written to Maildirs at once */
#define PASS_INTERVAL_MS 1000
#define PASS_KICK_MS 10 /* a burst of new messages shares one pass */

struct scheduler {
    struct delivery_env env; /* the loop, config, committer, workers (a copy) */
    struct remote *remote;
    struct event *timer;
    struct outcomes *unrecorded;       /* outcomes the store could not take yet */
    scheduler_outcome_fn outcome_hook; /* the detector's feedback, or NULL */
    void *outcome_arg;
    unsigned local_jobs;
    bool kicked;             /* a pass is already due soon */
    bool paused;             /* no new jobs (shutdown) */
    struct strmap *inflight; /* ids of the recipients in memory: queued there or
                              * being delivered (value unused) */
    /* the pass's reads, on a thread of their own */
    struct worker_pool *reader;
    bool reading;           /* a read is in flight: never two at once */
    bool again;             /* kicked while reading: one more pass after it */
    bool waited;            /* the last pass started nothing: the next one will */
    bool stale;             /* the queue changed under the read: drop its rows */
    struct strmap *settled; /* ids recorded while the read ran (value unused) */
    unsigned fault_hold;    /* test builds: the next read with rows waits this long */
    /* the remote active queue */
    struct dest_table *dests;
    struct strmap *open_jobs; /* "qid domain" -> a queued job still taking recipients */
    /* the fill cursor: (next_try, message, id) of the last row read.  The
     * queue id orders it within a second, not the row id: SQLite hands a
     * deleted row's id out again, and queue ids only grow. */
    struct due_cursor fill;
    time_t fill_started;       /* when the cursor last started over */
    struct dest_limits limits; /* as last applied (a reload may change them) */
    char *relayhost;           /* as last seen: a new one regroups the queue */
    time_t expired_at;         /* last sweep for forgotten destinations */
};

unsigned scheduler_backoff(const struct config_queue *q, unsigned attempts)
{
    unsigned long delay = q->retry_initial;
    for (unsigned i = 1; i < attempts && delay < q->retry_max; i++)
        delay *= 2;
    return delay > q->retry_max ? q->retry_max : (unsigned)delay;
}

/* ---- in-flight bookkeeping ---- */

static void id_key(int64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%lld", (long long)id);
}

static bool is_inflight(const struct scheduler *sch, int64_t id)
{
    char key[24];
    id_key(id, key, sizeof key);
    return strmap_get(sch->inflight, key) != NULL;
}

static bool inflight_add(struct scheduler *sch, int64_t id)
{
    char key[24];
    id_key(id, key, sizeof key);
    return strmap_put(sch->inflight, key, sch, NULL) == 0;
}

static void inflight_del(struct scheduler *sch, int64_t id)
{
    char key[24];
    id_key(id, key, sizeof key);
    strmap_del(sch->inflight, key);
}

/* settle - ID's outcome is in the store.  A read in flight may have seen
 * the row before that commit: remember the id until the read is back, so
 * that its old state does not start the recipient again. */
static void settle(struct scheduler *sch, int64_t id)
{
    inflight_del(sch, id);
    if (sch->reading) {
        char key[24];
        id_key(id, key, sizeof key);
        if (strmap_put(sch->settled, key, sch, NULL) < 0)
            sch->stale = true; /* cannot remember it: drop the whole read */
    }
}

/* skip_row - a row read by the pass that must not start: in flight, or
 * recorded while the read ran. */
static bool skip_row(const struct scheduler *sch, int64_t id)
{
    char key[24];
    id_key(id, key, sizeof key);
    return is_inflight(sch, id) || strmap_get(sch->settled, key) != NULL;
}

static void job_free(struct delivery_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        free(j->rcpts[i].address);
    free(j->rcpts);
    free(j->sender);
    free(j->auth_user);
    free(j->prefix);
    spool_free(&j->body);
    config_unref(j->cfg);
    free(j);
}

/* ---- local delivery (worker thread) ---- */

static void local_work(void *arg)
{
    struct delivery_job *j = arg;
    store_db *db = store_thread_db(STORE_FILE);
    struct store_body *body = db ? store_body_get(db, j->qid) : NULL;
    if (body && j->cfg->delivery.local == DELIVERY_LOCAL_LMTP) {
        /* Dovecot's LMTP writes the Maildir (Sieve, quotas): one
         * transaction, an outcome per recipient (RFC 2033 4.2). */
        lmtp_deliver(j->cfg, j->sender, j->rcpts, j->n, store_body_read, body);
        store_body_close(body);
        return;
    }
    for (size_t i = 0; i < j->n; i++) {
        struct delivery_rcpt *d = &j->rcpts[i];
        if (body == NULL)
            str_copy(d->error, "message body missing from the store", sizeof d->error);
        bool ok = body && maildir_deliver(".", d->address, j->sender, store_body_read, body,
                                          d->error, sizeof d->error) == 0;
        d->outcome = ok ? OUTCOME_DELIVERED : OUTCOME_DEFERRED;
    }
    store_body_close(body);
}

/* ---- recording (committer thread) ---- */

static bool has_bounces(const struct delivery_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->rcpts[i].outcome == OUTCOME_BOUNCED)
            return true;
    return false;
}

/* all_pending - are all of J's recipients (one at least) still to be
 * delivered: deferred, or not tried? */
static bool all_pending(const struct delivery_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->rcpts[i].outcome == OUTCOME_DELIVERED || j->rcpts[i].outcome == OUTCOME_BOUNCED)
            return false;
    return j->n > 0;
}

static const char *outcome_state(enum delivery_outcome o)
{
    return o == OUTCOME_DELIVERED ? "delivered" : o == OUTCOME_BOUNCED ? "bounced" : "deferred";
}

static int update_rcpts(store_db *db, struct delivery_job *j, char *err, size_t errlen)
{
    const struct config_queue *q = &j->cfg->queue;
    time_t now = time(NULL);
    for (size_t i = 0; i < j->n; i++) {
        struct delivery_rcpt *d = &j->rcpts[i];
        if (store_rcpt_record(db, d->id, outcome_state(d->outcome), d->attempts + 1,
                              now + scheduler_backoff(q, d->attempts + 1), d->error, now, err,
                              errlen) < 0)
            return -1;
    }
    return 0;
}

/* warn_delay - once per message, after delivery.delay_warning seconds of
 * trying, tell the sender it is late (RFC 3464 "delayed").  The flag on
 * the message makes "once" hold across attempts and restarts. */
static int warn_delay(store_db *db, const struct delivery_job *j, char *err, size_t errlen)
{
    unsigned after = j->cfg->delivery.delay_warning;
    bool deferred = false;
    for (size_t i = 0; i < j->n; i++)
        deferred |= j->rcpts[i].outcome == OUTCOME_DEFERRED;
    if (after == 0 || !deferred || time(NULL) - j->created < (time_t)after || j->sender[0] == '\0')
        return 0;
    int first = store_message_warn_once(db, j->qid);
    if (first <= 0)
        return first; /* warned before, or a store error */
    struct dsn_original orig = {.qid = j->qid,
                                .sender = j->sender,
                                .created = j->created,
                                .remote_mta = j->remote && j->mx[0] ? j->mx : NULL,
                                .delayed = true};
    return dsn_enqueue(db, j->cfg->hostname, ".", &orig, j->rcpts, j->n, err, errlen) < 0 ? -1 : 0;
}

static int record_apply(store_db *db, void *arg, char *err, size_t errlen)
{
    struct delivery_job *j = arg;
    if (update_rcpts(db, j, err, errlen) < 0 || warn_delay(db, j, err, errlen) < 0)
        return -1;
    struct dsn_original orig = {.qid = j->qid,
                                .sender = j->sender,
                                .created = j->created,
                                .remote_mta = j->remote && j->mx[0] ? j->mx : NULL};
    /* The bounce is charged to the account that sent the original: a
     * rising bounce rate is how a stolen account shows. */
    if (has_bounces(j) &&
        ((j->auth_user && store_sender_bounce(db, j->auth_user, time(NULL)) < 0) ||
         dsn_enqueue(db, j->cfg->hostname, ".", &orig, j->rcpts, j->n, err, errlen) < 0))
        return -1;
    /* A message leaves the queue when no recipient is left to deliver;
     * if it was in quarantine meanwhile, its .eml goes after the commit.
     * A job whose recipients were all deferred leaves them pending, so
     * its message stays (the usual case of a dead destination's queue:
     * no DELETE to try per deferral). */
    if (all_pending(j))
        return 0;
    bool quarantined;
    int finished = store_message_finish(db, j->qid, &quarantined);
    if (finished == 1)
        j->drop_quarantine_file = quarantined;
    return finished < 0 ? -1 : 0;
}

/* log_not_delivered - the line of a recipient deferred or bounced (EVENT). */
static void log_not_delivered(const char *event, const char *qid, const char *address,
                              const char *mailer, long delay, unsigned attempts, int code,
                              const char *error)
{
    log_info("event=%s qid=%s rcpt=%s mailer=%s delay=%lds attempts=%u code=%d error=%s", event,
             qid, log_quote(address), mailer, delay, attempts, code, log_quote(error));
}

static void log_outcome(const struct delivery_job *j, const struct delivery_rcpt *d)
{
    long delay = (long)(time(NULL) - j->created);
    const char *mailer = j->remote                                       ? "smtp"
                         : j->cfg->delivery.local == DELIVERY_LOCAL_LMTP ? "lmtp"
                                                                         : "maildir";
    if (d->outcome == OUTCOME_DELIVERED && j->remote)
        log_info("event=delivered qid=%s rcpt=%s mailer=%s mx=%s delay=%lds reply=%s", j->qid,
                 log_quote(d->address), mailer, log_quote(j->mx), delay, log_quote(d->error));
    else if (d->outcome == OUTCOME_DELIVERED)
        log_info("event=delivered qid=%s rcpt=%s mailer=%s delay=%lds", j->qid,
                 log_quote(d->address), mailer, delay);
    else
        log_not_delivered(d->outcome == OUTCOME_BOUNCED ? "bounced" : "deferred", j->qid,
                          d->address, mailer, delay, d->attempts + 1, d->code, d->error);
}

/* kick_in - a pass in USEC microseconds (sooner than one already due). */
static void kick_in(struct scheduler *sch, long usec)
{
    struct timeval tv = {0, usec};
    evtimer_add(sch->timer, &tv);
    sch->kicked = true;
}

/* release_slot - a local job no longer writes to Maildirs: its slot is
 * free (once, whether its outcome is recorded now or kept for later). */
static void release_slot(struct scheduler *sch, struct delivery_job *j)
{
    if (!j->remote && !j->returning && !j->unrecorded.kept)
        sch->local_jobs--;
}

static void record_done(void *arg, int status, const char *err)
{
    struct delivery_job *j = arg;
    struct scheduler *sch = j->sch;
    if (status != 0) {
        /* Not recorded: keep the outcome and keep its recipients in
         * flight.  Handing them back would deliver them again at once, for
         * as long as the store fails.  A store fault is logged once, by
         * the committer (event=store_failing); a fault of this job alone
         * is logged here, on its first try. */
        if (status == STORE_FAULT_JOB && j->unrecorded.tries == 0)
            log_warnx("event=store_error qid=%s op=record_delivery error=%s", j->qid,
                      log_quote(err));
        release_slot(sch, j);
        outcomes_keep(sch->unrecorded, j, status);
        return;
    }
    const char *mailer = j->returning ? "admin" : j->remote ? "smtp" : "maildir";
    for (size_t i = 0; i < j->n; i++) {
        const struct delivery_rcpt *d = &j->rcpts[i];
        /* counted before its log line: whoever saw the line sees the count */
        metrics_add("floodgate_deliveries_total", 1, "result", outcome_state(d->outcome), "mailer",
                    mailer, NULL);
        log_outcome(j, d);
        if (sch->outcome_hook && j->remote && !j->returning && j->auth_user &&
            d->outcome != OUTCOME_PENDING)
            sch->outcome_hook(sch->outcome_arg, j->auth_user, d->code, d->error,
                              d->outcome == OUTCOME_DELIVERED);
    }
    if (j->drop_quarantine_file)
        quarantine_file_remove(".", j->qid);
    for (size_t i = 0; i < j->n; i++)
        settle(sch, j->rcpts[i].id);
    release_slot(sch, j);
    outcomes_recorded(sch->unrecorded, j);
    job_free(j);
    /* A slot (and maybe a warm connection) just came free: look at once.
     * Waiting even the few milliseconds a burst of arrivals shares would
     * cap each outbound connection near one message per pass. */
    kick_in(sch, 0);
}

static void record(struct delivery_job *j)
{
    committer_submit(j->sch->env.committer, record_apply, record_done, j);
}

/* finish_job - an attempt is over: expire what waited too long, then
 * record the outcome (with a DSN when something bounced). */
static void finish_job(struct delivery_job *j)
{
    const struct config_queue *q = &j->cfg->queue;
    bool expired = time(NULL) - j->created > (time_t)q->lifetime;
    for (size_t i = 0; i < j->n; i++) {
        struct delivery_rcpt *d = &j->rcpts[i];
        if (d->outcome != OUTCOME_DEFERRED || !expired)
            continue;
        char last[DELIVERY_ERROR_MAX];
        str_copy(last, d->error, sizeof last);
        snprintf(d->error, sizeof d->error, "delivery time expired; last error: %.400s", last);
        d->outcome = OUTCOME_BOUNCED;
        d->code = 0;
    }
    record(j);
}

static void local_done(void *arg)
{
    finish_job(arg);
}
/* ---- picking due recipients (loop thread) ---- */

static const char *rcpt_domain(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : "";
}

/* job_new - a job for the message of row R. */
static struct delivery_job *job_new(struct scheduler *sch, const struct due_row *r, bool remote,
                                    const char *domain)
{
    struct delivery_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->sch = sch;
    /* its own reference: the committer thread reads the retry and DSN
     * settings after a SIGHUP may have replaced the current config */
    j->cfg = config_ref(*sch->env.cfg);
    j->remote = remote;
    str_copy(j->qid, r->qid, sizeof j->qid);
    str_copy(j->domain, domain, sizeof j->domain);
    j->sender = strdup(r->sender);
    j->created = r->created;
    j->auth_user = r->auth_user ? strdup(r->auth_user) : NULL;
    spool_init(&j->body, ".");
    if (j->sender == NULL || (r->auth_user && j->auth_user == NULL)) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* job_for - the open job row R belongs to, or a new one. */
static struct delivery_job *job_for(struct scheduler *sch, struct delivery_job **open,
                                    size_t *n_open, size_t max_open, const struct due_row *r)
{
    for (size_t i = 0; i < *n_open; i++)
        if (strcmp(open[i]->qid, r->qid) == 0)
            return open[i]->n < JOB_RCPTS_MAX ? open[i] : NULL;
    if (*n_open >= max_open)
        return NULL;
    struct delivery_job *j = job_new(sch, r, false, "");
    if (j)
        open[(*n_open)++] = j;
    return j;
}

static bool add_rcpt(struct scheduler *sch, struct delivery_job *j, const struct due_row *r)
{
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 1; /* most messages have one recipient */
        struct delivery_rcpt *p = realloc(j->rcpts, cap * sizeof *p);
        if (p == NULL)
            return false;
        j->rcpts = p;
        j->cap = cap;
    }
    struct delivery_rcpt *d = &j->rcpts[j->n];
    *d = (struct delivery_rcpt){.id = r->id};
    d->address = strdup(r->address);
    d->attempts = r->attempts;
    if (d->address == NULL || !inflight_add(sch, r->id)) {
        free(d->address);
        return false;
    }
    j->n++;
    return true;
}

/* group_rows - the rows of ROWS that may start, grouped into at most
 * MAX_OPEN jobs in OPEN, each recipient's last_error kept when KEEP_ERROR.
 * Returns the number of jobs. */
static size_t group_rows(struct scheduler *sch, const struct due_rows *rows, bool keep_error,
                         struct delivery_job **open, size_t max_open)
{
    size_t n_open = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const struct due_row *r = &rows->v[i];
        if (skip_row(sch, r->id))
            continue; /* its delivery decides first */
        struct delivery_job *j = job_for(sch, open, &n_open, max_open, r);
        if (j && !add_rcpt(sch, j, r))
            break;
        if (j && keep_error)
            str_copy(j->rcpts[j->n - 1].error, r->last_error, sizeof j->rcpts[0].error);
    }
    return n_open;
}

/* start_local - due local recipients, grouped into jobs for the free
 * Maildir slots, each handed to a worker. */
static void start_local(struct scheduler *sch, const struct due_rows *rows)
{
    struct delivery_job *open[LOCAL_JOBS_MAX];
    size_t n = group_rows(sch, rows, false, open, LOCAL_JOBS_MAX - sch->local_jobs);
    for (size_t i = 0; i < n; i++) {
        sch->local_jobs++;
        worker_pool_submit(sch->env.workers, local_work, local_done, open[i]);
    }
}

/* ---- the remote active queue (loop thread) ---- */

static struct delivery_job *job_of(struct dest_entry *e)
{
    return (struct delivery_job *)e; /* the entry is the job's first member */
}

static void open_key(const struct delivery_job *j, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s", j->qid, j->domain);
}

/* unqueue - a job leaves the active queue: it takes no more recipients. */
static void unqueue(struct scheduler *sch, struct delivery_job *j)
{
    char key[300];
    open_key(j, key, sizeof key);
    if (strmap_get(sch->open_jobs, key) == j)
        strmap_del(sch->open_jobs, key);
}

/* drop_queued - forget a job that was only queued in memory. */
static void drop_queued(struct dest_entry *e)
{
    struct delivery_job *j = job_of(e);
    unqueue(j->sch, j);
    for (size_t i = 0; i < j->n; i++)
        inflight_del(j->sch, j->rcpts[i].id);
    job_free(j);
}

/* sender_key - whose turn a job takes inside its destination: the
 * account that sent it, else the client address it came from. */
static const char *sender_key(const struct due_row *r)
{
    return r->auth_user ? r->auth_user : r->client_ip ? r->client_ip : "";
}

/* queue_row - row R joins the job of its message and domain still in the
 * active queue, or a new job at the end of its sender's line in its
 * destination.  False when memory runs out. */
static bool queue_row(struct scheduler *sch, const struct due_row *r)
{
    const char *domain = rcpt_domain(r->address);
    char key[300];
    snprintf(key, sizeof key, "%s %s", r->qid, domain);
    struct delivery_job *j = strmap_get(sch->open_jobs, key);
    if (j == NULL || j->n >= JOB_RCPTS_MAX) {
        if ((j = job_new(sch, r, true, domain)) == NULL)
            return false;
        str_copy(j->dest_name, sch->relayhost ? sch->relayhost : domain, sizeof j->dest_name);
        if (dest_add(sch->dests, j->dest_name, sender_key(r), &j->link) < 0) {
            job_free(j);
            return false;
        }
        strmap_put(sch->open_jobs, key, j, NULL); /* without it: one job per row, still fine */
    }
    return add_rcpt(sch, j, r);
}

/* fill_cursor - where the next remote read starts, and how many rows it
 * may bring (0: memory is full, read none).  The cursor moves past every
 * row read, so a pass reads only what became due since: a new message's
 * rows come after it (its next_try is its arrival, its queue id the
 * largest yet), a deferred row's next_try is in the future.  It starts
 * over now and then for rows that land behind it (a failed store write, a
 * DSN queued by the committer while an older message's commit was
 * pending). */
static int fill_cursor(struct scheduler *sch, time_t now)
{
    if (now - sch->fill_started >= RESCAN_SECONDS) {
        sch->fill = (struct due_cursor){0};
        sch->fill_started = now;
    }
    size_t in_memory = strmap_count(sch->inflight);
    if (in_memory >= ACTIVE_RCPTS_MAX)
        return 0; /* the rest waits in the store, as in Postfix's incoming queue */
    size_t room = ACTIVE_RCPTS_MAX - in_memory;
    return room < FILL_ROWS ? (int)room : FILL_ROWS;
}

/* fill - the remote rows a read brought join the active queue; the cursor
 * follows them. */
static void fill(struct scheduler *sch, const struct due_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++) {
        const struct due_row *r = &rows->v[i];
        if (!skip_row(sch, r->id) && !queue_row(sch, r))
            break; /* out of memory: this row again next pass */
        sch->fill.next_try = r->next_try;
        str_copy(sch->fill.qid, r->qid, sizeof sch->fill.qid);
        sch->fill.id = r->id;
    }
}

/* suspended_why - the last error of a recipient deferred because its
 * destination D is dead. */
static void suspended_why(const struct dest *d, time_t now, char *buf, size_t len)
{
    char next_probe[64];
    if (dest_probe_at(d) > now)
        snprintf(next_probe, sizeof next_probe, "next probe in %lds",
                 (long)(dest_probe_at(d) - now));
    else
        str_copy(next_probe, "a probe is under way", sizeof next_probe);
    snprintf(buf, len,
             "delivery to %s suspended: %u attempts in a row reached no server, %s;"
             " last error: %.300s",
             dest_name(d), dest_failures(d), next_probe, dest_last_error(d));
}

/* defer_suspended - the jobs queued for dead destinations are deferred
 * without a connection: a tarpit costs one probe, not every message. */
static void defer_suspended(struct scheduler *sch, time_t now)
{
    struct dest_entry *e;
    struct dest *d;
    while ((e = dest_next_suspended(sch->dests, now, &d)) != NULL) {
        struct delivery_job *j = job_of(e);
        unqueue(sch, j);
        for (size_t i = 0; i < j->n; i++) {
            struct delivery_rcpt *r = &j->rcpts[i];
            r->outcome = OUTCOME_DEFERRED;
            r->code = 0;
            suspended_why(d, now, r->error, sizeof r->error);
        }
        finish_job(j);
    }
}

static bool may_start(const struct scheduler *sch);
static bool delivery_paused(const struct scheduler *sch);

/* relayhost_changed - RH (the config's) is not the relayhost the active
 * queue is grouped by. */
static bool relayhost_changed(const struct scheduler *sch, const char *rh)
{
    return (rh == NULL) != (sch->relayhost == NULL) || (rh && strcmp(rh, sch->relayhost) != 0);
}

_Static_assert(SCHEDULER_WHY_MAX == DELIVERY_ERROR_MAX, "a deferral's last error fits");

bool scheduler_suspended(struct scheduler *sch, const char *address, time_t *until, char *why,
                         size_t whylen)
{
    /* paused (by the admin, or for shutdown): what comes waits queued, to go
     * as soon as delivery resumes */
    if (sch == NULL || !may_start(sch) || delivery_paused(sch))
        return false;
    /* a reload changed the relayhost, and no pass has regrouped the queue
     * yet: the destinations known are the old ones */
    if (relayhost_changed(sch, (*sch->env.cfg)->delivery.relayhost))
        return false;
    struct dest *d = dest_find(sch->dests, sch->relayhost ? sch->relayhost : rcpt_domain(address));
    time_t now = time(NULL);
    if (d == NULL || !dest_dead(d) || dest_probe_at(d) <= now)
        return false; /* alive, or a probe is due: the message joins the queue */
    suspended_why(d, now, why, whylen);
    *until = now + scheduler_backoff(&(*sch->env.cfg)->queue, 1);
    return true;
}

void scheduler_suspended_stored(struct scheduler *sch, const char *qid, const char *address,
                                const char *auth_user, const char *why)
{
    metrics_add("floodgate_deliveries_total", 1, "result", "deferred", "mailer", "smtp", NULL);
    log_not_delivered("deferred", qid, address, "smtp", 0, 1, 0, why);
    if (sch && sch->outcome_hook && auth_user)
        sch->outcome_hook(sch->outcome_arg, auth_user, 0, why, false);
}

/* remote_finished - feed the attempt back to its destination, then record. */
static void remote_finished(struct delivery_job *j)
{
    struct scheduler *sch = j->sch;
    time_t now = time(NULL);
    bool was_dead = dest_dead(j->dest);
    const char *error = j->n ? j->rcpts[0].error : "";
    dest_done(sch->dests, j->dest, j->site, now, error);
    j->dest = NULL;
    struct dest *d = dest_find(sch->dests, j->dest_name);
    bool dead = d && dest_dead(d);
    if (dead && (!was_dead || j->site == DEST_FAILED))
        log_info("event=destination_dead dest=%s failures=%u probe_in=%lds error=%s",
                 log_quote(j->dest_name), dest_failures(d), (long)(dest_probe_at(d) - now),
                 log_quote(error));
    else if (was_dead && !dead)
        log_info("event=destination_alive dest=%s qid=%s", log_quote(j->dest_name), j->qid);
    finish_job(j);
}

/* dispatch - start jobs from the active queue, destinations taking turns,
 * while the connection limit allows. */
static void dispatch(struct scheduler *sch, time_t now)
{
    struct dest_entry *e;
    struct dest *d;
    while (remote_has_room(sch->remote) && (e = dest_next(sch->dests, now, &d)) != NULL) {
        struct delivery_job *j = job_of(e);
        unqueue(sch, j);
        j->dest = d;
        if (dest_dead(d))
            log_info("event=destination_probe dest=%s qid=%s", log_quote(j->dest_name), j->qid);
        remote_deliver(sch->remote, j, remote_finished);
    }
}

/* forget_queue - throw the active queue away and read it again from the
 * store: floodctl changed the queue (held, deleted, released...). */
static void forget_queue(struct scheduler *sch)
{
    dest_drain(sch->dests, drop_queued);
    sch->fill_started = 0; /* the next fill starts over */
    if (sch->reading)
        sch->stale = true; /* the read in flight may predate the change */
}

/* apply_config - the limits of the current config (a reload may change
 * them); a new relayhost regroups the queue by destination. */
static void apply_config(struct scheduler *sch)
{
    const struct config *cfg = *sch->env.cfg;
    struct dest_limits lim = {.initial = cfg->delivery.initial_per_domain,
                              .max = cfg->delivery.max_per_domain,
                              .rest_min = cfg->queue.retry_initial,
                              .rest_max = cfg->queue.retry_max};
    if (memcmp(&lim, &sch->limits, sizeof lim) != 0) {
        sch->limits = lim;
        dest_table_limits(sch->dests, &lim);
    }
    const char *rh = cfg->delivery.relayhost;
    if (relayhost_changed(sch, rh)) {
        free(sch->relayhost);
        sch->relayhost = rh ? strdup(rh) : NULL;
        forget_queue(sch);
    }
}

/* run_remote - after a read: defer what waits for dead destinations,
 * start what the windows allow, forget stale destinations. */
static void run_remote(struct scheduler *sch, time_t now)
{
    defer_suspended(sch, now);
    dispatch(sch, now);
    if (now != sch->expired_at) { /* a sweep of every destination: once a second */
        dest_expire(sch->dests, now);
        sch->expired_at = now;
    }
}

/* bounce_returning - recipients an admin returned ("floodctl queue
 * bounce") and that are not being delivered right now: bounced, with the
 * usual DSN (the admin's reason is their last_error), through the same
 * recording path as a remote 5xx. */
static void bounce_returning(struct scheduler *sch, const struct due_rows *rows)
{
    struct delivery_job *open[16];
    size_t n_open = group_rows(sch, rows, true, open, 16);
    for (size_t i = 0; i < n_open; i++) {
        for (size_t k = 0; k < open[i]->n; k++) {
            open[i]->rcpts[k].outcome = OUTCOME_BOUNCED;
            open[i]->rcpts[k].code = 550;
        }
        open[i]->returning = true;
        finish_job(open[i]);
    }
}

/* ---- a pass: the reads on the reader thread, the rest on the loop ---- */

/* pass - what one read asks for, and what it brought back. */
struct pass {
    struct scheduler *sch;
    time_t now;
    bool local;       /* read due local recipients (a Maildir slot is free) */
    int remote_limit; /* remote rows to read past AFTER (0: none) */
    struct due_cursor after;
    struct due_rows local_rows, remote_rows, returning_rows;
    unsigned hold; /* test builds: seconds to wait with rows before answering */
    bool held;
};

static size_t pass_rows(const struct pass *p)
{
    return p->local_rows.n + p->remote_rows.n + p->returning_rows.n;
}

/* pass_read - reader thread: the pass's queries on the thread's own
 * connection.  Touches nothing of the scheduler. */
static void pass_read(void *arg)
{
    struct pass *p = arg;
    store_db *db = store_thread_db(STORE_FILE);
    if (db == NULL) {
        p->local_rows.failed = p->remote_rows.failed = p->returning_rows.failed = 1;
        return;
    }
    if (p->local)
        store_due_local(db, p->now, PASS_RCPTS_MAX, &p->local_rows);
    if (p->remote_limit > 0)
        store_due_remote(db, p->now, &p->after, p->remote_limit, &p->remote_rows);
    store_due_returning(db, PASS_RCPTS_MAX, &p->returning_rows);
#ifdef FLOODGATE_FAULT_INJECTION
    if (p->hold > 0 && pass_rows(p) > 0) {
        log_info("event=fault_scheduler_hold rows=%zu seconds=%u", pass_rows(p), p->hold);
        sleep(p->hold);
        p->held = true;
    }
#endif
}

static void pass_free(struct pass *p)
{
    due_rows_free(&p->local_rows);
    due_rows_free(&p->remote_rows);
    due_rows_free(&p->returning_rows);
    free(p);
}

/* may_start - whether deliveries may start now: not shutting down, and a
 * store that can record outcomes (else every delivery would be repeated
 * after a restart: start none until it recovers). */
static bool may_start(const struct scheduler *sch)
{
    return !sch->paused && committer_fault(sch->env.committer) == STORE_FAULT_NONE;
}

static bool delivery_paused(const struct scheduler *sch)
{
    /* "floodctl pause delivery" stops outbound mail only: local users keep
     * receiving theirs. */
    return sch->env.paused && sch->env.paused(sch->env.arg, PAUSE_DELIVERY);
}

/* rearm - the next pass: at once when kicked while reading, else in a
 * second (unless a kick already made it sooner). */
static void rearm(struct scheduler *sch)
{
    if (sch->kicked)
        return;
    if (sch->again) {
        sch->again = false;
        kick_in(sch, 0);
        return;
    }
    struct timeval tv = {.tv_sec = PASS_INTERVAL_MS / 1000, .tv_usec = 0};
    evtimer_add(sch->timer, &tv);
}

static bool forget_all(const char *key, void *value, void *arg)
{
    (void)key, (void)value, (void)arg;
    return false;
}

/* pass_done - loop: the rows are back.  Unless the queue changed under
 * the read, they become jobs: local ones go to the workers, remote ones
 * join the active queue, returned ones are bounced. */
static void pass_done(void *arg)
{
    struct pass *p = arg;
    struct scheduler *sch = p->sch;
    bool usable = !sch->stale && may_start(sch);
    if (p->held)
        sch->fault_hold = 0;
    if (sch->stale) {
        sch->again = true;
        if (pass_rows(p) > 0)
            log_info("event=scheduler_read_dropped reason=queue_changed rows=%zu", pass_rows(p));
    }
    if (usable) {
        time_t now = time(NULL);
        start_local(sch, &p->local_rows);
        if (!delivery_paused(sch)) {
            apply_config(sch);
            if (!sch->stale) /* a new relayhost regrouped the queue */
                fill(sch, &p->remote_rows);
            /* Kicked while this read ran (a message queued, a slot came
             * free): the read may predate a new message, and the slot is
             * its turn as much as anyone's.  Start nothing until the next
             * read, unless the last pass waited already: under a stream of
             * kicks every other pass starts jobs. */
            if (!sch->again || sch->waited) {
                run_remote(sch, now);
                sch->waited = false;
            } else {
                sch->waited = true;
            }
        }
        bounce_returning(sch, &p->returning_rows);
    }
    sch->reading = false;
    sch->stale = false;
    strmap_sweep(sch->settled, forget_all, NULL, NULL);
    pass_free(p);
    rearm(sch);
}

/* pass_start - send the pass's reads to the reader thread. */
static void pass_start(struct scheduler *sch, time_t now, bool remote)
{
    struct pass *p = calloc(1, sizeof *p);
    if (p == NULL) {
        rearm(sch);
        return;
    }
    p->sch = sch;
    p->now = now;
    p->local = sch->local_jobs < LOCAL_JOBS_MAX;
    p->hold = sch->fault_hold;
    if (remote && (p->remote_limit = fill_cursor(sch, now)) > 0)
        p->after = sch->fill;
    sch->reading = true;
    sch->stale = false;
    sch->again = false; /* this pass answers the kicks so far */
    worker_pool_submit(sch->reader, pass_read, pass_done, p);
}

static void scheduler_run(evutil_socket_t fd, short what, void *arg)
{
    struct scheduler *sch = arg;
    sch->kicked = false;
    if (!may_start(sch)) {
        rearm(sch);
        return;
    }
    /* Never two reads at once: one more after it.  Nothing starts here
     * from memory either: jobs start after a read (pass_done), so that a
     * message accepted before a slot came free takes its turn for it, as
     * when the store was read on the loop. */
    if (sch->reading) {
        sch->again = true;
        return;
    }
    bool remote = !delivery_paused(sch);
    if (remote)
        apply_config(sch);
    pass_start(sch, time(NULL), remote);
}

struct scheduler *scheduler_new(const struct delivery_env *env)
{
    struct scheduler *sch = calloc(1, sizeof *sch);
    char err[256];
    if (sch == NULL)
        return NULL;
    sch->env = *env;
    metrics_declare("floodgate_deliveries_total", METRIC_COUNTER,
                    "Delivery attempts recorded in the store, per recipient, by result"
                    " (delivered, deferred, bounced) and mailer (maildir, smtp, admin).");
    sch->timer = evtimer_new(env->base, scheduler_run, sch);
    sch->unrecorded = outcomes_new(env->base, env->committer, record);
    sch->remote = remote_new(env, err, sizeof err);
    sch->inflight = strmap_new();
    sch->settled = strmap_new();
    sch->open_jobs = strmap_new();
    sch->dests = dest_table_new(&sch->limits);
    sch->reader = worker_pool_new(env->base, 1, "fg-due-reader");
    if (sch->timer == NULL || sch->unrecorded == NULL || sch->remote == NULL ||
        sch->inflight == NULL || sch->settled == NULL || sch->open_jobs == NULL ||
        sch->dests == NULL || sch->reader == NULL) {
        if (sch->remote == NULL)
            log_warnx("event=start error=%s", log_quote(err));
        scheduler_free(sch);
        return NULL;
    }
    scheduler_kick(sch);
    return sch;
}

void scheduler_kick(struct scheduler *sch)
{
    if (!sch->kicked)
        kick_in(sch, PASS_KICK_MS * 1000);
}

void scheduler_refresh(struct scheduler *sch)
{
    forget_queue(sch);
    scheduler_kick(sch);
}

#ifdef FLOODGATE_FAULT_INJECTION
void scheduler_fault_hold(struct scheduler *sch, unsigned seconds)
{
    sch->fault_hold = seconds;
}
#endif

void scheduler_pause(struct scheduler *sch)
{
    sch->paused = true;
    remote_wind_down(sch->remote);
    outcomes_flush(sch->unrecorded); /* a last try before the committer stops */
}

size_t scheduler_unrecorded(const struct scheduler *sch)
{
    return outcomes_count(sch->unrecorded);
}

unsigned scheduler_busy(const struct scheduler *sch)
{
    return sch->local_jobs + remote_busy(sch->remote);
}

void scheduler_free(struct scheduler *sch)
{
    if (sch == NULL)
        return;
    /* a read still in flight comes back first, and starts nothing */
    sch->paused = true;
    worker_pool_free(sch->reader);
    if (sch->timer)
        event_free(sch->timer);
    remote_free(sch->remote);
    outcomes_free(sch->unrecorded, job_free);
    if (sch->dests)
        dest_table_free(sch->dests, drop_queued);
    strmap_free(sch->open_jobs, NULL);
    strmap_free(sch->inflight, NULL);
    strmap_free(sch->settled, NULL);
    free(sch->relayhost);
    free(sch);
}

void scheduler_set_outcome_hook(struct scheduler *sch, scheduler_outcome_fn fn, void *arg)
{
    sch->outcome_hook = fn;
    sch->outcome_arg = arg;
}
