/* accounts/lockout - failed AUTH with the main password, counted per
 * account across all client IPs, in the daemon's memory (a bounded table
 * used on the loop thread only).  The lock itself lives in the store
 * (users.locked_until), so it survives a restart and floodctl sees and
 * lifts it; this table only decides when to set it. */
#ifndef FLOODGATE_ACCOUNTS_LOCKOUT_H
#define FLOODGATE_ACCOUNTS_LOCKOUT_H

#include <stdbool.h>
#include <time.h>

#include "core/config.h"

#define LOCKOUT_TABLE_MAX 4096 /* accounts tracked at once */

/* lockout_failure - count one failure of ADDRESS at NOW under L.  True
 * when it reaches L->failures within L->window: the caller locks the
 * account, and the count starts again from zero. */
bool lockout_failure(const struct config_lockout *l, const char *address, time_t now,
                     unsigned *count);
/* lockout_success - a good main password: forget the failures. */
void lockout_success(const char *address);

#endif
