/* smtp/outbreak - the detector's ladder carried out (room: smtp).  See
 * outbreak.h.
 *
 * An incident lives twice: in memory (struct incident, one per subject
 * with an open incident: what has been done, the counts) and in the
 * store (a row of incidents and its actions).  The row is written by the
 * committer; until its first write came back the incident has no id, so
 * one write is in flight at a time and what changed meanwhile is written
 * next (DIRTY).  Mail to alerts.mail_to and the quarantine of queued
 * messages run on a worker thread (each is a transaction of its own).
 * The webhook and the command hook (policy/alert_hooks.c) read the
 * incident from the store on their own threads: they are told of a change
 * once the write that holds it is committed (SEQ, COMMITTED). */
#include "smtp/outbreak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "accounts/accounts.h"
#include "accounts/app_passwords.h"
#include "accounts/sending.h"
#include "core/clock.h"
#include "core/ipset.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strmap.h"
#include "core/util.h"
#include "delivery/scheduler.h"
#include "policy/alert_hooks.h"
#include "policy/detector.h"
#include "policy/engine.h"
#include "queue/inject.h"
#include "queue/queue_actions.h"
#include "smtp/server.h"
#include "store/committer.h"
#include "store/incidents.h"
#include "store/store.h"

#define TICK_SECONDS 1
#define SAVE_SECONDS 60 /* the detector's state to the store */
#define SWEEP_SECONDS 300
#define ACTIONS_MAX 64 /* actions waiting for one write */
#define ALERT_BODY_MAX 16384
#define STATE_NAME "detector"
#define COUNTERS_NAME "counters" /* the policy engine's hourly counters */
#define WINDOW 3600              /* what containment quarantines: the last hour's mail */

#define STUFFED_MAX 16 /* other accounts a stuffing address got into */

struct action {
    char action[32];
    char detail[600];
    /* what the committer does with it: the account to suspend, or whose
     * app password LABEL to revoke ("" for the other actions) */
    char user[300];
    char label[64];
};

struct incident {
    char subject[300];
    long long id; /* 0 until the first write came back */
    enum detector_level level;
    time_t opened;
    long long accepted, held, delivered;
    char app_password[64];
    bool writing, dirty;
    struct action actions[ACTIONS_MAX];
    size_t n_actions;
    time_t last_mail;
    bool mail_due;
    /* logins of a contained account that came after its containment
     * (before the suspension was in the store): banned and ended next */
    char late[8][46];
    size_t n_late;
    /* the hooks: writes submitted and the last one committed; the write
     * an alert waits for; the last change, and whether "opened" was said */
    unsigned seq, committed, hook_seq;
    bool hook_due, announced;
    const char *change; /* "opened", "escalated", "contained" */
    bool changed;       /* CHANGE not told to the hooks yet */
};

struct outbreak {
    struct smtp_server *srv;
    struct detector *detector;
    struct strmap *incidents; /* subject -> struct incident */
    struct strmap *bulk;      /* bulk senders (a set: values unused) */
    struct outbreak_ops ops;
    struct alert_hooks *hooks; /* webhook and command, on their threads */
    struct event *tick;
    struct event *act; /* the ladder's steps, run after the event that climbed */
    time_t last_save, last_sweep;
    bool saving;
};

/* ---- the store's side ---- */

/* What one write of an incident carries: a copy, made on the loop. */
struct incident_job {
    struct outbreak *o;
    char subject[300];
    struct incident_row row;
    char state[16];
    char app_password[64];
    struct action actions[ACTIONS_MAX];
    size_t n_actions;
    long long id_out;
    unsigned seq; /* the incident's write number */
};

static const char *state_of(enum detector_level l)
{
    return l >= DETECTOR_CONTAIN ? "contained" : l >= DETECTOR_HOLD ? "held" : "open";
}

/* incident_apply - on the committer: the row, its actions, a suspension. */
static int incident_apply(store_db *db, void *arg, char *err, size_t errlen)
{
    struct incident_job *j = arg;
    j->row.subject = j->subject;
    j->row.state = j->state;
    j->row.app_password = j->app_password[0] ? j->app_password : NULL;
    int rc = j->row.id ? incident_update(db, &j->row) : incident_insert(db, &j->row);
    if (rc < 0) {
        str_copy(err, store_errmsg(db), errlen);
        return -1;
    }
    j->id_out = j->row.id;
    for (size_t i = 0; i < j->n_actions; i++) {
        const struct action *a = &j->actions[i];
        if (strcmp(a->action, "suspend") == 0 &&
            accounts_user_suspend(db, a->user, true, err, errlen) < 0)
            return -1;
        if (strcmp(a->action, "revoke_app_password") == 0 &&
            app_password_revoke(db, a->user, a->label, err, errlen) < 0)
            log_warnx("event=incident_error id=%lld op=revoke_app_password error=%s", j->id_out,
                      log_quote(err)); /* revoked by the admin meanwhile: go on */
    }
    for (size_t i = 0; i < j->n_actions; i++)
        if (incident_action(db, j->id_out, j->row.updated, j->actions[i].action,
                            j->actions[i].detail, "floodgated") < 0) {
            str_copy(err, store_errmsg(db), errlen);
            return -1;
        }
    return 0;
}

