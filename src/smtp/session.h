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

/* smtp_session_shutdown_all - SIGTERM: every session gets 421 4.3.2 and
 * is closed (one in DATA loses that message, which its client still
 * holds; one in a TLS handshake is closed without a reply).  A session
 * waiting for the store, a worker or DNS gets its answer first, then 421. */
void smtp_session_shutdown_all(struct smtp_server *srv);
/* smtp_session_abort_all - shutdown_timeout is over: free every session
 * now, whatever its client does; one still waiting for the store or a
 * worker is freed when that answer comes.  Returns how many were open. */
unsigned smtp_session_abort_all(struct smtp_server *srv);

/* smtp_session_register - give the policy engine (srv->policy) its hands
 * on live sessions: end one, say its state, drop a banned IP's logins. */
void smtp_session_register(struct smtp_server *srv);

#ifdef FLOODGATE_FAULT_INJECTION
/* Test builds only: what a session waits for is held, as by a store that
 * hangs.  SMTP_HOLD_LOOKUP: its store reads wait on their threads;
 * SMTP_HOLD_COMMIT: the store commit of an accepted message waits on the
 * committer's thread (its transaction open). */
enum smtp_fault_hold { SMTP_HOLD_LOOKUP, SMTP_HOLD_COMMIT, SMTP_HOLD_KINDS };
/* smtp_fault_hold - hold WHAT for SECONDS from now (0: go on now). */
void smtp_fault_hold(enum smtp_fault_hold what, unsigned seconds);
/* smtp_fault_held - on a worker thread: wait while WHAT is held. */
void smtp_fault_held(enum smtp_fault_hold what);
#endif

#endif
