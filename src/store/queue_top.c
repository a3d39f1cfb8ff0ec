/* store/queue_top - the queue summarised by who sends it: the one command
 * that answers "all of this comes from jack, from these IPs, with From
 * addresses that keep changing".
 *
 * Why not GROUP BY: counting distinct From addresses and recipient domains
 * per group makes SQLite sort a million rows twice.  Instead one pass over
 * the pending recipients joined to their messages (the rows of one message
 * come together, whichever table SQLite walks first) feeds groups kept here, with hash sets for the
 * distinct counts: a million-message queue summarised in well under a second. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/queue_query.h"
#include "store/queue_sql.h"
#include "store/store.h"

/* What a group can be keyed by, as SQL over messages m and recipients r. */
static const struct {
    const char *by;
    const char *key;
} groupings[] = {
    {"auth-user", "m.auth_user"},     {"ip", "m.client_ip"},       {"from", "m.sender"},
    {"header-from", "m.header_from"}, {"rcpt-domain", "r.domain"}, {"subject", "m.subject"},
};

/* A set of 64-bit hashes (open addressing; 0 marks a free slot). */
struct hash_set {
    uint64_t *slots;
    size_t cap, n;
};

struct group {
    char *key; /* NULL: the key was NULL (e.g. no AUTH) */
    uint64_t key_hash;
    long long messages;
    long long oldest, newest;
    uint64_t last_message; /* hash of the last message counted here */
    struct hash_set from, domains;
};

struct groups {
    struct group *v;
    size_t n, cap;
    size_t *index; /* open addressing over v, by key_hash; SIZE_MAX = free */
    size_t index_cap;
};

static uint64_t hash_text(const unsigned char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; s && *s; s++)
        h = (h ^ *s) * 1099511628211ULL;
    return h ? h : 1; /* 0 is the free-slot mark */
}

static int set_grow(struct hash_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 16;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        for (size_t j = s->slots[i] & (cap - 1); s->slots[i]; j = (j + 1) & (cap - 1))
            if (slots[j] == 0) {
                slots[j] = s->slots[i];
                break;
            }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

/* set_add - count H once. */
static int set_add(struct hash_set *s, uint64_t h)
{
    if ((s->n + 1) * 2 > s->cap && set_grow(s) < 0)
        return -1;
    for (size_t j = h & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        if (s->slots[j] == h)
            return 0;
        if (s->slots[j] == 0) {
            s->slots[j] = h;
            s->n++;
            return 0;
        }
    }
}

static int index_grow(struct groups *g)
{
    size_t cap = g->index_cap ? g->index_cap * 2 : 64;
    size_t *index = malloc(cap * sizeof *index);
    if (index == NULL)
        return -1;
    memset(index, 0xff, cap * sizeof *index);
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = g->v[i].key_hash & (cap - 1);; j = (j + 1) & (cap - 1))
            if (index[j] == SIZE_MAX) {
                index[j] = i;
                break;
            }
    free(g->index);
    g->index = index;
    g->index_cap = cap;
    return 0;
}

/* group_of - the group for KEY, made on first sight. */
static struct group *group_of(struct groups *g, const unsigned char *key)
{
    uint64_t h = key ? hash_text(key) : 2;
    if ((g->n + 1) * 2 > g->index_cap && index_grow(g) < 0)
        return NULL;
    size_t j = h & (g->index_cap - 1);
    for (; g->index[j] != SIZE_MAX; j = (j + 1) & (g->index_cap - 1)) {
        struct group *gr = &g->v[g->index[j]];
        if (gr->key_hash == h &&
            (key ? gr->key && strcmp(gr->key, (const char *)key) == 0 : gr->key == NULL))
            return gr;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        struct group *v = realloc(g->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        g->v = v;
        g->cap = cap;
    }
    struct group *gr = &g->v[g->n];
    memset(gr, 0, sizeof *gr);
    gr->key_hash = h;
    if (key && (gr->key = strdup((const char *)key)) == NULL)
        return NULL;
    g->index[j] = g->n++;
    return gr;
}

static void groups_free(struct groups *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].key);
        free(g->v[i].from.slots);
        free(g->v[i].domains.slots);
    }
    free(g->v);
    free(g->index);
}

