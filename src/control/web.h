/* control/web - the embedded HTTP server (libmicrohttpd, on its own
 * threads; the SMTP event loop never waits for it): Prometheus /metrics
 * and the JSON API under /api/v1/.  It reads through the control
 * socket, as floodctl does, and acts on the queue through queue_act, as
 * floodctl does: one implementation of each command.  Off unless the
 * config has a web section. */
#ifndef FLOODGATE_CONTROL_WEB_H
#define FLOODGATE_CONTROL_WEB_H

#include <stddef.h>

#include "core/config.h"

struct web_server;

/* web_prepare - before the privileges are dropped: bind CFG's web.address
 * (a port below 1024 needs root) and read the TLS certificate and key.
 * NULL with ERR set on failure; NULL with ERR empty when web is off. */
struct web_server *web_prepare(const struct config *cfg, char *err, size_t errlen);
/* web_start - serve, on the server's own threads, asking the control
 * socket at CONTROL_PATH (relative to the daemon's working directory).
 * -1 with ERR set on failure. */
int web_start(struct web_server *w, const char *control_path, char *err, size_t errlen);
/* web_reload - take the tokens of CFG (a reload); the address and TLS
 * stay those of the start. */
void web_reload(struct web_server *w, const struct config *cfg);
/* web_stop - stop serving and free W (NULL is fine). */
void web_stop(struct web_server *w);

#endif
