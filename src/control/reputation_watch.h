/* control/reputation_watch - the daemon's own blocklist watch: every
 * reputation.check_interval seconds a thread of its own looks each public
 * address up on each list of reputation.blocklists (core/blocklist.c),
 * logs every change (listed, delisted, unknown), mails alerts.mail_to
 * about a listing or a delisting and tells the alert hooks (webhook,
 * command; rate-limited by alerts.min_interval), and keeps the last result for `floodctl
 * status` (room: control).  It never runs on the event loop. */
#ifndef FLOODGATE_CONTROL_REPUTATION_WATCH_H
#define FLOODGATE_CONTROL_REPUTATION_WATCH_H

#include <jansson.h>

#include "core/config.h"

struct reputation_watch;
struct alert_hooks;

/* reputation_watch_start - the thread, its first round soon after start
 * (after FIRST_DELAY seconds: the daemon is serving by then).  NULL when
 * the thread cannot start (logged); a config with check_interval 0 or no
 * address or list gives a watch that never looks.  HOOKS (may be NULL)
 * must outlive the watch. */
struct reputation_watch *reputation_watch_start(struct config *cfg, unsigned first_delay,
                                                struct alert_hooks *hooks);

/* reputation_watch_reload - use CFG (a reference is taken), and look
 * again at once (the addresses, the lists or the DNS may have changed). */
void reputation_watch_reload(struct reputation_watch *w, struct config *cfg);

/* reputation_watch_stop - end the thread (a round in progress finishes
 * its current question) and free everything.  NULL is fine. */
void reputation_watch_stop(struct reputation_watch *w);

/* reputation_watch_status - the last round: {"checked": ISO time or null,
 * "listed": N, "unknown": N, "results": [{"address", "list", "state",
 * "code", "meaning", "reason", "since"}]} (a new reference). */
json_t *reputation_watch_status(struct reputation_watch *w);

#endif
