/* queue/queue_top - the queue summarised by who sends it: the one command
 * that answers "all of this comes from jack, from these IPs, with From
 * addresses that keep changing". */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "queue/queue_query.h"
#include "queue/store.h"

/* What a group can be keyed by, as SQL over messages m (and, for the
 * recipient domain, recipients r). */
static const struct {
    const char *by;
    const char *key;
} groupings[] = {
    {"auth-user", "m.auth_user"},     {"ip", "m.client_ip"},
    {"from", "m.sender"},             {"header-from", "m.header_from"},
    {"rcpt-domain", "r.domain"},      {"subject", "m.subject"},
};

static const char *grouping_key(const char *by)
{
    for (size_t i = 0; i < sizeof groupings / sizeof groupings[0]; i++)
        if (strcmp(groupings[i].by, by) == 0)
            return groupings[i].key;
    return NULL;
}

/* selection_size - how many messages the filter selects: the 100% of
 * "share". */
static long long selection_size(sqlite3 *db, const struct queue_filter *f)
{
    sqlite3_stmt *st = queue_filter_prepare(db, "SELECT count(*) FROM messages m WHERE 1", f,
                                            false, "");
    long long n = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static json_t *group_row(sqlite3_stmt *st, long long total)
{
    const char *key = (const char *)sqlite3_column_text(st, 0);
    long long n = sqlite3_column_int64(st, 1);
    return json_pack("{s:s?, s:I, s:f, s:I, s:I, s:I, s:I}", "key", key, "messages",
                     (json_int_t)n, "share", total > 0 ? (double)n / (double)total : 0.0,
                     "distinct_from", (json_int_t)sqlite3_column_int64(st, 2),
                     "distinct_rcpt_domains", (json_int_t)sqlite3_column_int64(st, 3), "oldest",
                     (json_int_t)sqlite3_column_int64(st, 4), "newest",
                     (json_int_t)sqlite3_column_int64(st, 5));
}

json_t *queue_top(sqlite3 *db, const struct queue_filter *f, const char *by, unsigned limit,
                  char *err, size_t errlen)
{
    const char *key = grouping_key(by);
    if (key == NULL) {
        snprintf(err, errlen, "cannot group by '%s'; choose auth-user, ip, from, header-from, "
                              "rcpt-domain or subject", by);
        return NULL;
    }
    char head[512];
    snprintf(head, sizeof head,
             "SELECT %s AS k, count(DISTINCT m.id), count(DISTINCT m.header_from),"
             " count(DISTINCT r.domain), min(m.created), max(m.created)"
             " FROM messages m JOIN recipients r ON r.message = m.id WHERE 1",
             key);
    long long total = selection_size(db, f);
    sqlite3_stmt *st = queue_filter_prepare(db, head, f, false,
                                            " GROUP BY k ORDER BY 2 DESC, k LIMIT ?1");
    json_t *arr = json_array();
    int rc = st && arr && total >= 0 ? sqlite3_bind_int64(st, 1, limit ? (sqlite3_int64)limit : -1)
                                              : SQLITE_ERROR;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = json_array_append_new(arr, group_row(st, total)) == 0 ? SQLITE_OK : SQLITE_NOMEM;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read the queue: %s", sqlite3_errmsg(db));
        json_decref(arr);
        return NULL;
    }
    return arr;
}
