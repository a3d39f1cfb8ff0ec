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

#include "cmd/ctl.h"
#include "control/admin_ops.h"
#include "core/config.h"
#include "core/util.h"
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

/* close_incident - release or dismiss (STATE) incident A->raw[0]
 * (control/admin_ops: the API's implementation too). */
static int close_incident(struct ctl *c, struct args *a, const char *state)
{
    long long id;
    char err[512];
    int status;
    if (parse_id(a->raw[0], &id) != EXIT_OK)
        return EXIT_USAGE;
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    json_t *out = admin_incident_close(db, id, state, c->admin, c->cfg->state_dir, c->cfg->hostname,
                                       &status, err, sizeof err);
    if (out == NULL)
        return fail("%s", err);
    tell_daemon(c, id, str_of(out, "subject"), state);
    int rc = EXIT_OK;
    if (c->json)
        rc = print_json(out);
    else
        printf("incident %lld %s: %ld held messages released%s, %zu bans lifted\n", id, state,
               (long)json_integer_value(json_object_get(out, "released_messages")),
               json_is_true(json_object_get(out, "unsuspended")) ? ", account unsuspended" : "",
               json_array_size(json_object_get(out, "unbanned")));
    json_decref(out);
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
