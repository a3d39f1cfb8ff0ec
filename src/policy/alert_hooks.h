/* policy/alert_hooks - the outbreak detector's alerts beyond the log and
 * the mail: an HTTP webhook (a JSON POST, libcurl) and a command run
 * without a shell with the incident on its stdin (alerts { webhook_url;
 * command; ... } in floodgate.conf(5), docs/detector.md "Alerts").
 *
 * Each hook has its own thread and a bounded queue: the event loop only
 * puts an incident's number and what happened into the queue, and a
 * webhook that refuses, stalls or answers 500, or a command that hangs,
 * costs a logged failure (event=alert_failed), never a session's time.
 * The thread reads the incident from the store (its own read connection)
 * and sends what `floodctl incident show --json` prints.
 *
 * Room: policy (under smtp/outbreak.c, which decides when to alert and
 * keeps the rate limit; over the store, which holds the incident). */
#ifndef FLOODGATE_POLICY_ALERT_HOOKS_H
#define FLOODGATE_POLICY_ALERT_HOOKS_H

#include <stdbool.h>

#include "core/config.h"

struct alert_hooks;

/* alert_hooks_new - the hooks CFG's alerts { } configures (none is fine:
 * alert_hooks_enabled says false), their threads started; HOSTNAME goes
 * into every document.  NULL when out of memory or threads. */
struct alert_hooks *alert_hooks_new(const struct config *cfg);
/* alert_hooks_set_config - the config was reloaded: the next event uses
 * CFG's URL, token, command and timeouts (copied). */
int alert_hooks_set_config(struct alert_hooks *h, const struct config *cfg);
/* alert_hooks_enabled - is a webhook or a command configured? */
bool alert_hooks_enabled(const struct alert_hooks *h);
/* alert_hooks_fire - from the loop: incident ID of SUBJECT had EVENT
 * (opened, escalated, contained, released, dismissed); every configured
 * hook hears of it.  Never blocks: a full queue drops the event, logged. */
void alert_hooks_fire(struct alert_hooks *h, long long id, const char *subject, const char *event);
/* alert_hooks_fire_blocklist - from any thread: one of the server's public
 * ADDRESSes is now on blocklist LIST (LISTED), or no longer; CODE,
 * MEANING, REASON as the list answered (core/blocklist.h).  Every
 * configured hook gets {"event": "blocklisted"|"delisted", "at",
 * "hostname", "address", "list", "state": "listed"|"clean", "code",
 * "meaning", "reason"}; the command FLOODGATE_EVENT, FLOODGATE_SUBJECT
 * (the address), FLOODGATE_STATE, FLOODGATE_INCIDENT_ID=0.  The caller
 * keeps the rate limit (control/reputation_watch.c). */
void alert_hooks_fire_blocklist(struct alert_hooks *h, const char *hostname, bool listed,
                                const char *address, const char *list, const char *code,
                                const char *meaning, const char *reason);
/* alert_hooks_free - stop the threads (a transfer or command under way is
 * cut short, what is still queued is logged as not sent) and free. */
void alert_hooks_free(struct alert_hooks *h);

#endif
