/* store/queue_query - read-only views of the queue for floodctl and the
 * control socket.
 *
 * Room: store.  An admin runs "floodctl queue list" exactly when mail piles
 * up, so the listing must stay fast with many thousands of messages: one
 * query picks the page of messages (by the created index), then their
 * recipients are fetched a chunk of messages at a time with
 * "message IN (...)" on the recipients_message index — never one query per
 * message. */
#include "store/queue_query.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/queue_counts.h"
#include "store/queue_sql.h"
#include "store/store.h"
#include "store/store_sql.h"

/* Messages whose recipients one IN (...) query fetches; well under
 * SQLite's limit on bound parameters. */
#define QUERY_CHUNK 256

/* The recipient states that mean "still ours to deliver". */
#define PENDING_STATES STORE_PENDING_STATES

/* The page of messages: the filter's condition and order are appended,
 * ?1 is the limit (-1: none). */
static const char messages_head[] =
    "SELECT id, created, size, sender, auth_user, client_ip, client_port, helo, tls,"
    " listener, header_from, subject, message_id, auth_app_password FROM messages m WHERE 1";

/* Names of the messages_head columns, in order, as they appear in JSON. */
static const char *const message_keys[] = {
    "id",   "created", "size",     "sender",      "auth_user", "client_ip",  "client_port",
    "helo", "tls",     "listener", "header_from", "subject",   "message_id", "auth_app_password",
};

/* set_new - json_object_set_new that reports a NULL value as a failure. */
static int set_new(json_t *obj, const char *key, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_object_set_new(obj, key, v);
}

/* message_row - the current row of messages_head as a JSON object with an
 * empty recipients array, or NULL on allocation failure. */
static json_t *message_row(sqlite3_stmt *st)
{
    json_t *m = json_object();
    if (m == NULL)
        return NULL;
    size_t n = sizeof message_keys / sizeof message_keys[0];
    for (size_t i = 0; i < n; i++) {
        if (set_new(m, message_keys[i], store_column_json(st, (int)i)) < 0) {
            json_decref(m);
            return NULL;
        }
    }
    if (set_new(m, "recipients", json_array()) < 0) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* load_messages - the page of messages as a JSON array (recipients still
 * empty), and an object from id to message for the recipient pass. */
static json_t *load_messages(store_db *db, const struct queue_filter *f, json_t *by_id)
{
    sqlite3_stmt *st = queue_filter_prepare(db, messages_head, f, FILTER_ORDERED, " LIMIT ?1");
    if (st == NULL)
        return NULL;
    json_t *arr = json_array();
    int rc =
        arr ? sqlite3_bind_int64(st, 1, f->limit ? (sqlite3_int64)f->limit : -1) : SQLITE_NOMEM;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *m = message_row(st);
        const char *id = (const char *)sqlite3_column_text(st, 0);
        rc = SQLITE_OK;
        /* BY_ID holds its own reference; the array takes the first one. */
        if (m == NULL || id == NULL || json_object_set(by_id, id, m) < 0) {
            json_decref(m);
            rc = SQLITE_NOMEM;
        } else if (json_array_append_new(arr, m) < 0) {
            rc = SQLITE_NOMEM;
        }
    }
    if (rc != SQLITE_DONE) {
        log_warnx("event=store_error op=queue_list error=%s",
                  log_quote(rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db)));
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    return arr;
}

/* recipient_status - the phrase an admin reads for one recipient. */
static json_t *recipient_status(const char *state, bool local, long long attempts,
                                const char *last_error)
{
    char buf[1024];
    int n;
    if (strcmp(state, "deferred") == 0)
        n = snprintf(buf, sizeof buf, "deferred: %s", last_error ? last_error : "no reason given");
    else if (strcmp(state, "held") == 0)
        n = snprintf(buf, sizeof buf, "on hold");
    else if (strcmp(state, "returning") == 0)
        n = snprintf(buf, sizeof buf, "being returned to the sender: %s",
                     last_error ? last_error : "by the administrator");
    else if (strcmp(state, "queued") == 0 && attempts > 0)
        n = snprintf(buf, sizeof buf, "waiting for %s delivery (retry %lld)",
                     local ? "local" : "remote", attempts);
    else if (strcmp(state, "queued") == 0)
        n = snprintf(buf, sizeof buf, "waiting for %s delivery", local ? "local" : "remote");
    else
        n = snprintf(buf, sizeof buf, "%s", state);
    /* A remote server's long error text may be cut: the full text is still
     * in last_error next to it. */
    if (n < 0)
        return NULL;
    return json_string(buf);
}