static void write_incident(struct outbreak *o, struct incident *inc);

/* log_action - the log line of INC's step WHAT (DETAIL). */
static void log_action(const struct incident *inc, const char *what, const char *detail)
{
    log_info("event=incident id=%lld subject=%s action=%s detail=%s", inc->id,
             log_quote(inc->subject), what, log_quote(detail));
}
static void send_alert(struct outbreak *o, struct incident *inc);
static void hooks_try(struct outbreak *o, struct incident *inc);

/* incident_written - on the loop: the id is known; write what came
 * meanwhile, mail the administrator. */
static void incident_written(void *arg, int status, const char *err)
{
    struct incident_job *j = arg;
    struct outbreak *o = j->o;
    struct incident *inc = strmap_get(o->incidents, j->subject);
    if (status != 0)
        log_warnx("event=store_error op=incident subject=%s error=%s", log_quote(j->subject),
                  log_quote(err));
    if (inc != NULL) {
        inc->writing = false;
        if (status == 0 && j->seq > inc->committed)
            inc->committed = j->seq;
        if (status == 0 && inc->id == 0) {
            inc->id = j->id_out;
            log_info("event=incident id=%lld subject=%s state=%s action=opened", inc->id,
                     log_quote(inc->subject), state_of(inc->level));
            /* the steps taken before the incident had its number */
            for (size_t i = 0; i < j->n_actions; i++)
                log_action(inc, j->actions[i].action, j->actions[i].detail);
        }
        if (status != 0) { /* try again with the next tick */
            memcpy(inc->actions + inc->n_actions, j->actions,
                   sizeof j->actions[0] * (j->n_actions < ACTIONS_MAX - inc->n_actions
                                               ? j->n_actions
                                               : ACTIONS_MAX - inc->n_actions));
            inc->n_actions += j->n_actions < ACTIONS_MAX - inc->n_actions
                                  ? j->n_actions
                                  : ACTIONS_MAX - inc->n_actions;
            inc->dirty = true;
        }
        if (inc->id && inc->mail_due)
            send_alert(o, inc);
        if (inc->dirty)
            write_incident(o, inc);
        hooks_try(o, inc);
    }
    free(j);
}

/* evidence - the report's signals, IPs and samples as JSON into ROW. */
static void evidence(const struct detector_report *r, struct incident_row *row)
{
    row->signals = json_array();
    row->ips = json_array();
    row->samples = json_array();
    for (size_t i = 0; i < r->n_figures; i++)
        json_array_append_new(row->signals,
                              json_pack("{s:s, s:f, s:f, s:i}", "name",
                                        detector_signal_name(r->figures[i].signal), "value",
                                        r->figures[i].value, "threshold", r->figures[i].threshold,
                                        "points", (int)r->figures[i].points));
    for (size_t i = 0; i < r->n_ips; i++)
        json_array_append_new(row->ips,
                              json_pack("{s:s, s:i, s:i}", "ip", r->ips[i].ip, "messages",
                                        (int)r->ips[i].messages, "logins", (int)r->ips[i].logins));
    for (size_t i = 0; i < r->n_samples; i++)
        json_array_append_new(row->samples,
                              json_pack("{s:s, s:s, s:s}", "queue_id", r->samples[i].queue_id,
                                        "subject", r->samples[i].subject, "recipients",
                                        r->samples[i].rcpts));
}

static void job_free_json(struct incident_job *j)
{
    json_decref(j->row.signals);
    json_decref(j->row.ips);
    json_decref(j->row.samples);
    j->row.signals = j->row.ips = j->row.samples = NULL;
}

/* incident_written_free - incident_written, then the JSON. */
static void incident_written_free(void *arg, int status, const char *err)
{
    job_free_json(arg);
    incident_written(arg, status, err);
}

/* write_incident - INC's state to the store (one write at a time). */
static void write_incident(struct outbreak *o, struct incident *inc)
{
    if (inc->writing) {
        inc->dirty = true;
        return;
    }
    struct incident_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        inc->dirty = true;
        return;
    }
    time_t now = clock_now();
    struct detector_report *r = malloc(sizeof *r);
    j->o = o;
    str_copy(j->subject, inc->subject, sizeof j->subject);
    str_copy(j->state, state_of(inc->level), sizeof j->state);
    str_copy(j->app_password, inc->app_password, sizeof j->app_password);
    j->row = (struct incident_row){.id = inc->id,
                                   .opened = inc->opened,
                                   .updated = now,
                                   .accepted = inc->accepted,
                                   .held = inc->held,
                                   .delivered = inc->delivered};
    if (r && detector_report(o->detector, inc->subject, now, r) == 0) {
        j->row.score = r->score;
        evidence(r, &j->row);
    }
    free(r);
    memcpy(j->actions, inc->actions, sizeof inc->actions[0] * inc->n_actions);
    j->n_actions = inc->n_actions;
    inc->n_actions = 0;
    j->seq = ++inc->seq;
    inc->writing = true;
    inc->dirty = false;
    committer_submit(o->srv->committer, incident_apply, incident_written_free, j);
}

/* ---- alerts ---- */

