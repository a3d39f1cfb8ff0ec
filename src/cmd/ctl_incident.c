/* cmd/ctl_incident - floodctl incident: list, show, release and dismiss
 * the outbreak detector's incidents.
 *
 * Room: cmd.  Incidents live in the store (store/incidents.h), so these
 * work with the daemon stopped too.  release and dismiss undo in the store
 * what containment did (held messages of the incident go out, a suspended
 * account may log in again, the bans of its IPs are lifted) and then tell
 * a running daemon, whose detector forgets the episode (dismiss also
 * teaches it that this was normal for the sender). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "cmd/ctl.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/queue_actions.h"
#include "store/ban_state.h"
#include "store/incidents.h"

const char usage_incident[] =
    "  floodctl incident list [--all] [--json]   open incidents (--all: closed ones too)\n"
    "  floodctl incident show ID [--json]        signals, IPs, samples, actions\n"
    "  floodctl incident release ID [--json]     send what was held, lift suspension and bans\n"
    "  floodctl incident dismiss ID [--json]     the same, as a false positive: the detector\n"
    "                                            learns the pattern as normal for the sender\n";

/* parse_id - an incident number. */
static int parse_id(const char *text, long long *id)
{
    uint64_t v;
    if (parse_u64(text, strlen(text), &v) < 0 || v == 0 || v > (uint64_t)1 << 62)
        return usage_error("incident",
                           "'%s' is not an incident number: see 'floodctl incident "
                           "list'",
                           text);
    *id = (long long)v;
    return EXIT_OK;
}

static struct opt *opts_list(void)
{
    static struct opt opts[] = {{"--all", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

static int incident_row_print(struct table *t, json_t *i, void *arg)
{
    char id[24], opened[32], score[24], acc[24], held[24], del[24];
    json_t *counts = json_object_get(i, "counts");
    const char *row[] = {fmt_count(i, "id", id, sizeof id),
                         str_of(i, "subject"),
                         str_of(i, "state"),
                         fmt_iso(json_object_get(i, "opened"), opened, sizeof opened),
                         fmt_count(i, "score", score, sizeof score),
                         fmt_count(counts, "accepted", acc, sizeof acc),
                         fmt_count(counts, "held", held, sizeof held),
                         fmt_count(counts, "delivered", del, sizeof del)};
    return table_add(t, row, NULL);
}

/* incident_list_cmd - floodctl incident list [--all] */
static int incident_list_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"ID",    "Subject",  "State", "Opened (UTC)",
                                       "Score", "Accepted", "Held",  "Delivered"};
    store_db *db = ctl_store(c);
    json_t *list = db ? incident_list(db, o[0].set) : NULL;
    struct table t = {.ncols = 8, .head = head};
    if (list == NULL)
        return db ? fail("cannot read the incidents from the store (details in the log)")
                  : EXIT_FAIL;
    return print_list(c->json, list, &t, incident_row_print, NULL,
                      o[0].set ? "no incident" : "no open incident");
}

/* load - incident ID from the store, or an error said. */
static json_t *load(struct ctl *c, store_db *db, long long id)
{
    int found;
    json_t *inc = incident_get(db, id, &found);
    if (inc == NULL && found)
        fail("cannot read incident %lld from the store (details in the log)", id);
    else if (inc == NULL)
        fail("no incident %lld: see 'floodctl incident list --all'", id);
    return inc;
}

/* load_arg - the incident A->raw[0] names, into *ID; NULL when it
 * cannot be had (said, with *RC the exit status). */
static json_t *load_arg(struct ctl *c, struct args *a, long long *id, int *rc)
{
    *rc = EXIT_USAGE;
    if (parse_id(a->raw[0], id) != EXIT_OK)
        return NULL;
    *rc = EXIT_FAIL;
    store_db *db = ctl_store(c);
    return db ? load(c, db, *id) : NULL;
}

/* show_text - incident INC for a reader. */
static void show_text(json_t *inc)
{
    char buf[32];
    size_t i;
    json_t *v, *counts = json_object_get(inc, "counts");
    printf("incident %lld: %s\n", (long long)json_integer_value(json_object_get(inc, "id")),
           str_of(inc, "subject"));
    printf("  state: %s   score: %lld\n", str_of(inc, "state"),
           (long long)json_integer_value(json_object_get(inc, "score")));
    printf("  opened: %s   updated: %s\n", fmt_iso(json_object_get(inc, "opened"), buf, 32),
           str_of(inc, "updated") ? str_of(inc, "updated") : "-");
    printf("  app password: %s\n", str_of(inc, "app_password") ? str_of(inc, "app_password")
                                                               : "(none: main password or no "
                                                                 "login)");
    printf("  messages: %lld accepted, %lld held, %lld recipients delivered before "
           "containment\n",
           (long long)json_integer_value(json_object_get(counts, "accepted")),
           (long long)json_integer_value(json_object_get(counts, "held")),
           (long long)json_integer_value(json_object_get(counts, "delivered")));
    puts("  signals:");
    json_array_foreach(json_object_get(inc, "signals"), i, v)
    {
        printf("    %-26s %10.1f  (threshold %.1f, %lld points)\n", str_of(v, "name"),
               json_number_value(json_object_get(v, "value")),
               json_number_value(json_object_get(v, "threshold")),
               (long long)json_integer_value(json_object_get(v, "points")));
    }
    puts("  client IPs:");
    json_array_foreach(json_object_get(inc, "ips"), i, v)
    {
        printf("    %-40s %lld messages, %lld logins\n", str_of(v, "ip"),
               (long long)json_integer_value(json_object_get(v, "messages")),
               (long long)json_integer_value(json_object_get(v, "logins")));
    }
    puts("  sample messages:");
    json_array_foreach(json_object_get(inc, "samples"), i, v)
    {
        printf("    %s  Subject: %s\n      to: %s\n", str_of(v, "queue_id"),
               str_of(v, "subject") ? str_of(v, "subject") : "",
               str_of(v, "recipients") ? str_of(v, "recipients") : "");
    }
    puts("  actions:");
    json_array_foreach(json_object_get(inc, "actions"), i, v)
    {
        printf("    %s  %-20s %s  (by %s)\n", fmt_iso(json_object_get(v, "at"), buf, 32),
               str_of(v, "action"), str_of(v, "detail") ? str_of(v, "detail") : "",
               str_of(v, "by"));
    }
}

/* incident_show_cmd - floodctl incident show ID */
static int incident_show_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    long long id;
    int rc;
    json_t *inc = load_arg(c, a, &id, &rc);
    if (inc == NULL)
        return rc;
    rc = EXIT_OK;
    if (c->json)
        rc = print_json(inc);
    else
        show_text(inc);
    json_decref(inc);
    return rc;
}

