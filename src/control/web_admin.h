/* control/web_admin - the web admin's logins and pages (issue 16 items 4
 * to 6): everything the HTTP server serves that is not /metrics or the
 * JSON API.  Administrators (floodctl admin) log in at / with a password
 * and a TOTP code; mail users at /account.  A login makes a session: a
 * random 256-bit id in an HttpOnly, SameSite=Strict cookie (Secure over
 * TLS), ended by logging out, web.session_idle without a request or
 * web.session_lifetime after the login, and a CSRF token every
 * state-changing request must carry. */
#ifndef FLOODGATE_CONTROL_WEB_ADMIN_H
#define FLOODGATE_CONTROL_WEB_ADMIN_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

#define WEB_ADMIN_WHO 65 /* an administrator's name (ADMIN_NAME_MAX) and the NUL */

struct web_admin;

/* web_admin_new - the pages' state, asking the control socket at
 * CONTROL_PATH; NULL when memory runs out. */
struct web_admin *web_admin_new(const char *control_path, const struct config *cfg);
/* web_admin_config - take the settings of CFG (start and reload). */
void web_admin_config(struct web_admin *a, const struct config *cfg);
void web_admin_free(struct web_admin *a);

/* web_admin_request - libmicrohttpd's access handler for every path that
 * is not /metrics or /api/ (same arguments). */
enum MHD_Result web_admin_request(struct web_admin *a, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *upload, size_t *upload_size,
                                  void **state);
/* web_admin_completed - free what web_admin_request kept in *STATE. */
void web_admin_completed(void *state);
/* web_admin_api_session - for the JSON API: the administrator whose valid
 * session cookie C carries, into WHO (ADMIN_NAME_MAX + 1); a POST must
 * carry the session's CSRF token in the X-CSRF-Token header.  False when
 * there is no such session (or the token is wrong: *CSRF_BAD set). */
bool web_admin_api_session(struct web_admin *a, struct MHD_Connection *c, bool post, char *who,
                           size_t len, bool *csrf_bad);

#endif
