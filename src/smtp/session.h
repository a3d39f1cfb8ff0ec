/* smtp/session - one inbound SMTP conversation (RFC 5321), from greeting
 * to QUIT: reading lines, the DATA phase, TLS and the wait for the store. */
#ifndef FLOODGATE_SMTP_SESSION_H
#define FLOODGATE_SMTP_SESSION_H

#include <event2/util.h>
#include <sys/socket.h>

#include "smtp/server.h"

/* smtp_session_start - take over the accepted socket FD. */
void smtp_session_start(struct smtp_server *srv, const struct listener_config *lc,
                        evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen);

/* smtp_session_shutdown_all - SIGTERM: sessions between transactions get
 * 421 and are closed; sessions in DATA or waiting for the store finish
 * their message first and are closed after the reply. */
void smtp_session_shutdown_all(struct smtp_server *srv);

#endif
