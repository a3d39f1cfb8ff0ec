/* cmd/floodgated - the Floodgate SMTP server's command: parse the options,
 * load the config (or only check it, -n) and hand it to the daemon room,
 * which runs the process (daemon/daemon.h).
 *   floodgated -c FILE [-d] [-n] [-T] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/private_state.h"
#include "daemon/daemon.h"

static void usage(void)
{
    fputs("usage: floodgated -c FILE [-d] [-n] [-T]\n"
          "  -c FILE  configuration file (default /etc/floodgate/floodgate.conf)\n"
          "  -d       stay in the foreground and log to stderr\n"
          "  -n       check the configuration and exit\n"
          "  -T       tests only: a clock that the control command clock.advance moves\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    umask(PRIVATE_UMASK); /* the store, its WAL, the log, mail: 0600 */
    const char *path =
        getenv("FLOODGATE_CONFIG") ? getenv("FLOODGATE_CONFIG") : "/etc/floodgate/floodgate.conf";
    bool foreground = false, check_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:dnTh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'd':
            foreground = true;
            break;
        case 'n':
            check_only = true;
            break;
        case 'T':
            /* never in production: tests move the detector's windows and
             * the hourly limits through hours in seconds (core/clock.h) */
            clock_test_enable();
            break;
        default:
            usage();
        }
    }
    char err[1024], abspath[4096];
    /* Absolute, because the daemon works from inside state_dir and SIGHUP
     * reads the file again from there. */
    if (realpath(path, abspath) != NULL)
        path = abspath;
    struct config *cfg = config_load(path, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "floodgated: %s\n", err);
        return 1;
    }
    if (check_only) {
        for (size_t i = 0; i < cfg->n_warnings; i++)
            fprintf(stderr, "floodgated: warning: %s\n", cfg->warnings[i]);
        config_describe(cfg, stdout);
        printf("%s: configuration OK\n", path);
        config_free(cfg);
        return 0;
    }
    return daemon_run(cfg, foreground);
}