/* add_row - one (recipient, message) row: key, header_from, created,
 * message id, recipient domain. */
static int add_row(struct groups *g, sqlite3_stmt *st)
{
    struct group *gr = group_of(g, sqlite3_column_text(st, 0));
    if (gr == NULL)
        return -1;
    uint64_t msg = hash_text(sqlite3_column_text(st, 3));
    if (gr->last_message != msg) { /* rows of one message come together */
        long long created = sqlite3_column_int64(st, 2);
        if (gr->messages == 0 || created < gr->oldest)
            gr->oldest = created;
        if (gr->messages == 0 || created > gr->newest)
            gr->newest = created;
        gr->messages++;
        gr->last_message = msg;
        if (set_add(&gr->from, hash_text(sqlite3_column_text(st, 1))) < 0)
            return -1;
    }
    return set_add(&gr->domains, hash_text(sqlite3_column_text(st, 4)));
}

static int by_messages(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->messages != y->messages)
        return x->messages < y->messages ? 1 : -1;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static json_t *group_json(const struct group *gr, long long total)
{
    return json_pack("{s:s?, s:I, s:f, s:I, s:I, s:I, s:I}", "key", gr->key, "messages",
                     (json_int_t)gr->messages, "share",
                     total > 0 ? (double)gr->messages / (double)total : 0.0, "distinct_from",
                     (json_int_t)gr->from.n, "distinct_rcpt_domains", (json_int_t)gr->domains.n,
                     "oldest", (json_int_t)gr->oldest, "newest", (json_int_t)gr->newest);
}

static const char *grouping_key(const char *by)
{
    for (size_t i = 0; i < sizeof groupings / sizeof groupings[0]; i++)
        if (strcmp(groupings[i].by, by) == 0)
            return groupings[i].key;
    return NULL;
}

/* collect - the single pass; the share's 100% is every message seen. */
static int collect(store_db *db, const struct queue_filter *f, const char *key, struct groups *g,
                   long long *total)
{
    char head[512];
    snprintf(head, sizeof head,
             "SELECT %s, m.header_from, m.created, r.message, r.domain FROM recipients r"
             /* CROSS JOIN keeps recipients the outer loop: walking their
              * index and looking messages up by id stays near sequential,
              * where starting from a filter's index seeks at random */
             " CROSS JOIN messages m ON m.id = r.message WHERE 1",
             key);
    sqlite3_stmt *st = queue_filter_prepare(db, head, f, FILTER_JOINED, "");
    if (st == NULL)
        return -1;
    int rc;
    const unsigned char *last;
    char prev[32] = "";
    *total = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        last = sqlite3_column_text(st, 3);
        if (last && strcmp(prev, (const char *)last) != 0) {
            (*total)++;
            snprintf(prev, sizeof prev, "%s", (const char *)last);
        }
        if (add_row(g, st) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

json_t *store_queue_top(store_db *db, const struct queue_filter *f, const char *by, unsigned limit,
                        char *err, size_t errlen)
{
    const char *key = grouping_key(by);
    if (key == NULL) {
        snprintf(err, errlen,
                 "cannot group by '%s'; choose auth-user, ip, from, header-from, "
                 "rcpt-domain or subject",
                 by);
        return NULL;
    }
    struct groups g = {0};
    long long total = 0;
    json_t *arr = NULL;
    if (collect(db, f, key, &g, &total) < 0) {
        snprintf(err, errlen, "cannot read the queue: %s", sqlite3_errmsg(db));
    } else if ((arr = json_array()) != NULL) {
        qsort(g.v, g.n, sizeof *g.v, by_messages);
        for (size_t i = 0; i < g.n && (limit == 0 || i < limit); i++)
            if (json_array_append_new(arr, group_json(&g.v[i], total)) < 0) {
                json_decref(arr);
                arr = NULL;
                snprintf(err, errlen, "out of memory");
                break;
            }
    }
    groups_free(&g);
    return arr;
}
