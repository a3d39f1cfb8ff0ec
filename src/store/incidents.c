/* store/incidents - the incidents, incident_actions and saved_state
 * tables (room: store).  Evidence is kept as JSON text: it is written
 * once by the daemon and read whole by floodctl, never queried inside. */
#include "store/incidents.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_sql.h"

static const char *const states[] = {"open", "held", "contained", "released", "dismissed"};

bool incident_state_valid(const char *state)
{
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (state && strcmp(state, states[i]) == 0)
            return true;
    return false;
}

/* bind_json - V as compact JSON text at I, or '[]' for NULL. */
static int bind_json(sqlite3_stmt *st, int i, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    if (v && text == NULL)
        return -1;
    sqlite3_bind_text(st, i, text ? text : "[]", -1, SQLITE_TRANSIENT);
    free(text);
    return 0;
}

/* step_done - run ST to its end and finalize it; -1 on error. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* bind_fields - R's state, score, app password, counts and evidence as
 * ?3 to ?11 of ST, the same in the INSERT and the UPDATE; evidence R does
 * not carry is '[]', or left NULL when KEEP (the UPDATE keeps what the row
 * has).  -1 when memory runs out. */
static int bind_fields(sqlite3_stmt *st, const struct incident_row *r, bool keep)
{
    sqlite3_bind_text(st, 3, r->state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, (int)r->score);
    sqlite3_bind_text(st, 5, r->app_password, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, r->accepted);
    sqlite3_bind_int64(st, 7, r->held);
    sqlite3_bind_int64(st, 8, r->delivered);
    json_t *ev[] = {r->signals, r->ips, r->samples};
    for (int i = 0; i < 3; i++)
        if ((ev[i] || !keep) && bind_json(st, 9 + i, ev[i]) < 0)
            return -1;
    return 0;
}

int incident_insert(sqlite3 *db, struct incident_row *r)
{
    sqlite3_stmt *st = store_prepare(
        db, "INSERT INTO incidents(subject, opened, updated, state, score, app_password,"
            " accepted, held, delivered, signals, ips, samples)"
            " VALUES(?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, r->subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->opened);
    if (bind_fields(st, r, false) < 0) {
        sqlite3_finalize(st);
        return -1;
    }
    if (step_done(st) < 0)
        return -1;
    r->id = sqlite3_last_insert_rowid(db);
    return 0;
}

int incident_update(sqlite3 *db, const struct incident_row *r)
{
    sqlite3_stmt *st = store_prepare(
        db, "UPDATE incidents SET updated = ?2, state = ?3, score = max(score, ?4),"
            " app_password = coalesce(?5, app_password), accepted = max(accepted, ?6),"
            " held = max(held, ?7), delivered = max(delivered, ?8),"
            " signals = coalesce(?9, signals), ips = coalesce(?10, ips),"
            " samples = coalesce(?11, samples)"
            " WHERE id = ?1 AND state NOT IN ('released', 'dismissed')");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int64(st, 2, r->updated);
    if (bind_fields(st, r, true) < 0) {
        sqlite3_finalize(st);
        return -1;
    }
    if (step_done(st) < 0)
        return -1;
    return sqlite3_changes(db) > 0;
}

int incident_add_counts(sqlite3 *db, long long id, long long accepted, long long held,
                        long long delivered)
{
    sqlite3_stmt *st =
        store_prepare(db, "UPDATE incidents SET accepted = accepted + ?2, held = held + ?3,"
                          " delivered = delivered + ?4 WHERE id = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, accepted);
    sqlite3_bind_int64(st, 3, held);
    sqlite3_bind_int64(st, 4, delivered);
    return step_done(st);
}

int incident_action(sqlite3 *db, long long id, time_t at, const char *action, const char *detail,
                    const char *by)
{
    sqlite3_stmt *st = store_prepare(
        db,
        "INSERT INTO incident_actions(incident, at, action, detail, by) VALUES(?1,?2,?3,?4,?5)");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, by, -1, SQLITE_STATIC);
    return step_done(st);
}

int incident_close(sqlite3 *db, long long id, const char *state, const char *by, time_t now)
{
    sqlite3_stmt *st = store_prepare(
        db, "UPDATE incidents SET state = ?2, updated = ?3, closed = ?3, closed_by = ?4"
            " WHERE id = ?1 AND state NOT IN ('released', 'dismissed')");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_text(st, 4, by, -1, SQLITE_STATIC);
    if (step_done(st) < 0)
        return -1;
    return sqlite3_changes(db) > 0;
}

/* time_json - unix seconds in column I as "2026-12-06T14:00:00Z" (null
 * when NULL). */
static json_t *time_json(sqlite3_stmt *st, int i)
{
    char buf[32];
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_string(iso8601_utc((time_t)sqlite3_column_int64(st, i), buf, sizeof buf));
}

/* text_json - the JSON text in column I parsed ([] when unreadable). */
static json_t *text_json(sqlite3_stmt *st, int i)
{
    const char *text = (const char *)sqlite3_column_text(st, i);
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return v ? v : json_array();
}

#define INCIDENT_COLUMNS                                                                           \
    "id, subject, state, opened, updated, score, app_password, accepted, held, delivered,"         \
    " signals, ips, samples, closed, closed_by"

/* row_json - the incident in the current row of ST (INCIDENT_COLUMNS);
 * WHOLE adds the evidence. */
static json_t *row_json(sqlite3_stmt *st, bool whole)
{
    json_t *o = json_pack(
        "{s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:{s:I, s:I, s:I}}", "id",
        (json_int_t)sqlite3_column_int64(st, 0), "subject", store_column_json(st, 1), "state",
        store_column_json(st, 2), "opened", time_json(st, 3), "updated", time_json(st, 4), "score",
        (json_int_t)sqlite3_column_int64(st, 5), "app_password", store_column_json(st, 6), "counts",
        "accepted", (json_int_t)sqlite3_column_int64(st, 7), "held",
        (json_int_t)sqlite3_column_int64(st, 8), "delivered",
        (json_int_t)sqlite3_column_int64(st, 9));
    if (o == NULL || !whole)
        return o;
    json_object_set_new(o, "signals", text_json(st, 10));
    json_object_set_new(o, "ips", text_json(st, 11));
    json_object_set_new(o, "samples", text_json(st, 12));
    json_object_set_new(o, "closed", time_json(st, 13));
    json_object_set_new(o, "closed_by", store_column_json(st, 14));
    return o;
}

/* collect - every row of ST (bound, not stepped yet) made into JSON by
 * ROW, in an array; ST is finalized.  NULL on a store error. */
static json_t *collect(sqlite3_stmt *st, json_t *(*row)(sqlite3_stmt *st))
{
    json_t *arr = json_array();
    int rc = SQLITE_ERROR;
    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, row(st));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static json_t *list_row(sqlite3_stmt *st)
{
    return row_json(st, false);
}

json_t *incident_list(sqlite3 *db, bool all)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT " INCIDENT_COLUMNS " FROM incidents"
                          " WHERE ?1 OR state NOT IN ('released', 'dismissed') ORDER BY id DESC");
    if (st == NULL)
        return NULL;
    sqlite3_bind_int(st, 1, all);
    return collect(st, list_row);
}

