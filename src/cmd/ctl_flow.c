/* cmd/ctl_flow - floodctl pause and resume: the admin's brakes; and
 * floodctl reload, which has the daemon read its config file again.
 *
 * Room: cmd.  A pause is kept in the store (queue/pause_state.h), so it
 * holds across restarts and works with the daemon stopped; a running
 * daemon is told to read the pauses again ({"cmd":"state.reload"}).
 * "delivery" stops outbound and local delivery (mail is still accepted
 * and queued); "listener NAME" stops accepting mail on one listener. */
#include <stdio.h>
#include <string.h>

#include "cmd/ctl.h"
#include "core/config.h"
#include "core/log.h"
#include "queue/pause_state.h"

/* ---------------------------------------------------------------- usage */

const char usage_pause[] = "  floodctl pause delivery|listener NAME [--json]\n";
const char usage_resume[] = "  floodctl resume delivery|listener NAME [--json]\n";
const char usage_reload[] = "  floodctl reload [--json]\n";

/* --------------------------------------------------------------- output */

/* print_paused - "LABEL: delivery, listener:mx", or "LABEL: nothing". */
void print_paused(const char *label, json_t *paused)
{
    size_t i;
    json_t *p;
    printf("%s: ", label);
    if (json_array_size(paused) == 0)
        fputs("nothing", stdout);
    json_array_foreach(paused, i, p) printf("%s%s", i ? ", " : "", json_string_value(p));
    putchar('\n');
}

/* flow_report - what changed and what is paused now. */
static int flow_report(struct ctl *c, const char *what, bool on, json_t *paused, bool running)
{
    if (c->json) {
        json_t *out = json_pack("{s:O}", "paused", paused);
        int rc = out ? print_json(out) : fail("out of memory");
        json_decref(out);
        return rc;
    }
    if (strncmp(what, "listener:", 9) == 0)
        printf("listener %s %s\n", what + 9, on ? "paused" : "resumed");
    else
        printf("%s %s\n", what, on ? "paused" : "resumed");
    print_paused("paused now", paused);
    if (!running)
        puts("(floodgated is not running: it keeps these when it starts)");
    return ferror(stdout) ? fail("cannot write to stdout") : EXIT_OK;
}

/* ----------------------------------------------------------------- flow */

/* flow_set - pause (ON) or resume WHAT in the store, tell a running
 * daemon, and print what is paused now. */
static int flow_set(struct ctl *c, const char *what, bool on)
{
    store_db *db = ctl_store(c);
    int not_running;
    if (db == NULL)
        return EXIT_FAIL;
    if (pause_set(db, what, on) < 0)
        return fail("cannot write the pause to the store (details in the log)");
    log_info("event=%s what=%s admin=%s", on ? "paused" : "resumed", log_quote(what),
             log_quote(c->admin));
    json_t *res = ctl_call(c, json_pack("{s:s}", "cmd", "state.reload"), &not_running);
    json_t *paused = json_incref(json_object_get(res, "paused"));
    json_decref(res);
    if (res == NULL && !not_running)
        return fail("the pause is stored, but floodgated did not read it: restart it, or "
                    "run this command again");
    if (paused == NULL)
        paused = pause_list(db);
    if (paused == NULL)
        return fail("cannot read the pauses from the store (details in the log)");
    int rc = flow_report(c, what, on, paused, !not_running);
    json_decref(paused);
    return rc;
}

/* listener_what - "listener:NAME" into BUF for a listener of the config;
 * else the error lists the listeners there are. */
static int listener_what(struct ctl *c, const char *name, char *buf, size_t len)
{
    char names[1024] = "";
    size_t o = 0;
    if (ctl_store(c) == NULL)
        return EXIT_FAIL;
    for (size_t i = 0; i < c->cfg->n_listeners; i++) {
        const char *l = c->cfg->listeners[i].name;
        if (strcmp(l, name) == 0) {
            snprintf(buf, len, "listener:%s", l);
            return EXIT_OK;
        }
        int n = snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", l);
        o = n < 0 || (size_t)n >= sizeof names - o ? sizeof names - 1 : o + (size_t)n;
    }
    return fail("no listener %s in %s; the listeners are: %s", name,
                c->cfg->path ? c->cfg->path : c->config_path, c->cfg->n_listeners ? names : "none");
}

/* pause_delivery - floodctl pause delivery */
static int pause_delivery(struct ctl *c, struct args *a, struct opt *o)
{
    return flow_set(c, PAUSE_DELIVERY, true);
}

/* resume_delivery - floodctl resume delivery */
static int resume_delivery(struct ctl *c, struct args *a, struct opt *o)
{
    return flow_set(c, PAUSE_DELIVERY, false);
}

/* pause_listener - floodctl pause listener NAME (as written in the config) */
static int pause_listener(struct ctl *c, struct args *a, struct opt *o)
{
    char what[300];
    if (listener_what(c, a->raw[0], what, sizeof what) != EXIT_OK)
        return EXIT_FAIL;
    return flow_set(c, what, true);
}

/* resume_listener - floodctl resume listener NAME; also a paused
 * listener that has left the config since. */
static int resume_listener(struct ctl *c, struct args *a, struct opt *o)
{
    char what[300];
    store_db *db = ctl_store(c);
    snprintf(what, sizeof what, "listener:%s", a->raw[0]);
    if (db == NULL ||
        (!pause_get(db, what) && listener_what(c, a->raw[0], what, sizeof what) != EXIT_OK))
        return EXIT_FAIL;
    return flow_set(c, what, false);
}

/* --------------------------------------------------------------- reload */

/* reload_cmd - floodctl reload: the daemon reads its config file again,
 * as on SIGHUP, and answers whether it took it.  A file that does not
 * load is refused with the reason, and the running config stays. */
int reload_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    int not_running;
    if (!ctl_ready(c))
        return fail("the running configuration of floodgated stays; fix the file (check it with "
                    "floodgated -n -c %s) and run floodctl reload again",
                    c->config_path);
    json_t *res = ctl_call(c, json_pack("{s:s}", "cmd", "reload"), &not_running);
    if (res == NULL && not_running)
        return fail("floodgated is not running (no %s): nothing to reload; it reads %s when it "
                    "starts",
                    c->socket_file, c->cfg->path);
    if (res == NULL)
        return fail("the running configuration stays; fix %s (check it with floodgated -n -c "
                    "%s) and run floodctl reload again",
                    c->cfg->path, c->cfg->path);
    json_object_set_new(res, "config", json_string(c->cfg->path));
    int rc = EXIT_OK;
    if (c->json)
        rc = print_json(res);
    else
        printf("floodgated reloaded %s\n", c->cfg->path);
    json_decref(res);
    return rc;
}

/* ------------------------------------------------------------- commands */

const struct subcommand pause_subs[] = {
    {"delivery", 0, 0, pause_delivery, NULL},
    {"listener", 1, 1, pause_listener, NULL},
    {NULL, 0, 0, NULL, NULL},
};
const struct subcommand resume_subs[] = {
    {"delivery", 0, 0, resume_delivery, NULL},
    {"listener", 1, 1, resume_listener, NULL},
    {NULL, 0, 0, NULL, NULL},
};