struct alert_job {
    char to[256];
    char hostname[256];
    char *text;
    char qid[17];
    char err[256];
    int rc;
};

/* alert_work - on a worker: the mail into the queue. */
static void alert_work(void *arg)
{
    struct alert_job *a = arg;
    store_db *db = store_thread_db(STORE_FILE);
    FILE *in = a->text ? fmemopen(a->text, strlen(a->text), "r") : NULL;
    const char *rcpts[1] = {a->to};
    struct inject_request req = {.path = "incident alert",
                                 .in = in,
                                 .sender = "",
                                 .rcpts = rcpts,
                                 .n_rcpts = 1,
                                 .admin = "floodgated",
                                 .hostname = a->hostname,
                                 .spool_dir = ".",
                                 .max_size = ALERT_BODY_MAX * 2};
    a->rc = db && in ? queue_inject(db, &req, a->qid, a->err, sizeof a->err) : -1;
    if (in)
        fclose(in);
}

static void alert_done(void *arg)
{
    struct alert_job *a = arg;
    if (a->rc < 0)
        log_warnx("event=alert_error to=%s error=%s", log_quote(a->to), log_quote(a->err));
    free(a->text);
    free(a);
}

/* alert_text - the mail about INC (RFC 5322, bare LF: inject converts). */
static char *alert_text(struct outbreak *o, const struct incident *inc, const char *to)
{
    struct detector_report *r = malloc(sizeof *r);
    char *text = malloc(ALERT_BODY_MAX), date[64], opened[32];
    time_t now = clock_now();
    if (r == NULL || text == NULL || detector_report(o->detector, inc->subject, now, r) < 0) {
        free(r);
        free(text);
        return NULL;
    }
    size_t n = 0;
#define OUT(...)                                                                                   \
    do {                                                                                           \
        int k_ = snprintf(text + n, ALERT_BODY_MAX - n, __VA_ARGS__);                              \
        if (k_ > 0)                                                                                \
            n = n + (size_t)k_ < ALERT_BODY_MAX ? n + (size_t)k_ : ALERT_BODY_MAX - 1;             \
    } while (0)
    OUT("From: Floodgate <postmaster@%s>\nTo: <%s>\nDate: %s\n", o->srv->cfg->hostname, to,
        rfc5322_date(now, date, sizeof date));
    OUT("Subject: [Floodgate] incident %lld: %s %s\nAuto-Submitted: auto-generated\n\n", inc->id,
        inc->subject, state_of(inc->level));
    OUT("Incident %lld, opened %s: %s is %s (score %u).\n\n", inc->id,
        iso8601_utc(inc->opened, opened, sizeof opened), inc->subject, state_of(inc->level),
        r->score);
    OUT("Signals:\n");
    for (size_t i = 0; i < r->n_figures; i++)
        OUT("  %-26s %.1f (threshold %.1f)\n", detector_signal_name(r->figures[i].signal),
            r->figures[i].value, r->figures[i].threshold);
    OUT("Client IPs:\n");
    for (size_t i = 0; i < r->n_ips; i++)
        OUT("  %s: %u messages, %u logins\n", r->ips[i].ip, r->ips[i].messages, r->ips[i].logins);
    OUT("Messages: %lld accepted, %lld held, %lld recipients delivered\n", inc->accepted, inc->held,
        inc->delivered);
    OUT("\nSee: floodctl incident show %lld\nFalse alarm: floodctl incident dismiss %lld\n",
        inc->id, inc->id);
#undef OUT
    free(r);
    return text;
}

/* hooks_try - tell the hooks of INC's change once the store holds it:
 * they read the incident from there.  The first alert of an incident is
 * "opened", whatever it climbed to meanwhile (its state says). */
static void hooks_try(struct outbreak *o, struct incident *inc)
{
    if (!inc->hook_due || inc->id == 0 || inc->committed < inc->hook_seq)
        return;
    inc->hook_due = false;
    alert_hooks_fire(o->hooks, inc->id, inc->subject,
                     inc->announced && inc->change ? inc->change : "opened");
    inc->announced = true;
}

/* send_alert - mail alerts.mail_to and tell the hooks about INC, at most
 * once per alerts.min_interval (the rest waits for the tick). */
static void send_alert(struct outbreak *o, struct incident *inc)
{
    const struct config_alerts *c = &o->srv->cfg->alerts;
    bool hooks = alert_hooks_enabled(o->hooks);
    time_t now = clock_now();
    inc->mail_due = c->mail_to != NULL || hooks;
    if (!inc->mail_due || inc->id == 0)
        return;
    if (inc->last_mail && now - inc->last_mail < (time_t)c->min_interval)
        return;
    inc->last_mail = now;
    inc->mail_due = false;
    if (hooks && inc->changed) { /* the write with it: in flight, or the next */
        inc->changed = false;
        inc->hook_due = true;
        inc->hook_seq = inc->dirty ? inc->seq + 1 : inc->seq;
        hooks_try(o, inc);
    }
    if (c->mail_to == NULL)
        return;
    struct alert_job *a = calloc(1, sizeof *a);
    if (a == NULL)
        return;
    str_copy(a->to, c->mail_to, sizeof a->to);
    str_copy(a->hostname, o->srv->cfg->hostname, sizeof a->hostname);
    a->text = alert_text(o, inc, a->to);
    log_info("event=incident id=%lld subject=%s state=%s action=alert_mail to=%s", inc->id,
             log_quote(inc->subject), state_of(inc->level), log_quote(a->to));
    worker_pool_submit(o->srv->workers, alert_work, alert_done, a);
}

