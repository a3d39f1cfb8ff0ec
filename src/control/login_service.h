/* control/login_service - logins of other services checked by the daemon:
 * the control command "login.check" {user, password, ip, service} that
 * `floodctl dovecot checkpassword` asks for each IMAP login Dovecot
 * receives.  The check is SMTP AUTH's own: the same verification on a
 * worker (accounts/login_verify), queued fairly per client IP, the same
 * login cache, and the policy engine's verdict (policy_auth_login: bans,
 * suspension, lockout, 2FA with app passwords, expiry); a refusal counts
 * toward the client IP's ban like a failed SMTP AUTH (policy_failure). */
#ifndef FLOODGATE_CONTROL_LOGIN_SERVICE_H
#define FLOODGATE_CONTROL_LOGIN_SERVICE_H

#include "control/control.h"
#include "core/workers.h"
#include "smtp/server.h"

struct login_service;

/* login_service_start - register "login.check" on CTL; the checks run on
 * WORKERS and read SRV's policy engine, login cache and current config.
 * NULL when memory runs out. */
struct login_service *login_service_start(struct control_server *ctl, struct smtp_server *srv,
                                          struct worker_pool *workers);
/* login_service_stop - shutdown, before the workers drain: the checks
 * not started yet are answered (a temporary failure) and none starts. */
void login_service_stop(struct login_service *ls);
/* login_service_free - after the workers' last answers. */
void login_service_free(struct login_service *ls);

#endif