static json_t *action_row(sqlite3_stmt *st)
{
    return json_pack("{s:o, s:o, s:o, s:o}", "at", time_json(st, 0), "action",
                     store_column_json(st, 1), "detail", store_column_json(st, 2), "by",
                     store_column_json(st, 3));
}

/* actions_json - [{at, action, detail, by}] of incident ID. */
static json_t *actions_json(sqlite3 *db, long long id)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT at, action, detail, by FROM incident_actions"
                                         " WHERE incident = ?1 ORDER BY at, rowid");
    if (st == NULL)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    return collect(st, action_row);
}

json_t *incident_get(sqlite3 *db, long long id, int *found)
{
    *found = 1;
    sqlite3_stmt *st =
        store_prepare(db, "SELECT " INCIDENT_COLUMNS " FROM incidents WHERE id = ?1");
    if (st == NULL)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    json_t *o = rc == SQLITE_ROW ? row_json(st, true) : NULL;
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        *found = 0;
    if (o == NULL)
        return NULL;
    json_t *actions = actions_json(db, id);
    if (actions == NULL) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "actions", actions);
    return o;
}

json_t *incident_open_subjects(sqlite3 *db)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT subject, id, state FROM incidents"
                          " WHERE state NOT IN ('released', 'dismissed') ORDER BY id");
    json_t *o = json_object();
    if (st == NULL || o == NULL) {
        sqlite3_finalize(st);
        json_decref(o);
        return NULL;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
                            json_pack("{s:I, s:o}", "id", (json_int_t)sqlite3_column_int64(st, 1),
                                      "state", store_column_json(st, 2)));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int saved_state_put(sqlite3 *db, const char *name, const void *data, size_t len, time_t now)
{
    sqlite3_stmt *st = store_prepare(
        db, "INSERT OR REPLACE INTO saved_state(name, data, saved) VALUES(?1, ?2, ?3)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 2, len ? data : "", len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    return step_done(st);
}

char *saved_state_get(sqlite3 *db, const char *name, size_t *len, time_t *saved)
{
    *len = 1;
    sqlite3_stmt *st = store_prepare(db, "SELECT data, saved FROM saved_state WHERE name = ?1");
    if (st == NULL)
        return NULL;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    char *out = NULL;
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        if ((out = malloc(n + 1)) != NULL) {
            memcpy(out, p ? p : "", n);
            out[n] = '\0';
            *len = n;
            if (saved)
                *saved = (time_t)sqlite3_column_int64(st, 1);
        }
    } else if (rc == SQLITE_DONE) {
        *len = 0;
    }
    sqlite3_finalize(st);
    return out;
}
