/* store/queue_filter - selections of queued messages as SQL: a condition
 * over messages m (and recipients r) with bound values, never text pasted
 * into SQL.  Room: store; the queue room reads a selection from the
 * control protocol (queue/queue_filter). */
#include "store/queue_filter.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/ipset.h"
#include "core/log.h"
#include "store/store.h"
#include "store/queue_sql.h"
#include "store/store_sql.h"

/* The columns a listing may be sorted by, and their SQL. */
static const struct {
    const char *name;
    const char *sql;
} sort_columns[] = {
    {"id", "m.id"},
    {"created", "m.created"},
    {"size", "m.size"},
    {"sender", "m.sender"},
    {"from", "m.sender"},
    {"auth_user", "m.auth_user"},
    {"client_ip", "m.client_ip"},
    {"ip", "m.client_ip"},
    {"helo", "m.helo"},
    {"listener", "m.listener"},
    {"header_from", "m.header_from"},
    {"subject", "m.subject"},
    {"message_id", "m.message_id"},
    {"auth_app_password", "m.auth_app_password"},
};

static int add_clause(struct filter_sql *fs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_clause(struct filter_sql *fs, const char *fmt, ...)
{
    size_t used = strlen(fs->where);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(fs->where + used, sizeof fs->where - used, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof fs->where - used ? -1 : 0;
}

/* bind_text - the next parameter number, holding S. */
static int bind_text(struct filter_sql *fs, const char *s)
{
    if (fs->n >= FILTER_BINDS_MAX)
        return -1;
    fs->binds[fs->n] = (struct filter_bind){.text = s};
    return ++fs->n;
}

static int bind_int(struct filter_sql *fs, sqlite3_int64 v)
{
    if (fs->n >= FILTER_BINDS_MAX)
        return -1;
    fs->binds[fs->n] = (struct filter_bind){.is_int = true, .num = v};
    return ++fs->n;
}

/* The filter's values are bound at ?100 and up, leaving the low numbers
 * to the statement that embeds the condition. */
#define FIRST 100

static int text_clause(struct filter_sql *fs, const char *fmt, const char *v)
{
    int i = bind_text(fs, v);
    return i < 0 ? -1 : add_clause(fs, fmt, FIRST + i - 1);
}

/* ids_clause - any number of queue ids as one bound JSON array, read back
 * by SQLite's json_each. */
static int ids_clause(struct filter_sql *fs, const struct queue_filter *f)
{
    if (f->n_ids == 0)
        return 0;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < f->n_ids; i++)
        if (json_array_append_new(arr, json_string(f->ids[i])) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    fs->ids_json = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (fs->ids_json == NULL)
        return -1;
    return text_clause(fs, " AND m.id IN (SELECT value FROM json_each(?%d))", fs->ids_json);
}

static int ip_clause(struct filter_sql *fs, const char *ip, char *err, size_t errlen)
{
    if (strchr(ip, '/') == NULL)
        return text_clause(fs, " AND m.client_ip = ?%d", ip);
    struct ipset *set = ipset_new();
    char why[128];
    int ok = set && ipset_add(set, ip, NULL, why, sizeof why) == 0;
    ipset_free(set);
    if (!ok) {
        snprintf(err, errlen, "--ip %s: %s", ip, set ? why : "out of memory");
        return -1;
    }
    return text_clause(fs, " AND ip_in(m.client_ip, ?%d)", ip);
}

/* recipient_clauses - the state, recipient and domain conditions.  When
 * the statement joins recipients r itself (JOINED), the state is a
 * condition on r; otherwise some recipient of m must be in it. */
static int recipient_clauses(struct filter_sql *fs, const struct queue_filter *f, bool joined)
{
    /* A message is in the queue while a recipient is still pending. */
    int rc;
    if (joined)
        rc = f->state ? text_clause(fs, " AND r.state = ?%d", f->state)
                      : add_clause(fs, " AND r.state IN ('queued','deferred','held','returning')");
    else if (f->state)
        rc = text_clause(fs,
                         " AND EXISTS (SELECT 1 FROM recipients r WHERE r.message = m.id"
                         " AND r.state = ?%d)",
                         f->state);
    else
        rc = add_clause(fs, " AND EXISTS (SELECT 1 FROM recipients r WHERE r.message = m.id AND"
                            " r.state IN ('queued','deferred','held','returning'))");
    if (rc < 0)
        return -1;
    if (f->rcpt && text_clause(fs,
                               " AND EXISTS (SELECT 1 FROM recipients r WHERE"
                               " r.message = m.id AND r.address = ?%d COLLATE NOCASE)",
                               f->rcpt) < 0)
        return -1;
    if (f->rcpt_domain && text_clause(fs,
                                      " AND EXISTS (SELECT 1 FROM recipients r WHERE"
                                      " r.message = m.id AND r.domain = lower(?%d))",
                                      f->rcpt_domain) < 0)
        return -1;
    return 0;
}

static int order_clause(struct filter_sql *fs, const struct queue_filter *f, char *err,
                        size_t errlen)
{
    const char *col = "m.created";
    if (f->sort) {
        col = NULL;
        for (size_t i = 0; i < sizeof sort_columns / sizeof sort_columns[0]; i++)
            if (strcmp(sort_columns[i].name, f->sort) == 0)
                col = sort_columns[i].sql;
        if (col == NULL) {
            snprintf(err, errlen,
                     "cannot sort by '%s'; choose id, created, size, sender, "
                     "auth_user, client_ip, helo, listener, header_from, subject "
                     "or message_id",
                     f->sort);
            return -1;
        }
    }
    const char *dir = f->descending ? " DESC" : "";
    snprintf(fs->order, sizeof fs->order, " ORDER BY %s%s, m.id%s", col, dir, dir);
    return 0;
}

int queue_filter_build(const struct queue_filter *f, time_t now, unsigned flags,
                       struct filter_sql *fs, char *err, size_t errlen)
{
    memset(fs, 0, sizeof *fs);
    snprintf(err, errlen, "the selection is too long");
    int rc = ids_clause(fs, f);
    if (rc == 0 && f->auth_user)
        rc = text_clause(fs, " AND m.auth_user = ?%d", f->auth_user);
    if (rc == 0 && f->unauthenticated)
        rc = add_clause(fs, " AND m.auth_user IS NULL");
    if (rc == 0 && f->ip)
        rc = ip_clause(fs, f->ip, err, errlen);
    if (rc == 0 && f->from)
        rc = text_clause(fs, " AND m.sender = ?%d COLLATE NOCASE", f->from);
    if (rc == 0 && f->header_from)
        rc = text_clause(fs, " AND m.header_from = ?%d COLLATE NOCASE", f->header_from);
    if (rc == 0 && f->subject)
        rc = text_clause(fs, " AND instr(lower(m.subject), lower(?%d)) > 0", f->subject);
    if (rc == 0 && f->listener)
        rc = text_clause(fs, " AND m.listener = ?%d", f->listener);
    if (rc == 0 && f->older_than) {
        int i = bind_int(fs, now - f->older_than);
        rc = i < 0 ? -1 : add_clause(fs, " AND m.created < ?%d", FIRST + i - 1);
    }
    if (rc == 0 && f->newer_than) {
        int i = bind_int(fs, now - f->newer_than);
        rc = i < 0 ? -1 : add_clause(fs, " AND m.created >= ?%d", FIRST + i - 1);
    }
    if (rc == 0)
        rc = recipient_clauses(fs, f, flags & FILTER_JOINED);
    if (rc == 0)
        rc = order_clause(fs, f, err, errlen);
    return rc;
}

void queue_filter_release(struct filter_sql *fs)
{
    free(fs->ids_json);
    fs->ids_json = NULL;
}

/* queue_filter_bind - the texts are copied (SQLITE_TRANSIENT): the ids
 * array lives in FS, which queue_filter_prepare releases before the
 * statement runs. */
int queue_filter_bind(sqlite3_stmt *st, const struct filter_sql *fs)
{
    for (int i = 0; i < fs->n; i++) {
        int rc = fs->binds[i].is_int
                     ? sqlite3_bind_int64(st, FIRST + i, fs->binds[i].num)
                     : sqlite3_bind_text(st, FIRST + i, fs->binds[i].text, -1, SQLITE_TRANSIENT);
        if (rc != SQLITE_OK)
            return -1;
    }
    return 0;
}

static void free_ipset(void *set)
{
    ipset_free(set);
}

/* ip_in - SQL function ip_in(address, network): 1 when it is inside. */
static void ip_in(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *ip = (const char *)sqlite3_value_text(argv[0]);
    const char *net = (const char *)sqlite3_value_text(argv[1]);
    /* The parsed network is cached per statement: one parse for a million rows. */
    struct ipset *set = sqlite3_get_auxdata(ctx, 1);
    if (set == NULL && net) {
        char why[128];
        set = ipset_new();
        if (set == NULL || ipset_add(set, net, NULL, why, sizeof why) < 0) {
            ipset_free(set);
            sqlite3_result_int(ctx, 0);
            return;
        }
        sqlite3_set_auxdata(ctx, 1, set, free_ipset);
        set = sqlite3_get_auxdata(ctx, 1);
    }
    sqlite3_result_int(ctx, ip && set && ipset_contains_str(set, ip));
}

int queue_filter_register(store_db *db)
{
    return sqlite3_create_function(db, "ip_in", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, ip_in,
                                   NULL, NULL) == SQLITE_OK
               ? 0
               : -1;
}

/* queue_filter_prepare - HEAD, then the condition and order of F, then TAIL,
 * prepared and bound (the filter's values at ?100 and up). */
sqlite3_stmt *queue_filter_prepare(store_db *db, const char *head, const struct queue_filter *f,
                                   unsigned flags, const char *tail)
{
    struct filter_sql fs;
    char err[256], *sql = NULL;
    sqlite3_stmt *st = NULL;
    if (queue_filter_build(f, time(NULL), flags, &fs, err, sizeof err) < 0) {
        log_warnx("event=queue_query error=%s", log_quote(err));
    } else if (queue_filter_register(db) < 0 ||
               asprintf(&sql, "%s%s%s%s", head, fs.where, flags & FILTER_ORDERED ? fs.order : "",
                        tail) < 0) {
        sql = NULL;
    } else if ((st = store_prepare(db, sql)) != NULL && queue_filter_bind(st, &fs) < 0) {
        sqlite3_finalize(st);
        st = NULL;
    }
    free(sql);
    queue_filter_release(&fs);
    return st;
}

/* store_queue_select - the ids of the selection, in its order. */
int store_queue_select(store_db *db, const struct queue_filter *f,
                       int (*each)(void *arg, const char *id), void *arg)
{
    sqlite3_stmt *st =
        queue_filter_prepare(db, "SELECT m.id FROM messages m WHERE 1", f, FILTER_ORDERED, "");
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (each(arg, (const char *)sqlite3_column_text(st, 0)) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}
