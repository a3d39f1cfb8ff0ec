/* daemon/daemon - the Floodgate server process: its context, the order in
 * which it starts (state dir, detach, signals, log, TLS, listeners,
 * privilege drop, store, workers, committer, policy, detector, scheduler,
 * control socket), its signals (SIGHUP reload, SIGUSR1 log reopen,
 * SIGTERM/SIGINT shutdown) and the order in which it stops (drain the
 * workers, then the committer, then close the store).  cmd/floodgated.c
 * parses the options and calls daemon_run. */
#ifndef FLOODGATE_DAEMON_DAEMON_H
#define FLOODGATE_DAEMON_DAEMON_H

#include <stdbool.h>

#include "core/config.h"

/* daemon_run - serve with CFG (loaded by the caller from an absolute path:
 * a reload reads it again from inside state_dir) until SIGTERM or SIGINT.
 * FOREGROUND (-d): stay attached and log to stderr; else detach, and the
 * command that started it exits only once the server serves (0) or has
 * failed (1, with the reason).  Takes CFG.  Returns the exit code; a
 * failure during start-up ends the process through fatal(). */
int daemon_run(struct config *cfg, bool foreground);

#endif
