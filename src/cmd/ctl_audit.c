/* cmd/ctl_audit - floodctl audit list: who did what, from the store's
 * audit trail (store/audit.h), oldest first.
 *
 * Room: cmd.  Every account, ban, session, incident, pause and key
 * command of floodctl that succeeds, every queue and quarantine action
 * (floodctl, the API, the web pages, the daemon's own) leaves one row. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd/ctl.h"
#include "store/audit.h"

#define AUDIT_LIST_DEFAULT 1000 /* rows shown unless --limit says otherwise */

const char usage_audit[] =
    "  floodctl audit list [--since WHEN] [--limit N] [--json]   admin actions, oldest first\n"
    "                      (WHEN: 2026-12-06T20:00:00Z, or a duration back: 30m, 12h, 7d)\n";

/* parse_since - WHEN as unix seconds: an ISO 8601 UTC time, or a duration
 * back from now. */
static int parse_since(const char *when, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end && *end == '\0') {
        *out = timegm(&tm);
        return 0;
    }
    long long back;
    if (parse_duration(when, &back) < 0 || back < 0)
        return -1;
    *out = time(NULL) - (time_t)back;
    return 0;
}

static struct opt *opts_list(void)
{
    static struct opt opts[] = {
        {"--since", true, false, NULL}, {"--limit", true, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

static int audit_row(struct table *t, json_t *r, void *unused)
{
    char at[32], count[24];
    const char *row[] = {fmt_iso(json_object_get(r, "at"), at, sizeof at), str_of(r, "admin"),
                         str_of(r, "action"), fmt_count(r, "count", count, sizeof count),
                         str_of(r, "selection")};
    return table_add(t, row, NULL);
}

/* audit_list - floodctl audit list [--since WHEN] [--limit N] */
static int audit_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Time (UTC)", "Admin", "Action", "Count", "Selection"};
    time_t since = 0;
    unsigned limit = AUDIT_LIST_DEFAULT;
    if (o[0].set && parse_since(o[0].value, &since) < 0)
        return usage_error("audit",
                           "--since '%s': give a time such as 2026-12-06T20:00:00Z or a "
                           "duration back such as 12h or 7d",
                           o[0].value);
    if (o[1].set && parse_count("audit", "--limit", o[1].value, &limit) != EXIT_OK)
        return EXIT_USAGE;
    store_db *db = ctl_store(c);
    json_t *list = db ? store_audit_list(db, since, limit) : NULL;
    struct table t = {.ncols = 5, .head = head};
    if (list == NULL)
        return db ? fail("cannot read the audit trail from the store (details in the log)")
                  : EXIT_FAIL;
    return print_list(c->json, list, &t, audit_row, NULL, "no admin action recorded");
}

const struct subcommand audit_subs[] = {
    {"list", 0, 0, audit_list, opts_list},
    {NULL, 0, 0, NULL, NULL},
};
