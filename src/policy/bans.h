/* policy/bans - anti-hammering: which client IPs are shut out now, and
 * when a run of failures earns a ban.  In memory, on the event loop; the
 * caller keeps the store in step (store/ban_state.h) so bans survive a
 * restart.  No I/O here. */
#ifndef FLOODGATE_POLICY_BANS_H
#define FLOODGATE_POLICY_BANS_H

#include <stdbool.h>
#include <time.h>

#include "core/config.h"

#define BAN_REASON_MAX 64

struct ban {
    time_t until;
    unsigned offenses; /* bans of this IP so far; each lasts twice the last */
    char reason[BAN_REASON_MAX];
};

struct bans;

struct bans *bans_new(void);
void bans_free(struct bans *b);

/* bans_set - ban IP (an address as inet_ntop writes it, or a CIDR
 * network) until UNTIL.  -1 when memory runs out or IP does not parse. */
int bans_set(struct bans *b, const char *ip, time_t until, unsigned offenses, const char *reason);
/* bans_clear - forget every ban (before loading them again). */
void bans_clear(struct bans *b);

/* bans_active - the ban that covers IP at NOW, or NULL. */
const struct ban *bans_active(const struct bans *b, const char *ip, time_t now);

/* bans_failure - count one failure of IP at NOW under the rules H.  When
 * it reaches H->failures within H->window and IP is not exempt, a ban is
 * decided: *OUT is filled (until, offenses, REASON) and true returned; the
 * caller then applies it with bans_set and saves it. */
bool bans_failure(struct bans *b, const struct config_hammering *h, const char *ip,
                  const char *reason, time_t now, struct ban *out);

/* bans_expire - report (by calling EXPIRED) and stop counting as active
 * each ban that ended by NOW; returns how many. */
unsigned bans_expire(struct bans *b, time_t now, void (*expired)(const char *ip, void *arg),
                     void *arg);
unsigned bans_count_active(const struct bans *b, time_t now);

#endif