/* ---- containment ---- */

struct quarantine_job {
    struct outbreak *o;
    char subject[300];
    long n;
    char err[256];
};

/* quarantine_work - on a worker: the subject's queued mail of the last
 * hour leaves the queue for the quarantine. */
static void quarantine_work(void *arg)
{
    struct quarantine_job *q = arg;
    store_db *db = store_thread_db(STORE_FILE);
    struct queue_filter f = {.newer_than = WINDOW};
    if (strncmp(q->subject, "ip:", 3) == 0) {
        f.ip = q->subject + 3;
        f.unauthenticated = true;
    } else {
        f.auth_user = q->subject;
    }
    struct queue_action_ctx ctx = {
        .state_dir = ".", .hostname = "", .admin = "floodgated", .reason = "incident"};
    q->n = db ? queue_act(db, QUEUE_QUARANTINE, &f, &ctx, q->err, sizeof q->err) : -1;
}

static void quarantine_done(void *arg)
{
    struct quarantine_job *q = arg;
    struct incident *inc = strmap_get(q->o->incidents, q->subject);
    if (q->n < 0)
        log_warnx("event=incident_error subject=%s op=quarantine error=%s", log_quote(q->subject),
                  log_quote(q->err));
    else if (inc != NULL && inc->n_actions < ACTIONS_MAX) {
        struct action *a = &inc->actions[inc->n_actions++];
        str_copy(a->action, "quarantine", sizeof a->action);
        snprintf(a->detail, sizeof a->detail, "%ld queued messages of the last hour", q->n);
        log_info("event=incident id=%lld subject=%s action=quarantine messages=%ld", inc->id,
                 log_quote(inc->subject), q->n);
        write_incident(q->o, inc);
    }
    scheduler_refresh(q->o->srv->scheduler);
    free(q);
}

/* act - note action WHAT (DETAIL) for INC's next write, and log it (an
 * incident not written yet has no number: its first steps are logged
 * when the write that gives it one comes back, incident_written).  The
 * action noted, or NULL when ACTIONS_MAX wait already (logged all the
 * same). */
static struct action *act(struct incident *inc, const char *what, const char *detail)
{
    struct action *a = NULL;
    if (inc->n_actions < ACTIONS_MAX) {
        a = &inc->actions[inc->n_actions++];
        memset(a, 0, sizeof *a);
        str_copy(a->action, what, sizeof a->action);
        str_copy(a->detail, detail, sizeof a->detail);
    }
    if (inc->id != 0)
        log_action(inc, what, detail);
    return a;
}

/* act_on_account - note the suspension of USER (LABEL NULL), or the
 * revocation of its app password LABEL, for INC's next write. */
static void act_on_account(struct incident *inc, const char *user, const char *label)
{
    char detail[400];
    bool own = strcmp(user, inc->subject) == 0;
    struct action *a;
    if (label == NULL)
        a = act(inc, "suspend", user);
    else if (own) /* the subject's own: the label, as it always was */
        a = act(inc, "revoke_app_password", label);
    else {
        snprintf(detail, sizeof detail, "%s: %s", user, label);
        a = act(inc, "revoke_app_password", detail);
    }
    if (a != NULL) { /* the one just noted, not an earlier one when the list is full */
        str_copy(a->user, user, sizeof a->user);
        str_copy(a->label, label ? label : "", sizeof a->label);
    }
}

/* ban_ip - ban IP for INC, unless it is an address of ours (relay or
 * limit-exempt groups: an office the owner also uses, where the
 * suspension is enough). */
static void ban_ip(struct outbreak *o, struct incident *inc, const char *ip)
{
    const struct config *cfg = o->srv->cfg;
    char detail[400];
    if (ipset_contains_str(cfg->relay_clients, ip) ||
        ipset_contains_str(cfg->client_limits.exempt, ip) || o->ops.ban == NULL)
        return;
    snprintf(detail, sizeof detail, "incident %lld: %s", inc->id, inc->subject);
    o->ops.ban(o->ops.ctx, ip, cfg->detector.ban_seconds, detail);
    act(inc, "ban", ip);
}

/* banned_by - is IP among the bans INC is about to write? */
static bool banned_by(const struct incident *inc, const char *ip)
{
    for (size_t i = 0; i < inc->n_actions; i++)
        if (strcmp(inc->actions[i].action, "ban") == 0 && strcmp(inc->actions[i].detail, ip) == 0)
            return true;
    return false;
}

/* contain_account - stop USER for INC: suspend it, or revoke the app
 * password APP_PASSWORD it sent with ("": none, or detector.
 * suspend_account: suspend all the same), and end its live sessions. */
