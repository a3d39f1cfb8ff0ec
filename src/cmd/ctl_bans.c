/* cmd/ctl_bans - floodctl ban: list, add and lift anti-hammering bans.
 *
 * Room: cmd.  Bans live in the store (store/ban_state.h), so these work
 * with the daemon stopped too; a running daemon is told to read them
 * again, and a new ban shuts the IP out from its next connection. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd/ctl.h"
#include "control/admin_ops.h"
#include "core/util.h"
#include "store/ban_state.h"

const char usage_ban[] =
    "  floodctl ban list [--all] [--json]    bans in force (--all: with a day of history)\n"
    "  floodctl ban add IP|CIDR [--duration DUR] [--reason TEXT]   (default 1d)\n"
    "  floodctl ban del IP|CIDR|--all        lift a ban\n";

static const char *remaining(json_t *until, time_t now, char *buf, size_t len)
{
    long long left = json_integer_value(until) - now;
    if (left <= 0)
        return "ended";
    if (left < 3600)
        snprintf(buf, len, "%lldm%02llds", left / 60, left % 60);
    else if (left < 86400)
        snprintf(buf, len, "%lldh%02lldm", left / 3600, left % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", left / 86400, left % 86400 / 3600);
    return buf;
}

static struct opt *opts_list(void)
{
    static struct opt opts[] = {{"--all", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

static int ban_row(struct table *t, json_t *b, void *now)
{
    char until[32], left[32], offenses[24];
    const char *row[] = {str_of(b, "ip"),
                         fmt_time(json_object_get(b, "until"), until, sizeof until),
                         remaining(json_object_get(b, "until"), *(time_t *)now, left, sizeof left),
                         str_of(b, "reason"),
                         fmt_count(b, "offenses", offenses, sizeof offenses),
                         str_of(b, "created_by")};
    return table_add(t, row, NULL);
}

/* ban_list - floodctl ban list [--all] */
static int ban_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"IP", "Until", "Left", "Reason", "Offenses", "By"};
    store_db *db = ctl_store(c);
    time_t now = time(NULL);
    json_t *list = db ? ban_state_list(db, now, o[0].set) : NULL;
    struct table t = {.ncols = 6, .head = head};
    if (list == NULL)
        return db ? fail("cannot read the bans from the store (details in the log)") : EXIT_FAIL;
    return print_list(c->json, list, &t, ban_row, &now, "no IP is banned");
}

static struct opt *opts_add(void)
{
    static struct opt opts[] = {{"--duration", true, false, NULL},
                                {"--reason", true, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* ban_add - floodctl ban add IP|CIDR [--duration DUR] [--reason TEXT] */
static int ban_add(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    int status;
    long long seconds = ADMIN_BAN_DEFAULT;
    if (o[0].set && parse_duration(o[0].value, &seconds) < 0)
        seconds = -1; /* refused below, with the advice */
    const char *reason = o[1].set ? o[1].value : "banned by the administrator";
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    json_t *out = admin_ban_add(db, a->raw[0], seconds, reason, c->admin, &status, err, sizeof err);
    if (out == NULL && status == ADMIN_BAD_REQUEST && o[0].set &&
        admin_canonical_ip(a->raw[0], err, sizeof err) == 0)
        return usage_error("ban",
                           "--duration '%s': give a duration such as 30m, 12h, 7d "
                           "(at most ten years)",
                           o[0].value);
    if (out == NULL)
        return status == ADMIN_BAD_REQUEST ? usage_error("ban", "%s", err) : fail("%s", err);
    if (c->json)
        print_json(out);
    else
        printf("%s banned for %llds: connections from it get 421 4.7.0\n", str_of(out, "ip"),
               seconds);
    json_decref(out);
    return ctl_state_reload(c);
}

static struct opt *opts_del(void)
{
    static struct opt opts[] = {{"--all", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* ban_del - floodctl ban del IP|CIDR|--all */
static int ban_del(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    int status;
    if (o[0].set != (a->n == 0))
        return usage_error("ban", "give one IP or network, or --all%s", "");
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    json_t *out =
        admin_ban_del(db, o[0].set ? NULL : a->raw[0], c->admin, &status, err, sizeof err);
    if (out == NULL)
        return status == ADMIN_BAD_REQUEST ? usage_error("ban", "%s", err) : fail("%s", err);
    size_t n = json_array_size(json_object_get(out, "lifted"));
    c->audit_count = (long)n;
    if (c->json)
        print_json(out);
    else if (o[0].set)
        printf("%zu ban(s) lifted\n", n);
    else
        printf("ban of %s lifted\n",
               json_string_value(json_array_get(json_object_get(out, "lifted"), 0)));
    json_decref(out);
    return ctl_state_reload(c);
}

const struct subcommand ban_subs[] = {
    {"list", 0, 0, ban_list, opts_list},
    {"add", 1, 1, ban_add, opts_add},
    {"del", 0, 1, ban_del, opts_del},
    {NULL, 0, 0, NULL, NULL},
};
