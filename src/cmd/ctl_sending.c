/* cmd/ctl_sending - what a user may send: floodctl user grant-send-as,
 * revoke-send-as and limits, and the part of "user show" about sending.
 *
 * Room: cmd.  Grants and limits are rows in the store, read by the daemon
 * at each MAIL, so a change needs no reload; the hourly counters live in
 * the running daemon and are asked for over the control socket. */
#include <stdio.h>
#include <string.h>

#include "accounts/sending.h"
#include "cmd/ctl.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

/* grant_target - ADDRESS as given, but a bare domain means "@domain". */
static const char *grant_target(const char *arg, char *buf, size_t len)
{
    if (strchr(arg, '@'))
        return arg;
    snprintf(buf, len, "@%s", arg);
    return buf;
}

/* print_grants - {"user": USER, "send_as": [...]} after a change (--json). */
static int print_grants(store_db *db, const char *user)
{
    json_t *v = json_pack("{s:s, s:o}", "user", user, "send_as", accounts_send_as_list(db, user));
    int rc = v ? print_json(v) : fail("cannot read the grants (details in the log)");
    json_decref(v);
    return rc;
}

/* send_as_change - grant (GRANT) or revoke the send-as of A: USER
 * ADDRESS|@DOMAIN; log it, and print the grants (--json) or what changed. */
static int send_as_change(struct ctl *c, struct args *a, bool grant)
{
    char err[512], buf[300];
    store_db *db = ctl_store(c);
    const char *target = grant_target(a->pos[1], buf, sizeof buf);
    if (db == NULL)
        return EXIT_FAIL;
    if ((grant ? accounts_send_as_grant : accounts_send_as_revoke)(db, a->pos[0], target, err,
                                                                   sizeof err) < 0)
        return fail("%s", err);
    log_info("event=%s user=%s address=%s admin=%s", grant ? "send_as_granted" : "send_as_revoked",
             log_quote(a->pos[0]), log_quote(target), log_quote(c->admin));
    if (c->json)
        return print_grants(db, a->pos[0]);
    if (grant)
        printf("%s may now send as %s%s\n", a->pos[0], target[0] == '@' ? "any address " : "",
               target);
    else
        printf("%s may no longer send as %s\n", a->pos[0], target);
    return EXIT_OK;
}

/* user_grant_send_as - floodctl user grant-send-as USER ADDRESS|@DOMAIN */
int user_grant_send_as(struct ctl *c, struct args *a, struct opt *o)
{
    (void)o;
    return send_as_change(c, a, true);
}

/* user_revoke_send_as - floodctl user revoke-send-as USER ADDRESS|@DOMAIN */
int user_revoke_send_as(struct ctl *c, struct args *a, struct opt *o)
{
    (void)o;
    return send_as_change(c, a, false);
}