static void contain_account(struct outbreak *o, struct incident *inc, const char *user,
                            const char *app_password)
{
    char detail[400];
    bool suspend = o->srv->cfg->detector.suspend_account || app_password[0] == '\0';
    act_on_account(inc, user, suspend ? NULL : app_password);
    unsigned ended =
        o->ops.end_sessions ? o->ops.end_sessions(o->ops.ctx, user, NULL, "incident") : 0;
    snprintf(detail, sizeof detail, "%u live sessions of %s", ended, user);
    act(inc, "end_sessions", detail);
}

/* stuffing_fired - did credential stuffing earn points in R? */
static bool stuffing_fired(const struct detector_report *r)
{
    for (size_t i = 0; i < r->n_figures; i++)
        if (r->figures[i].signal == SIG_STUFFING)
            return true;
    return false;
}

/* contain_stuffed - INC's subject was broken into by an address stuffing
 * credentials: every other account that address got into is contained
 * with it, in this incident (suspended, or its app password revoked; its
 * sessions ended; the address banned), or the stuffer keeps sending from
 * the others once the first is stopped.  An account with an incident of
 * its own is marked contained there too. */
static void contain_stuffed(struct outbreak *o, struct incident *inc,
                            const struct detector_report *r)
{
    if (!stuffing_fired(r))
        return;
    struct detector_account *acc = calloc(STUFFED_MAX, sizeof *acc);
    size_t n = acc ? detector_stuffed(o->detector, inc->subject, clock_now(), acc, STUFFED_MAX) : 0;
    char detail[600];
    for (size_t i = 0; i < n; i++) {
        struct incident *own = strmap_get(o->incidents, acc[i].subject);
        if (own != NULL && own->level >= DETECTOR_CONTAIN)
            continue; /* contained already, by its own incident */
        contain_account(o, inc, acc[i].subject, acc[i].app_password);
        if (!banned_by(inc, acc[i].ip))
            ban_ip(o, inc, acc[i].ip);
        if (own != NULL) {
            snprintf(detail, sizeof detail, "with the incident of %s (credential stuffing from %s)",
                     inc->subject, acc[i].ip);
            act(own, "contained", detail);
            own->level = DETECTOR_CONTAIN;
            own->change = "contained";
            own->changed = true;
            write_incident(o, own);
            send_alert(o, own);
        }
    }
    free(acc);
}

/* contain - stop INC's subject (contain_account), ban its IPs, contain
 * the accounts a stuffer got into with it, quarantine the last hour's
 * queued mail. */
static void contain(struct outbreak *o, struct incident *inc, const struct detector_report *r)
{
    contain_account(o, inc, inc->subject, inc->app_password);
    for (size_t i = 0; i < r->n_ips; i++)
        ban_ip(o, inc, r->ips[i].ip);
    contain_stuffed(o, inc, r);
    struct quarantine_job *q = calloc(1, sizeof *q);
    if (q != NULL) {
        q->o = o;
        str_copy(q->subject, inc->subject, sizeof q->subject);
        worker_pool_submit(o->srv->workers, quarantine_work, quarantine_done, q);
    }
}

/* climb - SUBJECT's level rose to L: act on every rung passed. */
static void climb(struct outbreak *o, const char *subject, enum detector_level l)
{
    struct detector_report *r = malloc(sizeof *r);
    time_t now = clock_now();
    if (r == NULL || detector_report(o->detector, subject, now, r) < 0) {
        free(r);
        return;
    }
    char signals[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < r->n_figures && n < sizeof signals; i++)
        n += (size_t)snprintf(signals + n, sizeof signals - n, "%s%s=%.0f", i ? "," : "",
                              detector_signal_name(r->figures[i].signal), r->figures[i].value);
    if (l < DETECTOR_ALERT) {
        log_info("event=detector_suspect subject=%s score=%u signals=%s", log_quote(subject),
                 r->score, log_quote(signals));
        free(r);
        return;
    }
    struct incident *inc = strmap_get(o->incidents, subject);
    if (inc == NULL) {
        if ((inc = calloc(1, sizeof *inc)) == NULL ||
            strmap_put(o->incidents, subject, inc, NULL) < 0) {
            free(inc);
            free(r);
            return;
        }
        str_copy(inc->subject, subject, sizeof inc->subject);
        inc->opened = now;
        if (r->n_labels > 0)
            str_copy(inc->app_password, r->labels[0], sizeof inc->app_password);
        char detail[sizeof signals + 32];
        snprintf(detail, sizeof detail, "score %u: %s", r->score, signals);
        act(inc, "alert", detail);
        inc->change = "opened";
        inc->changed = true;
    }
    bool lan = strncmp(subject, "ip:", 3) == 0;
    if (l >= DETECTOR_HOLD && inc->level < DETECTOR_HOLD) {
        act(inc, "hold", "new messages are answered 250 and held");
        inc->change = "escalated";
        inc->changed = true;
    }
    /* a LAN client is one of ours: held and alerted on, never banned */
    if (l >= DETECTOR_CONTAIN && inc->level < DETECTOR_CONTAIN && !lan) {
        contain(o, inc, r);
        inc->change = "contained";
        inc->changed = true;
    }
    /* never down: another incident may have contained it already */
    enum detector_level now_at = lan && l > DETECTOR_HOLD ? DETECTOR_HOLD : l;
    if (now_at > inc->level)
        inc->level = now_at;
    if (inc->id != 0) /* a new one: its "opened" line says it */
        log_info("event=incident id=%lld subject=%s state=%s score=%u signals=%s", inc->id,
                 log_quote(subject), state_of(inc->level), r->score, log_quote(signals));
    free(r);
    write_incident(o, inc);
    send_alert(o, inc);
}

