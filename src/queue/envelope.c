/* queue/envelope - recipients of a message and its insertion in the store. */
#include "queue/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_sql.h"

/* Past this many recipients, duplicates are found through a hash index
 * instead of a scan: a list of 10,000 would otherwise cost 50 million
 * comparisons. */
#define RCPT_INDEX_FROM 16

static char indexed; /* the value of every index entry */

/* rcpt_index - build ENV's index of its recipients; -1 out of memory. */
static int rcpt_index(struct envelope *env)
{
    if ((env->rcpt_index = strmap_new()) == NULL)
        return -1;
    for (size_t i = 0; i < env->n_rcpts; i++)
        if (strmap_put(env->rcpt_index, env->rcpts[i].address, &indexed, NULL) < 0)
            return -1;
    return 0;
}

/* has_rcpt - is ADDRESS among ENV's recipients?  -1 out of memory. */
static int has_rcpt(struct envelope *env, const char *address)
{
    if (env->rcpt_index == NULL && env->n_rcpts < RCPT_INDEX_FROM) {
        for (size_t i = 0; i < env->n_rcpts; i++)
            if (strcmp(env->rcpts[i].address, address) == 0)
                return 1;
        return 0;
    }
    if (env->rcpt_index == NULL && rcpt_index(env) < 0)
        return -1;
    return strmap_get(env->rcpt_index, address) != NULL;
}

int envelope_add_rcpt(struct envelope *env, const char *address, const char *orig, bool local)
{
    int has = has_rcpt(env, address);
    if (has != 0)
        return has > 0 ? 0 : -1;
    if (env->n_rcpts == env->cap_rcpts) {
        size_t cap = env->cap_rcpts ? env->cap_rcpts * 2 : 4;
        struct envelope_rcpt *r = realloc(env->rcpts, cap * sizeof *r);
        if (r == NULL)
            return -1;
        env->rcpts = r;
        env->cap_rcpts = cap;
    }
    struct envelope_rcpt *r = &env->rcpts[env->n_rcpts];
    r->address = strdup(address);
    r->orig = strdup(orig);
    r->local = local;
    if (r->address == NULL || r->orig == NULL ||
        (env->rcpt_index && strmap_put(env->rcpt_index, address, &indexed, NULL) < 0)) {
        free(r->address);
        free(r->orig);
        return -1;
    }
    env->n_rcpts++;
    return 1;
}

void envelope_truncate(struct envelope *env, size_t n)
{
    while (env->n_rcpts > n) {
        struct envelope_rcpt *r = &env->rcpts[--env->n_rcpts];
        if (env->rcpt_index)
            strmap_del(env->rcpt_index, r->address);
        free(r->address);
        free(r->orig);
    }
}

void envelope_clear(struct envelope *env)
{
    char **fields[] = {&env->sender,     &env->auth_user,   &env->auth_app_password,
                       &env->client_ip,  &env->helo,        &env->tls,
                       &env->listener,   &env->header_from, &env->subject,
                       &env->message_id, &env->trace};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
    for (size_t i = 0; i < env->n_rcpts; i++) {
        free(env->rcpts[i].address);
        free(env->rcpts[i].orig);
    }
    env->n_rcpts = 0;
    strmap_free(env->rcpt_index, NULL);
    env->rcpt_index = NULL;
    env->body = NULL;
    env->held = false;
}

