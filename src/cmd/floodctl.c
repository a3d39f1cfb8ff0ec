/* cmd/floodctl - the administrator's command line.
 *
 * Room: cmd (a thin main).  This file reads the global options and maps
 * each command word to its group: ctl_accounts.c (domain, user, alias),
 * ctl_queue.c (status, queue), ctl_quarantine.c (quarantine), ctl_flow.c
 * (pause, resume, reload), ctl_dkim.c (dkim), ctl_store.c (store),
 * ctl_doctor.c (doctor), ctl_dovecot.c (dovecot); ctl.c
 * holds what they share, and ctl_select.c the selections of queued
 * messages and the actions on them.
 * Domains, users, aliases, queue actions and pauses are changed in the
 * store directly; "status", "queue list" and "queue top" ask the daemon
 * over the control socket when it runs and fall back to the store when it
 * does not.  Exit codes: 0 done, 1 operational error (the message says
 * what to do next), 2 usage error. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/ctl.h"
#include "core/log.h"
#include "core/private_state.h"

/* The command words, in the order the synopsis lists them. */
static const struct group {
    const char *name;
    const char *usage;
    const struct subcommand *subs; /* NULL: a command without subcommands */
} groups[] = {
    {"domain", usage_domain, domain_subs},
    {"user", usage_user, user_subs},
    {"alias", usage_alias, alias_subs},
    {"status", usage_status, NULL},
    {"queue", usage_queue, queue_subs},
    {"quarantine", usage_quarantine, quarantine_subs},
    {"pause", usage_pause, pause_subs},
    {"resume", usage_resume, resume_subs},
    {"dkim", usage_dkim, dkim_subs},
    {"ban", usage_ban, ban_subs},
    {"session", usage_session, session_subs},
    {"admin", usage_admin, admin_subs},
    {"store", usage_store, store_subs},
    {"incident", usage_incident, incident_subs},
    {"audit", usage_audit, audit_subs},
    {"monitor", usage_monitor, NULL},
    {"reload", usage_reload, NULL},
    {"doctor", usage_doctor, NULL},
    {"dovecot", usage_dovecot, dovecot_subs},
};

/* usage_all - the whole synopsis to FP. */
void usage_all(FILE *fp)
{
    fputs("usage: floodctl [-c CONFIG] [--json] COMMAND ...\n\n"
          "CONFIG defaults to $FLOODGATE_CONFIG, else " DEFAULT_CONFIG ".\n"
          "Passwords are read from the terminal (twice) or one line of stdin.\n\n"
          "commands:\n",
          fp);
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        fputs(groups[i].usage, fp);
    fputs("  floodctl help [COMMAND]\n", fp);
}

/* usage_of - the synopsis of command NAME, or NULL if there is none. */
const char *usage_of(const char *name)
{
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(groups[i].name, name) == 0)
            return groups[i].usage;
    return NULL;
}

/* run_command - dispatch ARGV[0], the command word. */
static int run_command(struct ctl *c, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "status") == 0) {
        if (argc > 1)
            return usage_error(cmd, "status takes no arguments, not '%s'", argv[1]);
        return status_cmd(c, NULL, NULL);
    }
    if (strcmp(cmd, "monitor") == 0)
        return monitor_cmd(c, argc - 1, argv + 1);
    if (strcmp(cmd, "reload") == 0) {
        if (argc > 1)
            return usage_error(cmd, "reload takes no arguments, not '%s'", argv[1]);
        return reload_cmd(c, NULL, NULL);
    }
    if (strcmp(cmd, "doctor") == 0)
        return doctor_cmd(c, argc, argv);
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (groups[i].subs && strcmp(groups[i].name, cmd) == 0)
            return run_group(c, cmd, groups[i].subs, argc - 1, argv + 1);
    return usage_error(NULL, "unknown command '%s'", cmd);
}

/* strip_json - remove every "--json" from ARGV (it may appear anywhere)
 * and report whether there was one.  Returns the new argc. */
static int strip_json(int argc, char **argv, bool *json)
{
    int o = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            *json = true;
        else
            argv[o++] = argv[i];
    }
    argv[o] = NULL;
    return o;
}

/* help - floodctl help [COMMAND] */
static int help(int argc, char **argv)
{
    const char *text = argc > 1 ? usage_of(argv[1]) : NULL;
    if (argc > 1 && text == NULL)
        return usage_error(NULL, "no help for unknown command '%s'", argv[1]);
    if (text)
        printf("usage:\n%s", text);
    else
        usage_all(stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    struct ctl c = {0};
    umask(PRIVATE_UMASK); /* the store, its WAL, keys, quarantine files: 0600 */
    const char *env = getenv("FLOODGATE_CONFIG");
    c.config_path = env && *env ? env : DEFAULT_CONFIG;
    argc = strip_json(argc - 1, argv + 1, &c.json);
    argv++;
    while (argc > 0 && argv[0][0] == '-') {
        if (strcmp(argv[0], "-c") == 0 && argc < 2) {
            return usage_error(NULL, "%s needs a CONFIG file argument", argv[0]);
        } else if (strcmp(argv[0], "-c") == 0) {
            c.config_path = argv[1];
            argc -= 2, argv += 2;
        } else if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
            return help(0, NULL);
        } else {
            return usage_error(NULL, "unknown option '%s'", argv[0]);
        }
    }
    if (argc == 0) {
        usage_all(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "help") == 0)
        return help(argc, argv);
    log_open("floodctl", NULL); /* store warnings go to stderr */
    ctl_who(&c);                /* before the switch to the state dir's owner */
    int rc = run_command(&c, argc, argv);
    ctl_close(&c);
    if (fflush(stdout) != 0 && rc == EXIT_OK)
        rc = fail("cannot write to stdout: %s", strerror(errno));
    return rc;
}
