/* smtp/listener - the listening sockets, one per configured listener. */
#ifndef FLOODGATE_SMTP_LISTENER_H
#define FLOODGATE_SMTP_LISTENER_H

#include <stddef.h>

#include "smtp/server.h"

struct listener;

/* listeners_open - bind every listener of SRV->cfg (done before dropping
 * privileges, so ports below 1024 work).  NULL with ERR set on failure. */
struct listener *listeners_open(struct smtp_server *srv, char *err, size_t errlen);
/* listeners_check - can the bound LIST serve the listeners of CFG?  A
 * reload may change a listener's tls, auth and plaintext_auth, but not
 * open, move or close one: the sockets were bound before privileges were
 * dropped.  -1 with ERR set (naming the listener) when it cannot. */
int listeners_check(const struct listener *list, const struct config *cfg, char *err,
                    size_t errlen);
/* listeners_use - after listeners_check: new sessions of each listener
 * take their settings from CFG (which the caller keeps alive as srv->cfg;
 * a session holds a reference to the config its listener settings are in). */
void listeners_use(struct listener *list, const struct config *cfg);
/* listeners_close - stop accepting (SIGTERM) and free them. */
void listeners_close(struct listener *list);

#endif
