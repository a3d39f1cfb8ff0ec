/* control/web_admin_internal - what the web admin's files share (private
 * to the control room): one request being answered, and the helpers its
 * pages answer with.  web_admin.c: sessions, logins, routing;
 * web_pages.c: the administrator's pages; web_account.c: /account. */
#ifndef FLOODGATE_CONTROL_WEB_ADMIN_INTERNAL_H
#define FLOODGATE_CONTROL_WEB_ADMIN_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>

#include "control/web_admin.h"
#include "control/web_html.h"
#include "core/config.h"

#define WEB_ID_HEX 65 /* 32 random octets as hex, and the NUL */
#define WEB_WHO_MAX 256

/* One request: who asks, what they sent. */
struct web_req {
    struct web_admin *a;
    struct MHD_Connection *c;
    const char *url;
    bool post;
    json_t *form;                 /* POST fields: strings; a repeated field an array */
    bool admin;                   /* the session is an administrator's */
    char who[WEB_WHO_MAX];        /* admin name or mail address; "" without a session */
    char csrf[WEB_ID_HEX];        /* the session's CSRF token */
    char ip[INET6_ADDRSTRLEN];    /* the client's address */
    char login_token[WEB_ID_HEX]; /* set: the page sets it as the login cookie */
};

/* web_field - POST field KEY (its first value), or NULL. */
const char *web_field(struct web_req *r, const char *key);
/* web_arg - query parameter KEY, or NULL. */
const char *web_arg(struct web_req *r, const char *key);
/* web_send_page - H (closed here) as the answer, STATUS. */
enum MHD_Result web_send_page(struct web_req *r, unsigned status, struct html *h);
/* web_redirect - 303 See Other to LOCATION (a path of ours). */
enum MHD_Result web_redirect(struct web_req *r, const char *location);
/* web_message - a small page: TITLE and TEXT (both escaped), STATUS. */
enum MHD_Result web_message(struct web_req *r, unsigned status, const char *title,
                            const char *text);
/* page_ask - a control request REQ (taken) carrying "admin": the
 * administrator's name (the audit log records who acted); the result or
 * NULL with ERR. */
json_t *page_ask(struct web_req *r, json_t *req, char *err, size_t errlen);
/* web_settings - the current password policy into PW and hostname into
 * HOSTNAME (either NULL when not wanted), copied under the lock: the one
 * copy of the settings the web server's threads read (a reload swaps it). */
void web_settings(struct web_admin *a, struct config_passwords *pw, char *hostname, size_t hlen);
/* web_sessions_end_others - end every other session of R's mail user. */
void web_sessions_end_others(struct web_req *r);
/* web_login_refused - count a failed login of R's client toward the bans. */
void web_login_refused(struct web_req *r, const char *who);
/* web_code_replayed - did CODE already log WHO in while it is still
 * valid?  Else it is remembered: a code overheard or shoulder-surfed
 * cannot log in a second time. */
bool web_code_replayed(struct web_req *r, const char *who, const char *code);
/* web_login_banned - is R's client banned now? */
bool web_login_banned(struct web_req *r);
/* web_session_start - a new session for WHO (ADMIN or a mail user) and the
 * 303 to LOCATION that sets its cookie. */
enum MHD_Result web_session_start(struct web_req *r, bool admin, const char *who,
                                  const char *location);
/* web_login_form - a login form posting to ACTION: WHO_FIELD (labelled
 * WHO_LABEL), password, TOTP code (CODE_REQUIRED or optional), and a
 * fresh token, also set as a cookie with the page (the POST must bring
 * both, equal: a page of another site cannot log a browser in under its
 * own account). */
void web_login_form(struct web_req *r, struct html *h, const char *action, const char *who_field,
                    const char *who_label, bool code_required);
/* web_login_form_ok - did the POST of a login form bring both? */
bool web_login_form_ok(struct web_req *r);

/* web_pages.c */
enum MHD_Result web_pages_admin(struct web_req *r);
/* web_account.c */
enum MHD_Result web_pages_account(struct web_req *r);

#endif
