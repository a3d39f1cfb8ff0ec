/* accounts/lockout - per-account failure counts for the lockout.
 *
 * Room: accounts.  A fixed table, searched linearly: it is touched only
 * after an argon2id verification that failed, which costs far more than
 * a scan, and only accounts that exist get a slot, so the table holds at
 * most the accounts under attack.  When it is full, the slot whose window
 * began longest ago is reused: an attacker spreading guesses over more
 * than LOCKOUT_TABLE_MAX accounts at once loses counts, not memory.
 * The window is fixed from an account's first failure: simple, and a
 * guesser still gets at most FAILURES tries per WINDOW. */
#include "accounts/lockout.h"

#include <string.h>

#include "core/util.h"

struct slot {
    char address[256]; /* "" when free */
    time_t start;      /* first failure of the current window */
    unsigned count;
};

static struct slot table[LOCKOUT_TABLE_MAX];

/* find - the slot of ADDRESS, or NULL. */
static struct slot *find(const char *address)
{
    for (size_t i = 0; i < LOCKOUT_TABLE_MAX; i++)
        if (table[i].address[0] && strcmp(table[i].address, address) == 0)
            return &table[i];
    return NULL;
}

/* claim - a slot for ADDRESS: a free one, else the oldest. */
static struct slot *claim(const char *address)
{
    struct slot *best = &table[0];
    for (size_t i = 0; i < LOCKOUT_TABLE_MAX; i++) {
        if (table[i].address[0] == '\0') {
            best = &table[i];
            break;
        }
        if (table[i].start < best->start)
            best = &table[i];
    }
    if (!str_copy(best->address, address, sizeof best->address))
        return NULL;
    best->count = 0;
    return best;
}

/* lockout_failure - count one failure; true when the account must lock. */
bool lockout_failure(const struct config_lockout *l, const char *address, time_t now,
                     unsigned *count)
{
    *count = 0;
    if (l->failures == 0)
        return false;
    struct slot *s = find(address);
    if (s == NULL && (s = claim(address)) == NULL)
        return false;
    if (s->count == 0 || now - s->start >= (time_t)l->window) {
        s->start = now;
        s->count = 0;
    }
    *count = ++s->count;
    if (s->count < l->failures)
        return false;
    s->address[0] = '\0'; /* locked: a later failure starts a new count */
    s->count = 0;
    return true;
}

/* lockout_success - a good main password: forget the failures. */
void lockout_success(const char *address)
{
    struct slot *s = find(address);
    if (s != NULL) {
        s->address[0] = '\0';
        s->count = 0;
    }
}