/* gauge - the open incidents for /metrics. */
static void gauge(struct outbreak *o)
{
    metrics_set("floodgate_incidents_open", (double)strmap_count(o->incidents), NULL);
}

/* late_one - the late logins of a contained account: banned, ended. */
static bool late_one(const char *key, void *value, void *arg)
{
    struct outbreak *o = arg;
    struct incident *inc = value;
    if (inc->n_late == 0)
        return true;
    for (size_t i = 0; i < inc->n_late; i++)
        ban_ip(o, inc, inc->late[i]);
    inc->n_late = 0;
    if (o->ops.end_sessions)
        o->ops.end_sessions(o->ops.ctx, inc->subject, NULL, "incident");
    write_incident(o, inc);
    return true;
}

/* act_now - act on every subject whose level rose. */
static void act_now(evutil_socket_t fd, short what, void *arg)
{
    struct outbreak *o = arg;
    char key[300];
    strmap_sweep(o->incidents, late_one, o, NULL);
    bool any = false;
    while (detector_take_change(o->detector, key, sizeof key)) {
        climb(o, key, detector_level(o->detector, key));
        any = true;
    }
    if (any)
        gauge(o);
}

/* take_changes - after a message or a login: the steps of the ladder run
 * once the caller is done.  Containment ends live sessions, and the one
 * whose message or login climbed the ladder is still in the middle of it. */
static void take_changes(struct outbreak *o)
{
    event_active(o->act, EV_TIMEOUT, 0);
}

/* ---- bulk senders ---- */

/* bulk_set - O's bulk senders are those of LIST. */
static void bulk_set(struct outbreak *o, json_t *list)
{
    struct strmap *m = strmap_new();
    size_t i;
    json_t *v;
    if (m == NULL)
        return;
    json_array_foreach(list, i, v) strmap_put(m, json_string_value(v), (void *)1, NULL);
    strmap_free(o->bulk, NULL);
    o->bulk = m;
}

struct bulk_job {
    struct outbreak *o;
    json_t *list;
};

static void bulk_work(void *arg)
{
    struct bulk_job *b = arg;
    store_db *db = store_thread_db(STORE_FILE);
    b->list = db ? accounts_bulk_users(db) : NULL;
}

static void bulk_done(void *arg)
{
    struct bulk_job *b = arg;
    if (b->list == NULL)
        log_warnx("event=store_error op=read_bulk_senders");
    else
        bulk_set(b->o, b->list);
    json_decref(b->list);
    free(b);
}

void outbreak_reload_bulk(struct outbreak *o)
{
    struct bulk_job *b = calloc(1, sizeof *b);
    if (b == NULL)
        return;
    b->o = o;
    worker_pool_submit(o->srv->workers, bulk_work, bulk_done, b);
}

/* ---- saving the detector ---- */

struct save_buf {
    char *p;
    size_t len, cap;
};

static int save_append(const char *text, size_t len, void *arg)
{
    struct save_buf *b = arg;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + len)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, text, len);
    b->len += len;
    return 0;
}

struct save_job {
    struct outbreak *o;
    struct save_buf buf, counters;
    time_t now;
};

static int save_apply(store_db *db, void *arg, char *err, size_t errlen)
{
    struct save_job *s = arg;
    if (saved_state_put(db, STATE_NAME, s->buf.p, s->buf.len, s->now) == 0 &&
        saved_state_put(db, COUNTERS_NAME, s->counters.p, s->counters.len, s->now) == 0)
        return 0;
    str_copy(err, store_errmsg(db), errlen);
    return -1;
}

static void save_done(void *arg, int status, const char *err)
{
    struct save_job *s = arg;
    if (status != 0)
        log_warnx("event=store_error op=save_detector error=%s", log_quote(err));
    if (s->o)
        s->o->saving = false;
    free(s->buf.p);
    free(s->counters.p);
    free(s);
}

/* save - the detector's state to the store, through the committer. */
static void save(struct outbreak *o, bool last)
{
    if (o->saving && !last)
        return;
    struct save_job *s = calloc(1, sizeof *s);
    if (s == NULL)
        return;
    s->now = clock_now();
    s->o = last ? NULL : o;
    if (detector_save(o->detector, s->now, save_append, &s->buf) < 0 ||
        (o->srv->policy &&
         policy_counters_save(o->srv->policy, s->now, save_append, &s->counters) < 0)) {
        log_warnx("event=save_detector error=out_of_memory");
        free(s->buf.p);
        free(s->counters.p);
        free(s);
        return;
    }
    o->saving = !last;
    o->last_save = s->now;
    committer_submit(o->srv->committer, save_apply, save_done, s);
}

void outbreak_save_now(struct outbreak *o)
{
    if (o != NULL)
        save(o, true);
}

