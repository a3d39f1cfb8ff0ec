/* store/audit - the audit table: one row per admin action, and its log
 * line (see store/audit.h). */
#include "store/audit.h"

#include <stdio.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_sql.h"

int store_audit_add(store_db *db, time_t at, const char *admin, const char *action,
                    const char *selection, long count)
{
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO audit(at, admin, action, selection, count)"
                                         " VALUES(?1, ?2, ?3, substr(?4, 1, ?6), ?5)");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    sqlite3_bind_text(st, 2, admin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, selection ? selection : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, count);
    sqlite3_bind_int(st, 6, AUDIT_TEXT_MAX);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int audit_record(store_db *db, const char *admin, const char *action, const char *selection,
                 long count)
{
    log_info("event=admin_action admin=%s action=%s selection=%s count=%ld", log_quote(admin),
             action, log_quote(selection ? selection : ""), count);
    if (store_audit_add(db, time(NULL), admin, action, selection, count) == 0)
        return 0;
    log_warnx("event=store_error op=audit_add action=%s error=%s", action,
              log_quote(sqlite3_errmsg(db)));
    return -1;
}

json_t *store_audit_list(store_db *db, time_t since, unsigned limit)
{
    /* the newest LIMIT rows, shown oldest first */
    sqlite3_stmt *st = store_prepare(
        db, "SELECT id, at, admin, action, selection, count FROM"
            " (SELECT * FROM audit WHERE at >= ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id");
    json_t *out = json_array();
    if (st == NULL || out == NULL) {
        sqlite3_finalize(st);
        json_decref(out);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char at[32];
        json_t *row = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "id",
                                (json_int_t)sqlite3_column_int64(st, 0), "at",
                                iso8601_utc((time_t)sqlite3_column_int64(st, 1), at, sizeof at),
                                "admin", (const char *)sqlite3_column_text(st, 2), "action",
                                (const char *)sqlite3_column_text(st, 3), "selection",
                                (const char *)sqlite3_column_text(st, 4), "count",
                                (json_int_t)sqlite3_column_int64(st, 5));
        if (row == NULL || json_array_append_new(out, row) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(out);
        return NULL;
    }
    return out;
}
