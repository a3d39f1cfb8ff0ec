/* control/admin_ops - the admin actions and lookups that floodctl and the
 * web API share (issue 16 item 3: one implementation, not a copy).
 * Room: control.
 *
 * Each works on the store connection it is given (floodctl's own; the
 * HTTP thread's) and returns the JSON floodctl prints with --json and the
 * API answers as its "result".  Telling a running daemon about the change
 * (state.reload, queue.kick, incident.closed, session.kill) is the
 * caller's part: floodctl and the web server reach the control socket
 * differently.  On failure they return NULL with ERR set and *STATUS one
 * of enum admin_status (an HTTP status for the API; floodctl maps it to
 * its exit codes). */
#ifndef FLOODGATE_CONTROL_ADMIN_OPS_H
#define FLOODGATE_CONTROL_ADMIN_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "store/store.h"

enum admin_status {
    ADMIN_OK = 200,
    ADMIN_BAD_REQUEST = 400, /* the request is wrong: ERR says how */
    ADMIN_NOT_FOUND = 404,   /* no such thing */
    ADMIN_CONFLICT = 409,    /* not in a state for it (an incident already closed) */
    ADMIN_FAILED = 503,      /* the store failed: try again */
};

#define ADMIN_BAN_DEFAULT (24 * 3600)      /* seconds of a ban without a duration */
#define ADMIN_BAN_MAX (10LL * 365 * 86400) /* the longest ban */

/* admin_canonical_ip - IP as the daemon writes client addresses
 * (inet_ntop), or a CIDR network with its host bits cleared, into BUF
 * (64 octets): one spelling per address, so "ban del" finds what "ban
 * add" stored.  -1 when TEXT is neither. */
int admin_canonical_ip(const char *text, char *buf, size_t len);

/* admin_ban_add - ban IP_TEXT (an address or a CIDR network) for SECONDS
 * with REASON, by ADMIN: {"ip", "until", "reason"}. */
json_t *admin_ban_add(store_db *db, const char *ip_text, long long seconds, const char *reason,
                      const char *admin, int *status, char *err, size_t errlen);

/* admin_ban_del - lift the ban of IP_TEXT (NULL: every ban in force), by
 * ADMIN: {"lifted": [IP, ...]}; 404 when IP_TEXT is not banned. */
json_t *admin_ban_del(store_db *db, const char *ip_text, const char *admin, int *status, char *err,
                      size_t errlen);

/* admin_user_list - the users (of DOMAIN; NULL: all) with their login
 * state as the password policy P sees it now (login_annotate):
 * floodctl user list --json.  NULL on a store error. */
json_t *admin_user_list(store_db *db, const char *domain, const struct config_passwords *p);

/* quarantine_attach - to each message of LIST (store_queue_list's,
 * selected in state quarantined): its quarantined recipients, and its
 * "reason", "quarantined_at" and "quarantined_by".  -1 on a store error. */
int quarantine_attach(store_db *db, json_t *list);

/* admin_message_find - the listing entry of message ID: from the queue
 * (when QUEUE_TOO), else from quarantine with its reason, quarantined_at
 * and quarantined_by.  1 found (*OUT), 0 not, -1 a store error. */
int admin_message_find(store_db *db, const char *id, bool queue_too, json_t **out);

/* admin_incident_close - release or dismiss (STATE "released" or
 * "dismissed") incident ID, by ADMIN: the messages it held since an hour
 * before it opened are released (STATE_DIR, HOSTNAME: queue_act's), the
 * suspension and bans its actions name are lifted, the incident is closed
 * and the step recorded.  {"id", "state", "subject", "released_messages",
 * "unsuspended", "unbanned": [IP, ...]}; 404 no such incident, 409
 * already closed. */
json_t *admin_incident_close(store_db *db, long long id, const char *state, const char *admin,
                             const char *state_dir, const char *hostname, int *status, char *err,
                             size_t errlen);

#endif
