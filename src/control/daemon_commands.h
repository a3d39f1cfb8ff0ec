/* control/daemon_commands - the commands the daemon answers on its control
 * socket: status and the queue listing. */
#ifndef FLOODGATE_CONTROL_DAEMON_COMMANDS_H
#define FLOODGATE_CONTROL_DAEMON_COMMANDS_H

#include "control/control.h"
#include "smtp/server.h"

void daemon_commands_register(struct control_server *ctl, struct smtp_server *srv);

#endif
