/* policy/bans - who is banned, and when failures earn a ban (room: policy).
 *
 * Exact addresses live in a hash map, so checking a connection costs one
 * lookup however many IPs a botnet got banned; networks an admin banned
 * by hand ("203.0.113.0/24") are few and checked one by one.  An ended
 * ban stays in the map for a day as history: an IP banned again within
 * that day is a repeat offender and gets twice the previous ban. */
#include "policy/bans.h"

#include <stdlib.h>
#include <string.h>

#include "core/ipset.h"
#include "core/strmap.h"
#include "core/util.h"
#include "policy/counters.h"

#define HISTORY 86400          /* seconds an ended ban still counts as an offense */
#define FAILING_IPS_MAX 100000 /* IPs whose failures are being counted at once */

struct entry {
    struct ban ban;
    bool ended; /* reported by bans_expire */
};

struct net_ban {
    char text[64];
    struct ipset *set;
    struct ban ban;
};

struct bans {
    struct strmap *exact; /* ip -> struct entry */
    struct net_ban *nets;
    size_t n_nets;
    struct counters *failures;
    unsigned failure_window;
};

struct bans *bans_new(void)
{
    struct bans *b = calloc(1, sizeof *b);
    if (b == NULL || (b->exact = strmap_new()) == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

static void free_nets(struct bans *b)
{
    for (size_t i = 0; i < b->n_nets; i++)
        ipset_free(b->nets[i].set);
    free(b->nets);
    b->nets = NULL;
    b->n_nets = 0;
}

void bans_free(struct bans *b)
{
    if (b == NULL)
        return;
    strmap_free(b->exact, free);
    free_nets(b);
    counters_free(b->failures);
    free(b);
}

void bans_clear(struct bans *b)
{
    strmap_free(b->exact, free);
    b->exact = strmap_new();
    free_nets(b);
}

static void fill(struct ban *ban, time_t until, unsigned offenses, const char *reason)
{
    ban->until = until;
    ban->offenses = offenses;
    str_copy(ban->reason, reason ? reason : "", sizeof ban->reason);
}

/* set_net - ban the network TEXT (replacing an earlier ban of it). */
static int set_net(struct bans *b, const char *text, time_t until, unsigned offenses,
                   const char *reason)
{
    for (size_t i = 0; i < b->n_nets; i++) {
        if (strcmp(b->nets[i].text, text) == 0) {
            fill(&b->nets[i].ban, until, offenses, reason);
            return 0;
        }
    }
    char err[128];
    struct ipset *set = ipset_new();
    struct net_ban *nets = realloc(b->nets, (b->n_nets + 1) * sizeof *nets);
    if (nets)
        b->nets = nets;
    if (set == NULL || nets == NULL || strlen(text) >= sizeof nets->text ||
        ipset_add(set, text, NULL, err, sizeof err) < 0) {
        ipset_free(set);
        return -1;
    }
    struct net_ban *n = &b->nets[b->n_nets++];
    str_copy(n->text, text, sizeof n->text);
    n->set = set;
    fill(&n->ban, until, offenses, reason);
    return 0;
}

int bans_set(struct bans *b, const char *ip, time_t until, unsigned offenses, const char *reason)
{
    if (b->exact == NULL)
        return -1;
    if (strchr(ip, '/') || strchr(ip, '-'))
        return set_net(b, ip, until, offenses, reason);
    struct entry *e = strmap_get(b->exact, ip);
    if (e == NULL) {
        if ((e = calloc(1, sizeof *e)) == NULL)
            return -1;
        if (strmap_put(b->exact, ip, e, NULL) < 0) {
            free(e);
            return -1;
        }
    }
    fill(&e->ban, until, offenses, reason);
    e->ended = false;
    return 0;
}

const struct ban *bans_active(const struct bans *b, const char *ip, time_t now)
{
    const struct entry *e = b->exact ? strmap_get(b->exact, ip) : NULL;
    if (e && e->ban.until > now)
        return &e->ban;
    for (size_t i = 0; i < b->n_nets; i++)
        if (b->nets[i].ban.until > now && ipset_contains_str(b->nets[i].set, ip))
            return &b->nets[i].ban;
    return NULL;
}

/* ban_length - the first ban, doubled for each earlier offense, capped. */
static unsigned ban_length(const struct config_hammering *h, unsigned offenses)
{
    unsigned long long len = h->ban;
    for (unsigned i = 1; i < offenses && len < h->ban_max; i++)
        len *= 2;
    return len < h->ban_max ? (unsigned)len : h->ban_max;
}

bool bans_failure(struct bans *b, const struct config_hammering *h, const char *ip,
                  const char *reason, time_t now, struct ban *out)
{
    if (h->failures == 0 || ipset_contains_str(h->exempt, ip) || bans_active(b, ip, now))
        return false;
    if (b->failures == NULL || b->failure_window != h->window) {
        counters_free(b->failures);
        b->failure_window = h->window;
        if ((b->failures = counters_new(h->window, FAILING_IPS_MAX)) == NULL)
            return false;
    }
    if (counters_add(b->failures, ip, 1, now) < h->failures)
        return false;
    counters_reset(b->failures, ip);
    const struct entry *e = b->exact ? strmap_get(b->exact, ip) : NULL;
    unsigned offenses = e && e->ban.until > now - HISTORY ? e->ban.offenses + 1 : 1;
    fill(out, now + ban_length(h, offenses), offenses, reason);
    return true;
}

struct expire_ctx {
    time_t now;
    unsigned ended;
    void (*expired)(const char *ip, void *arg);
    void *arg;
};

/* keep_entry - report a ban that has just ended; drop the history of one
 * that ended more than a day ago. */
static bool keep_entry(const char *ip, void *value, void *arg)
{
    struct expire_ctx *x = arg;
    struct entry *e = value;
    if (e->ban.until > x->now)
        return true;
    if (!e->ended) {
        e->ended = true;
        x->ended++;
        if (x->expired)
            x->expired(ip, x->arg);
    }
    return e->ban.until > x->now - HISTORY;
}

unsigned bans_expire(struct bans *b, time_t now, void (*expired)(const char *ip, void *arg),
                     void *arg)
{
    struct expire_ctx x = {now, 0, expired, arg};
    if (b->exact)
        strmap_sweep(b->exact, keep_entry, &x, free);
    for (size_t i = 0; i < b->n_nets;) {
        if (b->nets[i].ban.until > now) {
            i++;
            continue;
        }
        x.ended++;
        if (expired)
            expired(b->nets[i].text, arg);
        ipset_free(b->nets[i].set);
        b->nets[i] = b->nets[--b->n_nets];
    }
    if (b->failures)
        counters_sweep(b->failures, now);
    return x.ended;
}

static bool count_active(const char *ip, void *value, void *arg)
{
    struct expire_ctx *x = arg;
    x->ended += ((struct entry *)value)->ban.until > x->now;
    return true;
}

unsigned bans_count_active(const struct bans *b, time_t now)
{
    struct expire_ctx x = {now, 0, NULL, NULL};
    if (b->exact)
        strmap_sweep(b->exact, count_active, &x, NULL);
    for (size_t i = 0; i < b->n_nets; i++)
        x.ended += b->nets[i].ban.until > now;
    return x.ended;
}
