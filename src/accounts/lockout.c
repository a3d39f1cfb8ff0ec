/* accounts/lockout - per-account, per-network failure counts for the
 * lockout.
 *
 * Room: accounts.  A fixed table, searched linearly: it is touched only
 * after an argon2id verification that failed, which costs far more than
 * a scan, and only accounts that exist get a slot, so the table holds at
 * most the (account, network) pairs under attack.  An account's
 * account-wide count is a slot with an empty network.  When the table is
 * full, the slot whose window began longest ago is reused: an attacker
 * spreading guesses over more than LOCKOUT_TABLE_MAX pairs at once loses
 * counts, not memory (and the store's locks are untouched).  A window is
 * fixed from a pair's first failure: simple, and a guesser still gets at
 * most FAILURES tries per WINDOW from one network. */
#include "accounts/lockout.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

struct slot {
    char address[256];                 /* "" when free */
    char network[LOCKOUT_NETWORK_MAX]; /* "" for the account-wide count */
    time_t start;                      /* first failure of the current window */
    unsigned count;
};

static struct slot table[LOCKOUT_TABLE_MAX];

/* mask_bits - clear every bit of the LEN octets at A past the first PREFIX. */
static void mask_bits(unsigned char *a, size_t len, unsigned prefix)
{
    for (size_t i = 0; i < len; i++) {
        unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
        a[i] &= (unsigned char)(keep == 8 ? 0xff : (0xff00 >> keep) & 0xff);
    }
}

/* lockout_network - the network of client address IP as L counts it. */
bool lockout_network(const struct config_lockout *l, const char *ip, char *out, size_t len)
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    int family = AF_INET;
    if (inet_pton(AF_INET, ip, a) != 1) {
        family = AF_INET6;
        if (inet_pton(AF_INET6, ip, a) != 1) {
            str_copy(out, ip, len);
            return false;
        }
        if (memcmp(a, mapped, sizeof mapped) == 0) { /* ::ffff:192.0.2.1 is 192.0.2.1 */
            memmove(a, a + 12, 4);
            family = AF_INET;
        }
    }
    unsigned prefix = family == AF_INET ? l->ipv4_prefix : l->ipv6_prefix;
    mask_bits(a, family == AF_INET ? 4 : 16, prefix);
    if (inet_ntop(family, a, text, sizeof text) == NULL ||
        snprintf(out, len, "%s/%u", text, prefix) >= (int)len) {
        str_copy(out, ip, len);
        return false;
    }
    return true;
}

/* find - the slot of (ADDRESS, NETWORK), or NULL. */
static struct slot *find(const char *address, const char *network)
{
    for (size_t i = 0; i < LOCKOUT_TABLE_MAX; i++)
        if (table[i].address[0] && strcmp(table[i].address, address) == 0 &&
            strcmp(table[i].network, network) == 0)
            return &table[i];
    return NULL;
}

/* claim - a slot for (ADDRESS, NETWORK): a free one, else the oldest. */
static struct slot *claim(const char *address, const char *network)
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
    if (!str_copy(best->address, address, sizeof best->address) ||
        !str_copy(best->network, network, sizeof best->network)) {
        best->address[0] = '\0';
        return NULL;
    }
    best->count = 0;
    return best;
}

/* count - one failure of (ADDRESS, NETWORK) in a window of WINDOW seconds;
 * true when it reaches LIMIT (the slot is then freed: a new count). */
static bool count(const char *address, const char *network, unsigned limit, unsigned window,
                  time_t now, unsigned *n)
{
    *n = 0;
    if (limit == 0)
        return false;
    struct slot *s = find(address, network);
    if (s == NULL && (s = claim(address, network)) == NULL)
        return false;
    if (s->count == 0 || now - s->start >= (time_t)window) {
        s->start = now;
        s->count = 0;
    }
    *n = ++s->count;
    if (s->count < limit)
        return false;
    s->address[0] = '\0';
    s->count = 0;
    return true;
}

/* lockout_failure - count one failure of ADDRESS from NETWORK. */
void lockout_failure(const struct config_lockout *l, const char *address, const char *network,
                     time_t now, struct lockout_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->lock_network = count(address, network, l->failures, l->window, now, &v->count);
    v->lock_account =
        count(address, "", l->account_failures, l->account_window, now, &v->account_count);
}

/* lockout_success - a good main password from NETWORK. */
void lockout_success(const char *address, const char *network)
{
    struct slot *s = find(address, network);
    if (s != NULL) {
        s->address[0] = '\0';
        s->count = 0;
    }
}

/* Locks on their way to the store (see lockout.h), at most this many: a
 * full list drops the one that ends first. */
#define LOCKOUT_PENDING_MAX 256

static struct pending {
    char address[256]; /* "" when free */
    char network[LOCKOUT_NETWORK_MAX];
    time_t until;
    unsigned long stored; /* the generation that stored it; 0: not yet */
} pending[LOCKOUT_PENDING_MAX];

static unsigned long generation;

/* lockout_pending_add - keep the lock until the store has it and every
 * AUTH that read the store before has ended. */
void lockout_pending_add(const char *address, const char *network, time_t until)
{
    struct pending *p = &pending[0];
    for (size_t i = 0; i < LOCKOUT_PENDING_MAX; i++) {
        if (pending[i].address[0] == '\0') {
            p = &pending[i];
            break;
        }
        if (pending[i].until < p->until)
            p = &pending[i];
    }
    if (!str_copy(p->address, address, sizeof p->address) ||
        !str_copy(p->network, network, sizeof p->network)) {
        p->address[0] = '\0';
        return;
    }
    p->until = until;
    p->stored = 0;
}

/* lockout_stored - mark the newest such lock stored, at a new generation. */
void lockout_stored(const char *address, const char *network)
{
    generation++;
    for (size_t i = 0; i < LOCKOUT_PENDING_MAX; i++)
        if (pending[i].address[0] && pending[i].stored == 0 &&
            strcasecmp(pending[i].address, address) == 0 &&
            strcmp(pending[i].network, network) == 0)
            pending[i].stored = generation;
}

unsigned long lockout_generation(void)
{
    return generation;
}

/* lockout_pending_locked - a live lock the caller's read may have missed. */
bool lockout_pending_locked(const char *address, const char *network, unsigned long since,
                            time_t now, bool known)
{
    for (size_t i = 0; i < LOCKOUT_PENDING_MAX; i++) {
        struct pending *p = &pending[i];
        if (p->address[0] == '\0')
            continue;
        if (p->until <= now) {
            p->address[0] = '\0'; /* over: the store's copy is over too */
            continue;
        }
        if (strcasecmp(p->address, address) != 0 || (p->stored && p->stored <= since))
            continue; /* another account, or a lock the caller's read saw */
        if (p->network[0] ? strcmp(p->network, network) == 0 : !known)
            return true;
    }
    return false;
}

/* lockout_forget_all - empty the tables. */
void lockout_forget_all(void)
{
    memset(table, 0, sizeof table);
    memset(pending, 0, sizeof pending);
}