struct opt *user_limits_options(void)
{
    static struct opt opts[] = {{"--messages", true, false, NULL},
                                {"--recipients", true, false, NULL},
                                {"--domains", true, false, NULL},
                                {"--bulk", false, false, NULL},
                                {"--no-bulk", false, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* limit_value - an option's value: a number (0 = no limit) or "default"
 * (-1: the config's value). */
static int limit_value(const char *name, const char *value, long long *out)
{
    uint64_t v;
    if (strcmp(value, "default") == 0) {
        *out = -1;
        return EXIT_OK;
    }
    if (parse_u64(value, strlen(value), &v) < 0 || v > 10000000)
        return usage_error("user", "%s takes a number per hour (0: no limit) or 'default'",
                           name);
    *out = (long long)v;
    return EXIT_OK;
}

/* limits_json - {"messages_per_hour": {"limit": N, "source": "user"|"config"}, ...} */
static json_t *limits_json(const struct config *cfg, const struct user_limits *u)
{
    const long long mine[] = {u->messages, u->recipients, u->domains};
    const unsigned conf[] = {cfg->sending_limits.messages_per_hour,
                             cfg->sending_limits.recipients_per_hour,
                             cfg->sending_limits.domains_per_hour};
    static const char *const names[] = {"messages_per_hour", "recipients_per_hour",
                                        "domains_per_hour"};
    json_t *out = json_object();
    for (int i = 0; out && i < 3; i++)
        json_object_set_new(out, names[i],
                            json_pack("{s:I, s:s}", "limit",
                                      (json_int_t)(mine[i] >= 0 ? mine[i] : conf[i]), "source",
                                      mine[i] >= 0 ? "user" : "config"));
    return out;
}

/* print_limits - the limits of USER, as "user show" prints them. */
static void print_limits(json_t *limits, json_t *counters)
{
    static const char *const names[] = {"messages_per_hour", "recipients_per_hour",
                                        "domains_per_hour"};
    static const char *const used[] = {"messages", "recipients", "domains"};
    for (int i = 0; i < 3; i++) {
        json_t *l = json_object_get(limits, names[i]);
        long long limit = json_integer_value(json_object_get(l, "limit"));
        char lim[32], source[32];
        snprintf(lim, sizeof lim, "%lld", limit);
        snprintf(source, sizeof source, "(%s)", str_of(l, "source"));
        printf("  %-20s %-10s %-9s", names[i], limit ? lim : "no limit", source);
        if (counters)
            printf("  used in the last hour: %lld",
                   (long long)json_integer_value(json_object_get(counters, used[i])));
        putchar('\n');
    }
}

/* daemon_counters - the running daemon's hourly counters of SENDER, or
 * NULL when it is not running. */
static json_t *daemon_counters(struct ctl *c, const char *sender)
{
    int not_running;
    return ctl_call(c, json_pack("{s:s, s:s}", "cmd", "sending.counters", "sender", sender),
                    &not_running);
}

json_t *sending_facts(struct ctl *c, const char *address)
{
    store_db *db = ctl_store(c);
    struct user_limits u;
    if (db == NULL || accounts_user_limits(db, address, &u) < 0)
        return NULL;
    json_t *counters = daemon_counters(c, address);
    return json_pack("{s:o, s:o, s:o}", "send_as", accounts_send_as_list(db, address), "limits",
                     limits_json(c->cfg, &u), "counters",
                     counters ? counters : json_null());
}

/* tell_bulk - a running daemon reads the bulk senders again. */
static void tell_bulk(struct ctl *c)
{
    int not_running;
    json_decref(ctl_call(c, json_pack("{s:s}", "cmd", "state.reload"), &not_running));
}

/* user_limits - floodctl user limits USER [--messages N] [--recipients N]
 * [--domains N]: set (a number, 0 = no limit, or "default"), then show. */
int user_limits(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    store_db *db = ctl_store(c);
    struct user_limits u;
    if (db == NULL)
        return EXIT_FAIL;
    int found = accounts_user_limits(db, a->pos[0], &u);
    if (found < 0)
        return fail("cannot read the store (details in the log)");
    if (found == 0)
        return fail("no such user %s: see 'floodctl user list'", a->pos[0]);
    long long *field[] = {&u.messages, &u.recipients, &u.domains};
    bool change = false;
    for (int i = 0; i < 3; i++) {
        if (o[i].set && limit_value(o[i].name, o[i].value, field[i]) != EXIT_OK)
            return EXIT_USAGE;
        change |= o[i].set;
    }
    if (o[3].set && o[4].set)
        return usage_error("user", "give --bulk or --no-bulk, not both%s", "");
    if (change && accounts_user_set_limits(db, a->pos[0], &u, err, sizeof err) < 0)
        return fail("%s", err);
    if ((o[3].set || o[4].set) && accounts_user_set_bulk(db, a->pos[0], o[3].set, err,
                                                         sizeof err) < 0)
        return fail("%s", err);
    int bulk = accounts_user_bulk(db, a->pos[0]);
    if (change || o[3].set || o[4].set)
        log_info("event=user_limits user=%s messages=%lld recipients=%lld domains=%lld bulk=%d "
                 "admin=%s",
                 log_quote(a->pos[0]), u.messages, u.recipients, u.domains, bulk,
                 log_quote(c->admin));
    if (o[3].set || o[4].set)
        tell_bulk(c);
    json_t *limits = limits_json(c->cfg, &u), *counters = daemon_counters(c, a->pos[0]);
    json_object_set_new(limits, "bulk", json_boolean(bulk == 1));
    int rc = EXIT_OK;
    if (c->json) {
        json_t *out = json_pack("{s:s, s:O, s:O}", "user", a->pos[0], "limits", limits,
                                "counters", counters ? counters : json_null());
        rc = out ? print_json(out) : fail("out of memory");
        json_decref(out);
    } else {
        printf("sending limits of %s%s:\n", a->pos[0],
               change || o[3].set || o[4].set ? " (changed)" : "");
        print_limits(limits, counters);
        printf("  bulk sender: %s\n", bulk == 1 ? "yes (the detector relaxes volume signals)"
                                                : "no");
    }
    json_decref(limits);
    json_decref(counters);
    return rc;
}

void sending_print(json_t *facts)
{
    json_t *grants = json_object_get(facts, "send_as"), *g;
    json_t *counters = json_object_get(facts, "counters");
    size_t i;
    printf("may send as: its own address, aliases that deliver to it");
    json_array_foreach(grants, i, g) printf(", %s", json_string_value(g));
    printf("\nsending limits%s:\n", json_is_object(counters) ? "" : " (floodgated is not running: "
                                                                     "no counters)");
    print_limits(json_object_get(facts, "limits"), json_is_object(counters) ? counters : NULL);
}
