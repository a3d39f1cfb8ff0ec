/* control/web_internal - what the web server's files share, private to
 * them in the control room: web.c (the server, /metrics, the API's status
 * and queue listings) lends its answers to web_api.c, and web_api.c's
 * admin operations (bans, incidents, the queue's actions) serve the JSON
 * API and the admin's pages (web_pages.c) alike: one implementation each,
 * over control/admin_ops and queue_act as floodctl's. */
#ifndef FLOODGATE_CONTROL_WEB_INTERNAL_H
#define FLOODGATE_CONTROL_WEB_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "control/web_admin.h"
#include "queue/queue_actions.h"
#include "store/store.h"

/* web_respond_json - J (stolen) as the body with STATUS. */
enum MHD_Result web_respond_json(struct MHD_Connection *c, unsigned status, json_t *j);
/* web_respond_error - {"error": MSG} with STATUS. */
enum MHD_Result web_respond_error(struct MHD_Connection *c, unsigned status, const char *msg);
/* web_query - REQ (taken) with the query parameters of C as members;
 * NULL after answering C (400, 500; *RC the result). */
json_t *web_query(struct MHD_Connection *c, json_t *req, enum MHD_Result *rc);

/* web_admin_ask - one control request (REQ, taken) to the daemon: its
 * result, or NULL with ERR. */
json_t *web_admin_ask(struct web_admin *a, json_t *req, char *err, size_t errlen);

/* One admin operation of the API or the pages: who acts, with what. */
struct web_op {
    struct web_admin *a; /* the settings and the control socket */
    store_db *db;        /* this HTTP thread's connection */
    const char *admin;   /* who acts: "api" (the bearer token) or an admin's name */
    json_t *q;           /* the parameters (strings; recorded in the audit trail) */
    int status;          /* on failure: the HTTP status */
    char err[512];       /* on failure: what went wrong and what to do */
};

/* web_op_begin - O for ADMIN with the parameters Q (borrowed); false
 * (O->status 503) when the store cannot be opened. */
bool web_op_begin(struct web_op *o, struct web_admin *a, const char *admin, json_t *q);

/* The operations: their result as the API answers it, or NULL with
 * O->status and O->err.  Each records itself in the audit trail and
 * tells the daemon, as floodctl's commands do. */
json_t *web_op_ban_add(struct web_op *o);          /* ip, duration, reason */
json_t *web_op_ban_del(struct web_op *o);          /* ip, or all=1 */
json_t *web_op_incident_release(struct web_op *o); /* id */
json_t *web_op_incident_dismiss(struct web_op *o); /* id */
json_t *web_op_user_suspend(struct web_op *o);     /* address */
json_t *web_op_user_unsuspend(struct web_op *o);   /* address */
json_t *web_op_user_expire(struct web_op *o);      /* address, or all=1 */
json_t *web_op_session_kill(struct web_op *o);     /* id, ip, user (and app_password) */

/* web_op_queue - ACT on the messages F selects (queue_act, REASON
 * logged); then the daemon reads the queue again.  {"action",
 * "messages"}, or NULL with O->status and O->err. */
json_t *web_op_queue(struct web_op *o, enum queue_action act, const struct queue_filter *f,
                     const char *reason);

/* web_api_serve - the API's resources beyond status and the queue's
 * listings: answers C and returns true when URL is one.  ADMIN acts:
 * "api" for the bearer token, else the logged-in admin. */
bool web_api_serve(struct web_admin *a, struct MHD_Connection *c, const char *url, bool post,
                   const char *admin, enum MHD_Result *rc);

#endif
