/* control/daemon_commands - the commands the daemon answers on its control
 * socket: status and the queue listing. */
#ifndef FLOODGATE_CONTROL_DAEMON_COMMANDS_H
#define FLOODGATE_CONTROL_DAEMON_COMMANDS_H

#include "control/control.h"
#include "smtp/server.h"

void daemon_commands_register(struct control_server *ctl, struct smtp_server *srv);

/* A reload of the config file: 0, or -1 with the reason in ERR (the old
 * config stays). */
typedef int (*daemon_reload_fn)(void *arg, char *err, size_t errlen);
/* daemon_commands_register_reload - the "reload" command calls FN(ARG):
 * the daemon owns the reload (it swaps the config, the TLS context and the
 * listeners' settings), the control room only carries the request. */
void daemon_commands_register_reload(struct control_server *ctl, daemon_reload_fn fn, void *arg);

#endif