/* What closing an incident undid. */
struct undo {
    long released;
    bool unsuspended;
    json_t *unbanned;
};

/* release_held - the messages the incident held go out: those of its
 * subject held since an hour before it opened (the window it saw). */
static int release_held(struct ctl *c, store_db *db, json_t *inc, struct undo *u)
{
    const char *subject = str_of(inc, "subject");
    struct queue_filter f = {.state = "held"};
    if (strncmp(subject, "ip:", 3) == 0) {
        f.ip = subject + 3;
        f.unauthenticated = true;
    } else {
        f.auth_user = subject;
    }
    long long opened = json_integer_value(json_object_get(inc, "opened_unix"));
    f.newer_than = (long long)time(NULL) - opened + 3600;
    struct queue_action_ctx ctx = {.state_dir = c->cfg->state_dir,
                                   .hostname = c->cfg->hostname,
                                   .admin = c->admin,
                                   .reason = "incident released"};
    char err[512];
    u->released = queue_act(db, QUEUE_RELEASE, &f, &ctx, err, sizeof err);
    if (u->released < 0)
        return fail("releasing the held messages stopped: %s (run the command again)", err);
    return EXIT_OK;
}

/* undo_actions - lift the suspensions and the bans the incident's actions
 * name (every account a credential stuffer got into is suspended by one
 * incident).  A revoked app password is gone: the user needs a new one. */
