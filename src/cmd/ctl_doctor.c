/* cmd/ctl_doctor - floodctl doctor: check the setup and say what to fix,
 * one line a check (status, what was checked, what to do).
 *
 * Room: cmd (formatting).  The checks themselves are the config audit of
 * core/config_audit.c, made on the config file floodctl reads, and the DNS
 * checks of control/doctor_dns.c, which read the local domains and DKIM
 * keys from the store; neither needs the daemon.  Exit code: 0 when every check is ok,
 * 1 with a warning (or a check that could not be made), 2 with a failure
 * — so a cron job or a monitoring probe can run it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/ctl.h"
#include "control/doctor_dns.h"
#include "core/config_audit.h"

const char usage_doctor[] = "  floodctl doctor [--only config|dns|blocklists] [--json]   check the "
                            "setup; say what to fix\n";

/* The groups of checks --only may name. */
static const char *const doctor_groups[] = {"config", "dns", "blocklists"};

/* progress - on a terminal, what is being asked of the DNS now (a check
 * may wait seconds for a server that does not answer). */
static void progress(const char *what, void *arg)
{
    (void)arg;
    fprintf(stderr, "\rdoctor: checking %s ...\033[K", what);
}

/* doctor_print - the checks as text: status, check, subject, detail, and
 * the fix indented under a check that is not ok. */
static void doctor_print(json_t *checks)
{
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c)
    {
        const char *status = str_of(c, "status"), *fix = str_of(c, "fix");
        printf("%-7s %s %s: %s\n", status, str_of(c, "check"), str_of(c, "subject"),
               str_of(c, "detail"));
        if (strcmp(status, CHECK_OK) != 0 && json_is_string(json_object_get(c, "fix")))
            printf("        fix: %s\n", fix);
    }
}

/* doctor_count - how many of CHECKS have STATUS. */
static size_t doctor_count(json_t *checks, const char *status)
{
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(checks, i, c) n += strcmp(str_of(c, "status"), status) == 0;
    return n;
}

/* doctor_cmd - floodctl doctor [--only GROUP] */
int doctor_cmd(struct ctl *c, int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else
            return usage_error("doctor", "doctor: unexpected '%s'", argv[i]);
    }
    bool known = only == NULL;
    for (size_t i = 0; only && i < sizeof doctor_groups / sizeof doctor_groups[0]; i++)
        known |= strcmp(only, doctor_groups[i]) == 0;
    if (!known)
        return usage_error("doctor", "doctor: --only takes config, dns or blocklists, not '%s'",
                           only);
    if (!ctl_ready(c))
        return EXIT_FAIL;
    json_t *checks = json_array();
    if (checks == NULL ||
        ((only == NULL || strcmp(only, "config") == 0) && config_audit(c->cfg, checks) < 0)) {
        json_decref(checks);
        return fail("out of memory");
    }
    if (only == NULL || strcmp(only, "dns") == 0) {
        char err[512];
        bool tty = isatty(STDERR_FILENO) && !c->json;
        /* a check must not create the store: without one, the domains are
         * unknown and only the hostname and addresses are checked */
        store_db *db = access(c->store_file, F_OK) == 0 ? ctl_store(c) : NULL;
        if (db == NULL &&
            check_add(checks, "domains", "-", CHECK_UNKNOWN,
                      "add the domains (floodctl domain add), or check the config's state_dir",
                      "no store at %s: the local domains and DKIM keys are unknown",
                      c->store_file) < 0) {
            json_decref(checks);
            return fail("out of memory");
        }
        int rc = doctor_dns(c->cfg, db, checks, tty ? progress : NULL, NULL, err, sizeof err);
        if (tty)
            fputs("\r\033[K", stderr);
        if (rc < 0) {
            json_decref(checks);
            return fail("doctor: DNS checks: %s", err);
        }
    }
    if (only == NULL || strcmp(only, "blocklists") == 0) {
        char err[512];
        bool tty = isatty(STDERR_FILENO) && !c->json;
        int rc = doctor_blocklists(c->cfg, checks, tty ? progress : NULL, NULL, err, sizeof err);
        if (tty)
            fputs("\r\033[K", stderr);
        if (rc < 0) {
            json_decref(checks);
            return fail("doctor: blocklist checks: %s", err);
        }
    }
    size_t fails = doctor_count(checks, CHECK_FAIL);
    size_t warns = doctor_count(checks, CHECK_WARN) + doctor_count(checks, CHECK_UNKNOWN);
    if (c->json) {
        json_t *out = json_pack("{s:o}", "checks", checks);
        int rc = out ? print_json(out) : fail("out of memory");
        json_decref(out);
        if (rc != EXIT_OK)
            return rc;
    } else {
        doctor_print(checks);
        printf("doctor: %zu checks of %s: %zu ok, %zu warn or unknown, %zu fail\n",
               json_array_size(checks), c->cfg->path, json_array_size(checks) - fails - warns,
               warns, fails);
        json_decref(checks);
    }
    return fails ? 2 : warns ? 1 : EXIT_OK;
}
