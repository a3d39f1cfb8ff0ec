/* store/audit - the audit trail of admin actions (issue 17 item 4): who
 * did what to which selection, and to how many, kept in the store's audit
 * table and logged as one line (event=admin_action).  Room: store.
 *
 * WHO is the admin as the caller knows it: the user running floodctl
 * (SUDO_USER when it runs under sudo), "web:NAME" for an admin logged in
 * to the web pages, "api" for the bearer-token API, "floodgated" for the
 * daemon's own steps.  Times are unix seconds (UTC). */
#ifndef FLOODGATE_STORE_AUDIT_H
#define FLOODGATE_STORE_AUDIT_H

#include <jansson.h>
#include <time.h>

#include "store/store.h"

#define AUDIT_TEXT_MAX 1024 /* octets kept of a selection */

/* audit_record - log ADMIN's ACTION ("queue.hold", "ban.add", ...) on
 * SELECTION (a short text: an address, an IP, a queue filter as JSON) that
 * changed COUNT things, and store it (one INSERT, its own transaction
 * unless the caller holds one).  -1 when the store refused it (logged;
 * the action itself stands). */
int audit_record(store_db *db, const char *admin, const char *action, const char *selection,
                 long count);

/* store_audit_add - the row alone, at time AT. */
int store_audit_add(store_db *db, time_t at, const char *admin, const char *action,
                    const char *selection, long count);

/* store_audit_list - [{"id", "at" (ISO 8601 UTC), "admin", "action",
 * "selection", "count"}] of the rows at or after SINCE (0: all), oldest
 * first, at most LIMIT (0: no limit: the newest LIMIT when limited).
 * NULL on a store error. */
json_t *store_audit_list(store_db *db, time_t since, unsigned limit);

#endif
