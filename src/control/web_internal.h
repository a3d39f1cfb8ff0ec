/* control/web_internal - what web.c (the server, /metrics, the queue's
 * actions) lends web_api.c (the rest of the JSON API).  Private to the
 * web server's files in the control room. */
#ifndef FLOODGATE_CONTROL_WEB_INTERNAL_H
#define FLOODGATE_CONTROL_WEB_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "queue/queue_actions.h"

struct web_server;

/* web_respond_json - J (stolen) as the body with STATUS. */
enum MHD_Result web_respond_json(struct MHD_Connection *c, unsigned status, json_t *j);
/* web_respond_error - {"error": MSG} with STATUS. */
enum MHD_Result web_respond_error(struct MHD_Connection *c, unsigned status, const char *msg);
/* web_ask - one control request (REQ, stolen): its result, or NULL with ERR. */
json_t *web_ask(struct web_server *w, json_t *req, char *err, size_t errlen);
/* web_query - REQ (taken) with the query parameters of C as members;
 * NULL after answering C (400, 500; *RC the result). */
json_t *web_query(struct MHD_Connection *c, json_t *req, enum MHD_Result *rc);
/* web_passwords - the password policy of the current config. */
void web_passwords(struct web_server *w, struct config_passwords *out);
/* web_hostname - the configured hostname (DSNs of the API's actions). */
void web_hostname(struct web_server *w, char *buf, size_t len);

/* web_chosen - does REQ select messages (a filter, ids, all=1)? */
bool web_chosen(json_t *req);
/* web_queue_action - ACT (queue_act) on the selection of REQ (stolen),
 * as POST /api/v1/queue/ACTION does, by ADMIN. */
enum MHD_Result web_queue_action(struct web_server *w, struct MHD_Connection *c,
                                 enum queue_action act, json_t *req, const char *admin);

/* web_api_serve - the API's resources beyond status and the queue's
 * listings and actions: answers C and returns true when URL is one.
 * ADMIN acts: "api" for the bearer token, else the logged-in admin. */
bool web_api_serve(struct web_server *w, struct MHD_Connection *c, const char *url, bool post,
                   const char *admin, enum MHD_Result *rc);

#endif
