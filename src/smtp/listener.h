/* smtp/listener - the listening sockets, one per configured listener. */
#ifndef FLOODGATE_SMTP_LISTENER_H
#define FLOODGATE_SMTP_LISTENER_H

#include <stddef.h>

#include "smtp/server.h"

struct listener;

/* listeners_open - bind every listener of SRV->cfg (done before dropping
 * privileges, so ports below 1024 work).  NULL with ERR set on failure. */
struct listener *listeners_open(struct smtp_server *srv, char *err, size_t errlen);
/* listeners_close - stop accepting (SIGTERM) and free them. */
void listeners_close(struct listener *list);

#endif