/* recipient_row - the current row of the recipients query as JSON:
 * columns 1.. are address, orig, local, state, next_try, attempts,
 * last_error. */
static json_t *recipient_row(sqlite3_stmt *st)
{
    const char *state = (const char *)sqlite3_column_text(st, 4);
    const char *last_error = (const char *)sqlite3_column_text(st, 7);
    bool local = sqlite3_column_int(st, 3) != 0;
    json_t *r = json_object();
    if (r == NULL || state == NULL || set_new(r, "address", store_column_json(st, 1)) < 0 ||
        set_new(r, "orig", store_column_json(st, 2)) < 0 ||
        set_new(r, "local", json_boolean(local)) < 0 ||
        set_new(r, "state", json_string(state)) < 0 ||
        set_new(r, "status",
                recipient_status(state, local, sqlite3_column_int64(st, 6), last_error)) < 0 ||
        set_new(r, "next_try", store_column_json(st, 5)) < 0 ||
        set_new(r, "attempts", store_column_json(st, 6)) < 0 ||
        set_new(r, "last_error", store_column_json(st, 7)) < 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* chunk_sql - "SELECT ... WHERE message IN (?,?,...)" for N messages. */
static int chunk_sql(char *buf, size_t len, size_t n)
{
    static const char head[] =
        "SELECT message, address, orig, local, state, next_try, attempts, last_error"
        " FROM recipients WHERE state IN (" PENDING_STATES ") AND message IN (";
    size_t o = strlen(head);
    if (o + 2 * n + 32 > len || n == 0)
        return -1;
    memcpy(buf, head, o);
    for (size_t i = 0; i < n; i++) {
        buf[o++] = i ? ',' : '?';
        if (i)
            buf[o++] = '?';
    }
    int w = snprintf(buf + o, len - o, ") ORDER BY message, id");
    return w < 0 || (size_t)w >= len - o ? -1 : 0;
}

/* attach_chunk - fetch the pending recipients of messages FIRST .. FIRST+N
 * of ARR and append each to its message's recipients array. */
static int attach_chunk(store_db *db, json_t *arr, size_t first, size_t n, json_t *by_id)
{
    char sql[512 + 2 * QUERY_CHUNK];
    if (chunk_sql(sql, sizeof sql, n) < 0)
        return -1;
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    int rc = SQLITE_OK;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        json_t *id = json_object_get(json_array_get(arr, first + i), "id");
        rc = sqlite3_bind_text(st, (int)i + 1, json_string_value(id), -1, SQLITE_STATIC);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mid = (const char *)sqlite3_column_text(st, 0);
        json_t *m = mid ? json_object_get(by_id, mid) : NULL;
        json_t *r = recipient_row(st);
        if (m == NULL || r == NULL ||
            json_array_append_new(json_object_get(m, "recipients"), r) < 0) {
            json_decref(r);
            rc = SQLITE_NOMEM;
        } else {
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_DONE)
        log_warnx("event=store_error op=queue_list error=%s",
                  log_quote(rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db)));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* state_rank - deferred outranks held outranks queued when one word must
 * describe a message: the admin needs to see a problem first. */
static int state_rank(const char *state)
{
    if (strcmp(state, "deferred") == 0)
        return 3;
    if (strcmp(state, "held") == 0)
        return 2;
    return 1;
}

/* summarise - the message-level state, status and next_try from its
 * recipients: the worst state wins, next_try is the earliest. */
static int summarise(json_t *m)
{
    json_t *rcpts = json_object_get(m, "recipients");
    json_t *worst = NULL, *r;
    json_int_t next = 0;
    size_t i;
    json_array_foreach(rcpts, i, r)
    {
        const char *st = json_string_value(json_object_get(r, "state"));
        json_int_t t = json_integer_value(json_object_get(r, "next_try"));
        if (worst == NULL ||
            state_rank(st) > state_rank(json_string_value(json_object_get(worst, "state"))))
            worst = r;
        if (i == 0 || t < next)
            next = t;
    }
    if (worst == NULL) /* a recipient vanished between the two queries */
        return set_new(m, "state", json_string("queued")) < 0 ||
                       set_new(m, "status", json_string("delivery in progress")) < 0 ||
                       set_new(m, "next_try", json_null()) < 0
                   ? -1
                   : 0;
    if (set_new(m, "state", json_copy(json_object_get(worst, "state"))) < 0 ||
        set_new(m, "status", json_copy(json_object_get(worst, "status"))) < 0 ||
        set_new(m, "next_try", json_integer(next)) < 0)
        return -1;
    return 0;
}

/* attach_recipients - fill every message's recipients, chunk by chunk,
 * then compute its summary fields. */
static int attach_recipients(store_db *db, json_t *arr, json_t *by_id)
{
    size_t total = json_array_size(arr);
    for (size_t first = 0; first < total; first += QUERY_CHUNK) {
        size_t n = total - first < QUERY_CHUNK ? total - first : QUERY_CHUNK;
        if (attach_chunk(db, arr, first, n, by_id) < 0)
            return -1;
    }
    for (size_t i = 0; i < total; i++)
        if (summarise(json_array_get(arr, i)) < 0)
            return -1;
    return 0;
}

/* store_queue_list - messages that still have undelivered recipients. */
json_t *store_queue_list(store_db *db, const struct queue_filter *filter)
{
    char why[256];
    json_t *by_id = json_object();
    if (by_id == NULL)
        return NULL;
    /* One read transaction makes both queries see the same snapshot, so a
     * recipient delivered in between cannot leave a message without any. */
    if (store_exec(db, "BEGIN", why, sizeof why) < 0) {
        log_warnx("event=store_error op=queue_list error=%s", log_quote(why));
        json_decref(by_id);
        return NULL;
    }
    json_t *arr = load_messages(db, filter, by_id);
    if (arr != NULL && attach_recipients(db, arr, by_id) < 0) {
        json_decref(arr);
        arr = NULL;
    }
    if (store_exec(db, "COMMIT", why, sizeof why) < 0)
        store_exec(db, "ROLLBACK", why, sizeof why);
    json_decref(by_id);
    return arr;
}

/* count_by_state - {"queued": n, "deferred": n, "held": n, ...} from SQL
 * (rows of state, count): the three pending states always appear. */
static json_t *count_by_state(store_db *db, const char *sql)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    json_t *o = json_object();
    if (st == NULL || o == NULL || set_new(o, "queued", json_integer(0)) < 0 ||
        set_new(o, "deferred", json_integer(0)) < 0 || set_new(o, "held", json_integer(0)) < 0) {
        sqlite3_finalize(st);
        json_decref(o);
        return NULL;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        if (state != NULL && set_new(o, state, json_integer(sqlite3_column_int64(st, 1))) < 0)
            break;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The kept counts of one column by state (store/queue_counts: a few rows,
 * never a scan of the queue). */
#define COUNTS_OF(column)                                                                          \
    "SELECT state, " column " FROM queue_counts WHERE state <> '" STORE_COUNTS_PENDING             \
    "' AND (" column " <> 0 OR state IN ('queued', 'deferred', 'held'))"

json_t *store_queue_messages_by_state(store_db *db)
{
    json_t *o = count_by_state(db, COUNTS_OF("messages"));
    if (o == NULL)
        log_warnx("event=store_error op=queue_messages_by_state error=%s",
                  log_quote(sqlite3_errmsg(db)));
    return o;
}

/* count_messages - messages with at least one undelivered recipient. */
static int count_messages(store_db *db, json_t *out)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT coalesce(sum(messages), 0) FROM queue_counts"
                                         " WHERE state = '" STORE_COUNTS_PENDING "'");
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && set_new(out, "messages", json_integer(sqlite3_column_int64(st, 0))) < 0)
        rc = SQLITE_NOMEM;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* store_queue_counts - {"messages": n, "recipients": {"queued": n, ...}} */
json_t *store_queue_counts(store_db *db)
{
    json_t *out = json_object();
    if (out == NULL)
        return NULL;
    /* one snapshot for both reads */
    bool began = store_read_begin(db);
    /* set_new takes the reference of the counts even when it fails, so
     * OUT is the only thing left to free on every error path. */
    if (count_messages(db, out) < 0 ||
        set_new(out, "recipients", count_by_state(db, COUNTS_OF("recipients"))) < 0) {
        log_warnx("event=store_error op=queue_counts error=%s", log_quote(sqlite3_errmsg(db)));
        json_decref(out);
        out = NULL;
    }
    if (began) {
        char why[128];
        if (store_commit(db, why, sizeof why) < 0)
            store_rollback(db);
    }
    return out;
}