/* load - the detector's state as saved, and the open incidents. */
static void load(struct outbreak *o)
{
    size_t len;
    time_t saved = 0, now = clock_now();
    char *text = saved_state_get(o->srv->db, STATE_NAME, &len, &saved);
    size_t n = text ? detector_load(o->detector, text, len, now) : 0;
    free(text);
    /* the hourly sending limits go on where they were */
    if ((text = saved_state_get(o->srv->db, COUNTERS_NAME, &len, NULL)) != NULL && o->srv->policy)
        policy_counters_load(o->srv->policy, text, len, now);
    free(text);
    json_t *open = incident_open_subjects(o->srv->db), *v;
    const char *subject;
    json_object_foreach(open, subject, v)
    {
        struct incident *inc = calloc(1, sizeof *inc);
        if (inc == NULL || strmap_put(o->incidents, subject, inc, NULL) < 0) {
            free(inc);
            continue;
        }
        str_copy(inc->subject, subject, sizeof inc->subject);
        inc->id = json_integer_value(json_object_get(v, "id"));
        const char *st = json_string_value(json_object_get(v, "state"));
        inc->level = st && strcmp(st, "contained") == 0 ? DETECTOR_CONTAIN
                     : st && strcmp(st, "held") == 0    ? DETECTOR_HOLD
                                                        : DETECTOR_ALERT;
        inc->opened = now;
        inc->announced = true; /* before the restart */
    }
    json_decref(open);
    json_t *bulk = accounts_bulk_users(o->srv->db);
    bulk_set(o, bulk);
    json_decref(bulk);
    log_info("event=detector_loaded subjects=%zu open_incidents=%zu saved=%lld", n,
             strmap_count(o->incidents), (long long)saved);
}

/* ---- the tick ---- */

static bool tick_one(const char *key, void *value, void *arg)
{
    struct outbreak *o = arg;
    struct incident *inc = value;
    if (inc->dirty && !inc->writing)
        write_incident(o, inc);
    if (inc->mail_due && inc->id)
        send_alert(o, inc);
    return true;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct outbreak *o = arg;
    time_t now = clock_now();
    strmap_sweep(o->incidents, tick_one, o, NULL);
    if (now - o->last_save >= SAVE_SECONDS)
        save(o, false);
    if (now - o->last_sweep >= SWEEP_SECONDS) {
        detector_sweep(o->detector, now);
        o->last_sweep = now;
    }
}

/* ---- the interface ---- */

struct outbreak *outbreak_new(struct smtp_server *srv)
{
    struct outbreak *o = calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->srv = srv;
    o->detector = detector_new(&srv->cfg->detector);
    o->hooks = alert_hooks_new(srv->cfg);
    o->incidents = strmap_new();
    o->tick = event_new(srv->base, -1, EV_PERSIST, tick, o);
    o->act = event_new(srv->base, -1, 0, act_now, o);
    struct timeval tv = {TICK_SECONDS, 0};
    if (o->detector == NULL || o->hooks == NULL || o->incidents == NULL || o->tick == NULL ||
        o->act == NULL || event_add(o->tick, &tv) < 0) {
        outbreak_free(o);
        return NULL;
    }
    o->last_save = o->last_sweep = clock_now();
    metrics_declare("floodgate_incidents_open", METRIC_GAUGE,
                    "Incidents of the outbreak detector not released or dismissed.");
    load(o);
    gauge(o);
    return o;
}

void outbreak_free(struct outbreak *o)
{
    if (o == NULL)
        return;
    if (o->tick)
        event_free(o->tick);
    if (o->act)
        event_free(o->act);
    alert_hooks_free(o->hooks);
    detector_free(o->detector);
    strmap_free(o->incidents, free);
    strmap_free(o->bulk, NULL);
    free(o);
}

void outbreak_set_ops(struct outbreak *o, const struct outbreak_ops *ops)
{
    o->ops = *ops;
}

void outbreak_reload(struct outbreak *o)
{
    detector_set_config(o->detector, &o->srv->cfg->detector);
    if (alert_hooks_set_config(o->hooks, o->srv->cfg) < 0)
        log_warnx("event=reload warning=%s",
                  log_quote("out of memory: the alert hooks keep the old settings"));
}

/* body_fingerprint - of the body after the header section (whose
 * Message-ID, Date and To differ in every copy). */
static uint64_t body_fingerprint(const char *msg, size_t len)
{
    const char *end = msg ? memmem(msg, len, "\r\n\r\n", 4) : NULL;
    if (end == NULL)
        return 0;
    end += 4;
    return detector_fingerprint(end, len - (size_t)(end - msg));
}

/* watching - is the detector on?  Off (detector.enabled = false), it is
 * fed nothing and costs nothing; what it already holds stays held until
 * an administrator releases it. */
static bool watching(const struct outbreak *o)
{
    return o->srv->cfg->detector.enabled;
}

bool outbreak_end_of_data(struct outbreak *o, const struct outbreak_message *m)
{
    if (!watching(o))
        return outbreak_holds(o, m->subject);
    struct detector_message dm = {
        .subject = m->subject,
        .session = m->session,
        .client_ip = m->client_ip,
        .app_password = m->app_password,
        .bulk = o->bulk && strmap_get(o->bulk, m->subject) != NULL,
        .header_from = m->header_from,
        .display_name = m->display_name,
        .subject_header = m->subject_header,
        .body_fingerprint = body_fingerprint(m->body, m->body_len),
        .rcpts = m->rcpts,
        .rcpt_local = m->rcpt_local,
        .n_rcpts = m->n_rcpts,
    };
    detector_message(o->detector, &dm, clock_now());
    take_changes(o);
    return outbreak_holds(o, m->subject);
}

