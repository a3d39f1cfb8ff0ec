/* cmd/ctl_quarantine - floodctl quarantine.
 *
 * Room: cmd.  Quarantined messages left the queue: their bodies are
 * STATE/quarantine/XY/ID.eml, their envelopes and recipients stay in the
 * store, and the quarantine table says why, when and by whom.  Listing
 * them is store_queue_list with the state "quarantined" plus that record
 * (store_quarantine_attach: two queries for the whole page); release and purge are
 * queue_act on the same selection, directly in the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctl.h"
#include "core/util.h"
#include "control/admin_ops.h"
#include "queue/queue_actions.h"
#include "store/queue_query.h"
#include "store/queue.h"
#include "store/store.h"

#define QUARANTINED "quarantined"

/* ---------------------------------------------------------------- usage */

const char usage_quarantine[] = "  floodctl quarantine list [SELECTION] [--limit N] [--json]\n"
                                "  floodctl quarantine show ID [--json]\n"
                                "  floodctl quarantine export ID > FILE\n"
                                "  floodctl quarantine release SELECTION [--json]\n"
                                "  floodctl quarantine purge SELECTION --yes [--json]\n"
                                "    (SELECTION as for queue, without --state)\n";

/* ------------------------------------------------------ the records */

/* ----------------------------------------------------------------- list */

enum { QLIST_LIMIT = SEL_N };

/* opts_qlist - the options of quarantine list. */
static struct opt *opts_qlist(void)
{
    static struct opt opts[] = {
        SELECT_OPTS, {"--limit", true, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* qlist_row - the table cells of quarantined message M. */
static int qlist_row(struct table *t, json_t *m, void *unused)
{
    static const size_t maxw[] = {0, 0, CELL_MAX, CELL_MAX, CELL_MAX, CELL_MAX, CELL_MAX, 0};
    char when[32], to[300];
    json_t *rcpts = json_object_get(m, "recipients");
    const char *first = str_of(json_array_get(rcpts, 0), "address");
    const char *sender = str_of(m, "sender");
    if (json_array_size(rcpts) > 1)
        snprintf(to, sizeof to, "%s +%zu", first ? first : "-", json_array_size(rcpts) - 1);
    else
        snprintf(to, sizeof to, "%s", first ? first : "-");
    const char *row[] = {str_of(m, "id"),
                         fmt_time(json_object_get(m, "quarantined_at"), when, sizeof when),
                         str_of(m, "quarantined_by"),
                         str_of(m, "reason"),
                         sender && *sender ? sender : "<>",
                         to,
                         str_of(m, "auth_user"),
                         str_of(m, "client_ip")};
    return table_add(t, row, maxw);
}

/* quarantine_list_cmd - floodctl quarantine list [SELECTION] [--limit N] */
static int quarantine_list_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    struct queue_filter f;
    int rc = select_parse("quarantine", a, o, QUARANTINED, &f);
    if (rc != EXIT_OK)
        return rc;
    if (o[QLIST_LIMIT].value &&
        parse_count("quarantine", "--limit", o[QLIST_LIMIT].value, &f.limit) != EXIT_OK)
        return EXIT_USAGE;
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    json_t *list = store_queue_list(db, &f);
    if (list == NULL || quarantine_attach(db, list) < 0) {
        json_decref(list);
        return fail("cannot read the quarantine (details in the log)");
    }
    static const char *const head[] = {"ID", "Quarantined",          "By",       "Reason", "From",
                                       "To", "Authenticated sender", "Sender IP"};
    struct table t = {.ncols = 8, .head = head};
    return print_list(c->json, list, &t, qlist_row, NULL,
                      select_chosen(a, o) ? "no quarantined message matches the selection"
                                          : "quarantine is empty");
}

/* ------------------------------------------------------------- messages */

/* quarantine_show_cmd - floodctl quarantine show ID */
static int quarantine_show_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return message_show(c, "quarantine", qid_upper(a->pos[0]));
}

/* quarantine_export_cmd - floodctl quarantine export ID: the .eml file. */
static int quarantine_export_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return message_export(c, "quarantine", qid_upper(a->pos[0]));
}

/* -------------------------------------------------------------- actions */

enum { QACT_YES = SEL_N, QACT_REASON };

/* opts_qact - the options of release and purge. */
static struct opt *opts_qact(void)
{
    static struct opt opts[] = {SELECT_OPTS,
                                {"--yes", false, false, NULL},
                                {"--reason", true, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* quarantine_act_cmd - ACT on the quarantined messages selected. */
static int quarantine_act_cmd(struct ctl *c, struct args *a, struct opt *o, enum queue_action act)
{
    struct queue_filter f;
    int rc = select_parse("quarantine", a, o, QUARANTINED, &f);
    if (rc != EXIT_OK)
        return rc;
    if (!select_chosen(a, o))
        return usage_error("quarantine", "%s", "select messages with IDs, filters or --all");
    if (act == QUEUE_PURGE && !o[QACT_YES].set)
        return usage_error("quarantine", "%s",
                           "purge deletes the messages for good: add --yes to go ahead");
    if (act != QUEUE_PURGE && o[QACT_YES].set)
        return usage_error("quarantine", "%s", "only purge takes --yes");
    return select_act(c, "quarantine", act, &f, o[QACT_REASON].value);
}

/* quarantine_release_cmd - back into the queue, due now. */
static int quarantine_release_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return quarantine_act_cmd(c, a, o, QUEUE_UNQUARANTINE);
}

/* quarantine_purge_cmd - gone for good: envelope and file. */
static int quarantine_purge_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return quarantine_act_cmd(c, a, o, QUEUE_PURGE);
}

/* ------------------------------------------------------------- commands */

const struct subcommand quarantine_subs[] = {
    {"list", 0, FILTER_IDS_MAX, quarantine_list_cmd, opts_qlist},
    {"show", 1, 1, quarantine_show_cmd, NULL},
    {"export", 1, 1, quarantine_export_cmd, NULL},
    {"release", 0, FILTER_IDS_MAX, quarantine_release_cmd, opts_qact},
    {"purge", 0, FILTER_IDS_MAX, quarantine_purge_cmd, opts_qact},
    {NULL, 0, 0, NULL, NULL},
};
