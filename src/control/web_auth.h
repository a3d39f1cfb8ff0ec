/* control/web_auth - the control commands the web server's logins use so
 * that a failed web login counts toward the anti-hammering bans exactly as
 * a failed SMTP AUTH does (policy_failure, on the loop, where the ban
 * table lives): "web.login_check" {"ip"} -> {"banned": bool} before a
 * login is tried, "web.login_failed" {"ip"} -> {"banned": bool} after a
 * refusal. */
#ifndef FLOODGATE_CONTROL_WEB_AUTH_H
#define FLOODGATE_CONTROL_WEB_AUTH_H

#include "control/control.h"
#include "policy/engine.h"

/* web_auth_register - the two commands on CTL, counting in P. */
void web_auth_register(struct control_server *ctl, struct policy *p);

#endif