int outbreak_score(struct outbreak *o, const char *subject)
{
    struct detector_report *r = malloc(sizeof *r); /* too big for the stack */
    int score =
        r && detector_report(o->detector, subject, clock_now(), r) == 0 ? (int)r->score : -1;
    free(r);
    return score;
}

struct alert_hooks *outbreak_hooks(struct outbreak *o)
{
    return o ? o->hooks : NULL;
}

bool outbreak_holds(struct outbreak *o, const char *subject)
{
    /* the detector's level, not the incident's: the message that climbed
     * to hold is held too, before the incident's steps have run */
    struct incident *inc = strmap_get(o->incidents, subject);
    return detector_level(o->detector, subject) >= DETECTOR_HOLD ||
           (inc != NULL && inc->level >= DETECTOR_HOLD);
}

void outbreak_accepted(struct outbreak *o, const char *subject, const char *qid, bool held)
{
    struct incident *inc = strmap_get(o->incidents, subject);
    if (inc == NULL)
        return;
    inc->accepted++;
    inc->held += held;
    inc->dirty = true; /* written with the next tick */
}

/* subject_key - the detector's key of an account ADDRESS (lowercased)
 * in KEY (300 octets). */
static const char *subject_key(char *key, const char *address)
{
    str_copy(key, address, 300);
    str_lower(key);
    return key;
}

void outbreak_auth(struct outbreak *o, const char *user, const char *ip, const char *label,
                   unsigned long session, bool ok)
{
    char key[300];
    time_t now = clock_now();
    if (!watching(o))
        return;
    subject_key(key, user);
    if (ok)
        detector_session_start(o->detector, key, ip, session, now);
    detector_auth(o->detector, key, ip, ok, now);
    if (ok && label != NULL)
        detector_app_password(o->detector, key, label, now);
    struct incident *inc = strmap_get(o->incidents, key);
    if (ok && inc != NULL && inc->level >= DETECTOR_CONTAIN && inc->n_late < 8) {
        bool known = false;
        for (size_t i = 0; i < inc->n_late; i++)
            known |= strcmp(inc->late[i], ip) == 0;
        if (!known)
            str_copy(inc->late[inc->n_late++], ip, sizeof inc->late[0]);
    }
    take_changes(o);
}

void outbreak_session_end(struct outbreak *o, const char *user, unsigned long session)
{
    char key[300];
    if (watching(o))
        detector_session_end(o->detector, subject_key(key, user), session);
}

void outbreak_bounce(struct outbreak *o, const char *address)
{
    char key[300];
    time_t now = clock_now();
    if (!watching(o))
        return;
    subject_key(key, address);
    detector_bounce(o->detector, key, now);
    detector_evaluate(o->detector, key, now);
    take_changes(o);
}

/* enhanced_status - the "5.1.1" at the start of a reply TEXT ("550 5.1.1
 * ..."), into BUF; "" when none. */
static const char *enhanced_status(const char *text, char *buf, size_t len)
{
    buf[0] = '\0';
    if (text == NULL)
        return buf;
    const char *p = strchr(text, ' ');
    if (p == NULL || !(p[1] >= '2' && p[1] <= '5') || p[2] != '.')
        return buf;
    size_t n = strcspn(p + 1, " ");
    if (n < len) {
        memcpy(buf, p + 1, n);
        buf[n] = '\0';
    }
    return buf;
}

void outbreak_delivery(struct outbreak *o, const char *subject, int code, const char *text)
{
    char enh[16];
    if (!watching(o))
        return;
    enum detector_outcome oc = detector_outcome_of(code, enhanced_status(text, enh, sizeof enh));
    time_t now = clock_now();
    detector_delivery(o->detector, subject, oc, now);
    struct incident *inc = strmap_get(o->incidents, subject);
    if (inc != NULL && oc == DETECTOR_DELIVERED && inc->level < DETECTOR_CONTAIN) {
        inc->delivered++;
        inc->dirty = true;
    }
    if (oc != DETECTOR_DELIVERED) {
        detector_evaluate(o->detector, subject, now);
        take_changes(o);
    }
}

void outbreak_outcome(void *arg, const char *auth_user, int code, const char *text, bool delivered)
{
    char key[300];
    outbreak_delivery(arg, subject_key(key, auth_user), delivered && code == 0 ? 250 : code, text);
}

void outbreak_closed(struct outbreak *o, long long id, const char *subject, const char *state)
{
    time_t now = clock_now();
    if (strcmp(state, "dismissed") == 0)
        detector_dismiss(o->detector, subject, now);
    else
        detector_release(o->detector, subject, now);
    free(strmap_del(o->incidents, subject));
    gauge(o);
    log_info("event=incident id=%lld subject=%s state=%s", id, log_quote(subject), state);
    /* the end of an incident is always told: no later change will be */
    alert_hooks_fire(o->hooks, id, subject, state);
}
