/* accounts/lockout - failed AUTH with the main password, counted per
 * account AND client network (an IPv4 /24, an IPv6 /64 by default), in the
 * daemon's memory (a bounded table used on the loop thread only).  A
 * botnet guessing alice's password locks its own networks out for alice,
 * not alice at hers.  A second, account-wide count is the safety valve
 * against guessing spread over very many networks: it locks the account
 * everywhere except the networks the account logged in from recently.
 * The locks themselves live in the store (login_networks.locked_until and
 * users.locked_until), so they survive a restart and floodctl sees and
 * lifts them; this table only decides when to set them.  The policy
 * engine applies these rules (policy/engine_login.c). */
#ifndef FLOODGATE_ACCOUNTS_LOCKOUT_H
#define FLOODGATE_ACCOUNTS_LOCKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/config.h"

#define LOCKOUT_TABLE_MAX 8192 /* (account, network) pairs and accounts tracked at once */
#define LOCKOUT_NETWORK_MAX 64 /* "ffff:ffff:ffff:ffff::/64" and its NUL fit */

/* What one failure decided. */
struct lockout_verdict {
    bool lock_network;      /* this network reached L->failures: lock it for the account */
    bool lock_account;      /* all networks together reached L->account_failures */
    unsigned count;         /* failures of this network in its window */
    unsigned account_count; /* failures of the account, all networks, in its window */
};

/* lockout_network - the network of client address IP as L counts it
 * ("127.0.9.0/24", "2001:db8:1:2::/64"; an IPv4-mapped IPv6 address counts
 * as IPv4) into OUT.  False when IP does not parse (OUT gets IP itself, so
 * that a strange address is still its own network). */
bool lockout_network(const struct config_lockout *l, const char *ip, char *out, size_t len);

/* lockout_failure - count one failure of ADDRESS from NETWORK at NOW under
 * L into *V.  A count that locks starts again from zero. */
void lockout_failure(const struct config_lockout *l, const char *address, const char *network,
                     time_t now, struct lockout_verdict *v);
/* lockout_success - a good main password from NETWORK: forget that
 * network's failures (not the account-wide count: a success of alice at
 * the office says nothing about the guessers elsewhere). */
void lockout_success(const char *address, const char *network);
/* A lock this table decided reaches the store through the committer a
 * moment later; an AUTH that read the store before that write committed
 * would not see it, and a right password just after the locking guess
 * would log in.  So each lock decided is also kept here, and applies to
 * every AUTH whose store read may have missed it: those that started
 * (lockout_generation) before the write was stored (lockout_stored). */

/* lockout_pending_add - a lock of ADDRESS from NETWORK ("": the account
 * everywhere but its known networks) until UNTIL, on its way to the store. */
void lockout_pending_add(const char *address, const char *network, time_t until);
/* lockout_stored - the store has the lock of ADDRESS from NETWORK. */
void lockout_stored(const char *address, const char *network);
/* lockout_generation - how many locks the store has taken so far: an AUTH
 * notes it before it reads the store. */
unsigned long lockout_generation(void);
/* lockout_pending_locked - is ADDRESS locked from NETWORK at NOW by a lock
 * its store read (started at generation SINCE) may have missed?  An
 * account-wide lock spares a KNOWN network, as in the store. */
bool lockout_pending_locked(const char *address, const char *network, unsigned long since,
                            time_t now, bool known);

/* lockout_forget_all - empty the table (tests). */
void lockout_forget_all(void);

#endif
