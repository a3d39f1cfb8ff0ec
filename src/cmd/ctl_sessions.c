/* cmd/ctl_sessions - floodctl session: list the live SMTP sessions of the
 * running daemon and end some of them (a client to contain now: a stolen
 * account, an infected PC).
 *
 * Room: cmd.  Sessions live only in the daemon's memory (its policy
 * engine keeps the registry), so these commands need it running; they
 * ask it over the control socket ("session.list", "session.kill"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctl.h"
#include "core/util.h"

const char usage_session[] =
    "  floodctl session list [--json]        live SMTP sessions\n"
    "  floodctl session kill ID|--ip ADDR|CIDR|--user ADDRESS   end them (421 4.7.0)\n";

/* session_call - REQUEST to the running daemon; NULL (said) when it is
 * not running or refused. */
static json_t *session_call(struct ctl *c, json_t *request)
{
    int not_running;
    json_t *res = ctl_call(c, request, &not_running);
    if (res == NULL && not_running)
        fail("floodgated is not running: there are no live sessions (start it, or check "
             "the config's state_dir)");
    return res;
}

static int session_row(struct table *t, json_t *s, void *arg)
{
    char id[24], msgs[24], port[24];
    const char *tls = json_is_true(json_object_get(s, "tls")) ? str_of(s, "tls_info") : "-";
    snprintf(port, sizeof port, "%s:%lld", str_of(s, "ip"),
             (long long)json_integer_value(json_object_get(s, "port")));
    const char *row[] = {fmt_count(s, "id", id, sizeof id),
                         port,
                         str_of(s, "listener"),
                         tls,
                         str_of(s, "auth_user"),
                         str_of(s, "app_password"),
                         str_of(s, "started"),
                         fmt_count(s, "messages", msgs, sizeof msgs),
                         str_of(s, "state")};
    return table_add(t, row, NULL);
}

/* session_list - floodctl session list */
static int session_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"ID",     "Client",        "Listener", "TLS",  "User",
                                       "App pw", "Started (UTC)", "Msgs",     "State"};
    struct table t = {.ncols = 9, .head = head};
    json_t *list = session_call(c, json_pack("{s:s}", "cmd", "session.list"));
    if (list == NULL)
        return EXIT_FAIL;
    return print_list(c->json, list, &t, session_row, NULL, "no live session");
}

static struct opt *opts_kill(void)
{
    static struct opt opts[] = {
        {"--ip", true, false, NULL}, {"--user", true, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* session_kill - floodctl session kill ID|--ip ADDR|--user ADDRESS */
static int session_kill(struct ctl *c, struct args *a, struct opt *o)
{
    uint64_t id = 0;
    if ((a->n == 1) + o[0].set + o[1].set != 1)
        return usage_error("session", "give one session ID, or --ip ADDR, or --user ADDRESS%s", "");
    if (a->n == 1 && (parse_u64(a->raw[0], strlen(a->raw[0]), &id) < 0 || id == 0))
        return usage_error("session", "'%s' is not a session ID (see 'floodctl session list')",
                           a->raw[0]);
    json_t *req = json_pack("{s:s, s:s}", "cmd", "session.kill", "reason", "admin");
    if (req && id)
        json_object_set_new(req, "id", json_integer((json_int_t)id));
    if (req && o[0].set)
        json_object_set_new(req, "ip", json_string(o[0].value));
    if (req && o[1].set)
        json_object_set_new(req, "user", json_string(o[1].value));
    json_t *res = session_call(c, req);
    if (res == NULL)
        return EXIT_FAIL;
    json_int_t n = json_integer_value(json_object_get(res, "ended"));
    if (c->json)
        print_json(res);
    else
        printf("%lld session(s) ended with 421 4.7.0\n", (long long)n);
    json_decref(res);
    if (n == 0 && id)
        return fail("no live session %llu: see 'floodctl session list'", (unsigned long long)id);
    return EXIT_OK;
}

const struct subcommand session_subs[] = {
    {"list", 0, 0, session_list, NULL},
    {"kill", 0, 1, session_kill, opts_kill},
    {NULL, 0, 0, NULL, NULL},
};

/* ctl_end_sessions - after floodctl changed an account in the store (a
 * suspension, a revoked app password): a running daemon ends the live
 * sessions of USER (with the app password LABEL when given) at once,
 * for REASON.  Says how many; a daemon that is not running has none. */
void ctl_end_sessions(struct ctl *c, const char *user, const char *label, const char *reason)
{
    int not_running;
    json_t *req =
        json_pack("{s:s, s:s, s:s}", "cmd", "session.kill", "user", user, "reason", reason);
    if (req && label)
        json_object_set_new(req, "app_password", json_string(label));
    json_t *res = ctl_call(c, req, &not_running);
    if (res == NULL) {
        if (!not_running)
            fprintf(stderr,
                    "floodctl: the change is stored, but its live sessions may still "
                    "be open: end them with 'floodctl session kill --user %s'\n",
                    user);
        return;
    }
    json_int_t n = json_integer_value(json_object_get(res, "ended"));
    if (n > 0 && !c->json)
        printf("%lld live session(s) ended\n", (long long)n);
    json_decref(res);
}