size_t envelope_size(const struct envelope *env)
{
    return (env->trace ? strlen(env->trace) : 0) + (env->body ? spool_size(env->body) : 0);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* fail - WHAT failed: SQLite's words into ERR, the statement given back. */
static int fail(store_db *db, sqlite3_stmt *st, bool kept, const char *what, char *err,
                size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
    if (st)
        store_stmt_done(st, kept);
    return -1;
}

/* The statements run for every message, kept prepared per connection
 * (store_stmt): the committer runs them thousands of times a second. */
static const char insert_message_sql[] =
    "INSERT INTO messages(id, created, size, sender, auth_user, client_ip,"
    " client_port, helo, tls, listener, header_from, subject, message_id,"
    " auth_app_password) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char insert_recipient_sql[] =
    "INSERT INTO recipients(message, address, domain, orig, local, state,"
    " next_try, updated) VALUES(?1,?2,lower(?7),?3,?4,?8,?5,?6)";
static const char insert_body_sql[] = "INSERT INTO bodies(message, data) VALUES(?, zeroblob(?))";

static int insert_message(store_db *db, const struct envelope *env, char *err, size_t errlen)
{
    bool kept;
    sqlite3_stmt *st = store_stmt(db, insert_message_sql, &kept);
    if (st == NULL)
        return fail(db, NULL, false, "insert message", err, errlen);
    bind_text(st, 1, env->id);
    sqlite3_bind_int64(st, 2, env->created);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)envelope_size(env));
    bind_text(st, 4, env->sender ? env->sender : "");
    bind_text(st, 5, env->auth_user);
    bind_text(st, 6, env->client_ip);
    sqlite3_bind_int(st, 7, env->client_port);
    bind_text(st, 8, env->helo);
    bind_text(st, 9, env->tls);
    bind_text(st, 10, env->listener);
    bind_text(st, 11, env->header_from);
    bind_text(st, 12, env->subject);
    bind_text(st, 13, env->message_id);
    bind_text(st, 14, env->auth_app_password);
    if (sqlite3_step(st) != SQLITE_DONE)
        return fail(db, st, kept, "insert message", err, errlen);
    store_stmt_done(st, kept);
    return 0;
}

static int insert_recipients(store_db *db, const struct envelope *env, char *err, size_t errlen)
{
    bool kept;
    sqlite3_stmt *st = store_stmt(db, insert_recipient_sql, &kept);
    if (st == NULL)
        return fail(db, NULL, false, "insert recipient", err, errlen);
    for (size_t i = 0; i < env->n_rcpts; i++) {
        sqlite3_reset(st);
        bind_text(st, 1, env->id);
        bind_text(st, 2, env->rcpts[i].address);
        bind_text(st, 3, env->rcpts[i].orig);
        sqlite3_bind_int(st, 4, env->rcpts[i].local);
        sqlite3_bind_int64(st, 5, env->created);
        sqlite3_bind_int64(st, 6, env->created);
        const char *at = strrchr(env->rcpts[i].address, '@');
        bind_text(st, 7, at ? at + 1 : "");
        bind_text(st, 8, env->held ? "held" : "queued");
        if (sqlite3_step(st) != SQLITE_DONE)
            return fail(db, st, kept, "insert recipient", err, errlen);
    }
    store_stmt_done(st, kept);
    return 0;
}

/* insert_body - a zeroblob of the final size, then filled by incremental
 * blob I/O in chunks, so the body is never copied whole into memory. */
static int insert_body(store_db *db, const struct envelope *env, char *err, size_t errlen)
{
    size_t trace_len = env->trace ? strlen(env->trace) : 0;
    size_t size = envelope_size(env);
    bool kept;
    sqlite3_stmt *st = store_stmt(db, insert_body_sql, &kept);
    if (st == NULL)
        return fail(db, NULL, false, "insert body", err, errlen);
    bind_text(st, 1, env->id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
    if (sqlite3_step(st) != SQLITE_DONE)
        return fail(db, st, kept, "insert body", err, errlen);
    store_stmt_done(st, kept);

    sqlite3_blob *blob = NULL;
    if (sqlite3_blob_open(db, "main", "bodies", "data", sqlite3_last_insert_rowid(db), 1, &blob) !=
        SQLITE_OK)
        return fail(db, NULL, false, "open body blob", err, errlen);
    int rc = trace_len ? sqlite3_blob_write(blob, env->trace, (int)trace_len, 0) : SQLITE_OK;
    char buf[65536];
    size_t off = 0;
    while (rc == SQLITE_OK && env->body) {
        long n = spool_read(env->body, off, buf, sizeof buf);
        if (n < 0) {
            sqlite3_blob_close(blob);
            snprintf(err, errlen, "read spool: I/O error");
            return -1;
        }
        if (n == 0)
            break;
        rc = sqlite3_blob_write(blob, buf, (int)n, (int)(trace_len + off));
        off += (size_t)n;
    }
    if (sqlite3_blob_close(blob) != SQLITE_OK || rc != SQLITE_OK)
        return fail(db, NULL, false, "write body blob", err, errlen);
    return 0;
}

int envelope_store(store_db *db, const struct envelope *env, char *err, size_t errlen)
{
    if (insert_message(db, env, err, errlen) < 0 || insert_recipients(db, env, err, errlen) < 0 ||
        insert_body(db, env, err, errlen) < 0)
        return -1;
    return 0;
}