static int undo_actions(struct ctl *c, store_db *db, json_t *inc, struct undo *u)
{
    size_t i;
    json_t *act;
    char err[512];
    json_array_foreach(json_object_get(inc, "actions"), i, act)
    {
        const char *what = str_of(act, "action"), *detail = str_of(act, "detail");
        if (what == NULL || detail == NULL)
            continue;
        if (strcmp(what, "suspend") == 0) {
            if (accounts_user_suspend(db, detail, false, err, sizeof err) < 0)
                return fail("cannot unsuspend %s: %s", detail, err);
            u->unsuspended = true;
            log_info("event=unsuspend user=%s reason=incident admin=%s", log_quote(detail),
                     log_quote(c->admin));
        } else if (strcmp(what, "ban") == 0) {
            int rc = ban_state_delete(db, detail);
            if (rc < 0)
                return fail("cannot lift the ban of %s (details in the log)", detail);
            if (rc == 1) {
                json_array_append_new(u->unbanned, json_string(detail));
                log_info("event=unban ip=%s reason=incident admin=%s", detail, log_quote(c->admin));
            }
        }
    }
    return EXIT_OK;
}

/* tell_daemon - a running daemon forgets the episode (or learns it). */
static void tell_daemon(struct ctl *c, long long id, const char *subject, const char *state)
{
    int not_running;
    json_t *res = ctl_call(c,
                           json_pack("{s:s, s:I, s:s, s:s}", "cmd", "incident.closed", "id",
                                     (json_int_t)id, "subject", subject, "state", state),
                           &not_running);
    if (res == NULL && !not_running)
        fail("the change is stored, but floodgated did not take it: restart it");
    json_decref(res);
    ctl_kick(c);
}

/* close_incident - release or dismiss (STATE) incident A->raw[0]. */
static int close_incident(struct ctl *c, struct args *a, const char *state)
{
    long long id;
    int rc;
    json_t *inc = load_arg(c, a, &id, &rc);
    if (inc == NULL)
        return rc;
    store_db *db = ctl_store(c);
    char now_state[16];
    str_copy(now_state, str_of(inc, "state") ? str_of(inc, "state") : "", sizeof now_state);
    if (strcmp(now_state, "released") == 0 || strcmp(now_state, "dismissed") == 0) {
        json_decref(inc);
        return fail("incident %lld is already %s: nothing to do", id, now_state);
    }
    struct undo u = {.unbanned = json_array()};
    time_t now = time(NULL);
    /* the opening time in seconds, for the selection of held messages */
    struct tm tm = {0};
    const char *opened = str_of(inc, "opened");
    if (opened && strptime(opened, "%Y-%m-%dT%H:%M:%SZ", &tm) != NULL)
        json_object_set_new(inc, "opened_unix", json_integer((json_int_t)timegm(&tm)));
    rc = release_held(c, db, inc, &u);
    if (rc == EXIT_OK)
        rc = undo_actions(c, db, inc, &u);
    char detail[128];
    snprintf(detail, sizeof detail, "%ld held messages released%s, %zu bans lifted", u.released,
             u.unsuspended ? ", account unsuspended" : "", json_array_size(u.unbanned));
    if (rc == EXIT_OK &&
        (incident_close(db, id, state, c->admin, now) < 0 ||
         incident_action(db, id, now, strcmp(state, "released") == 0 ? "release" : "dismiss",
                         detail, c->admin) < 0))
        rc = fail("cannot write to the store (details in the log)");
    if (rc == EXIT_OK) {
        log_info("event=incident id=%lld subject=%s state=%s admin=%s detail=%s", id,
                 log_quote(str_of(inc, "subject")), state, log_quote(c->admin), log_quote(detail));
        tell_daemon(c, id, str_of(inc, "subject"), state);
        json_t *out = c->json
                          ? json_pack("{s:I, s:s, s:I, s:b, s:O}", "id", (json_int_t)id, "state",
                                      state, "released_messages", (json_int_t)u.released,
                                      "unsuspended", u.unsuspended, "unbanned", u.unbanned)
                          : NULL;
        if (out)
            print_json(out);
        else
            printf("incident %lld %s: %s\n", id, state, detail);
        json_decref(out);
    }
    json_decref(u.unbanned);
    json_decref(inc);
    return rc;
}

/* incident_release_cmd - floodctl incident release ID */
static int incident_release_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return close_incident(c, a, "released");
}

/* incident_dismiss_cmd - floodctl incident dismiss ID */
static int incident_dismiss_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return close_incident(c, a, "dismissed");
}

const struct subcommand incident_subs[] = {
    {"list", 0, 0, incident_list_cmd, opts_list},
    {"show", 1, 1, incident_show_cmd, NULL},
    {"release", 1, 1, incident_release_cmd, NULL},
    {"dismiss", 1, 1, incident_dismiss_cmd, NULL},
    {NULL, 0, 0, NULL, NULL},
};
