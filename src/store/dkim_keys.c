/* store/dkim_keys - the dkim_keys table (see dkim_keys.h). */
#include "store/dkim_keys.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "store/store_sql.h"

/* dkim_failed - ERR says what could not be done with the table, and
 * why; -1. */
static int dkim_failed(store_db *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "cannot %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

int store_dkim_key_put(store_db *db, const char *domain, const char *selector,
                       const char *algorithm, const char *file, time_t created, char *err,
                       size_t errlen)
{
    static const char move[] =
        "INSERT OR REPLACE INTO dkim_retiring(domain, selector, algorithm, key_file, created,"
        " replaced) SELECT domain, selector, algorithm, key_file, created, ?3 FROM dkim_keys"
        " WHERE domain = ?1 AND selector <> ?2";
    static const char put[] = "INSERT OR REPLACE INTO dkim_keys(domain, selector, algorithm, "
                              "key_file, created) VALUES(?1, ?2, ?3, ?4, ?5)";
    if (store_savepoint(db, "dkim_put", err, errlen) < 0)
        return -1;
    const char *args[] = {domain, selector};
    int rc = store_exec_text(db, move, 2, args, (sqlite3_int64)created) < 0 ? -1 : 0;
    sqlite3_stmt *st = rc == 0 ? store_prepare(db, put) : NULL;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, selector, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, algorithm, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, file, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)created);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        /* A retiring key of this selector (made again) signs once more. */
        const char *del[] = {domain, selector};
        if (rc == 0 && store_exec_text(db,
                                       "DELETE FROM dkim_retiring WHERE domain = ?1"
                                       " AND selector = ?2",
                                       2, del, 0) < 0)
            rc = -1;
    }
    if (st == NULL || rc < 0) {
        dkim_failed(db, "record the key", err, errlen);
        rc = -1;
    }
    sqlite3_finalize(st);
    return store_savepoint_end(db, "dkim_put", rc == 0, err, errlen);
}

json_t *store_dkim_keys_list(store_db *db, const char *domain, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT domain, selector, algorithm, key_file, created, 'active' AS state,"
        " NULL AS replaced, 0 AS o FROM dkim_keys WHERE ?1 IS NULL OR domain = ?1"
        " UNION ALL SELECT domain, selector, algorithm, key_file, created, 'retiring',"
        " replaced, 1 FROM dkim_retiring WHERE ?1 IS NULL OR domain = ?1"
        " ORDER BY domain, o, created DESC, selector";
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL) {
        dkim_failed(db, "read the DKIM keys", err, errlen);
        return NULL;
    }
    if (domain != NULL)
        sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    json_t *rows = store_rows_json(db, st, NULL);
    if (rows == NULL) {
        snprintf(err, errlen, "cannot read the DKIM keys (details in the log)");
        return NULL;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_object_del(row, "o");
    return rows;
}

int store_dkim_key_retire(store_db *db, const char *domain, const char *selector, char *file,
                          size_t filelen, char *err, size_t errlen)
{
    static const char sql[] =
        "DELETE FROM dkim_retiring WHERE domain = ?1 AND selector = ?2 RETURNING key_file";
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return dkim_failed(db, "retire the key", err, errlen);
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, selector, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int found = 0;
    if (rc == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        found = f && str_copy(file, f, filelen) ? 1 : -1;
        if (found < 0)
            snprintf(err, errlen, "%s: damaged row in the dkim_retiring table", domain);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE && found >= 0)
        found = dkim_failed(db, "retire the key", err, errlen);
    sqlite3_finalize(st);
    return found;
}

int store_dkim_key_get(store_db *db, const char *domain, char *selector, size_t sellen,
                       char *algorithm, size_t alglen, char *file, size_t filelen, char *err,
                       size_t errlen)
{
    static const char sql[] = "SELECT selector, algorithm, key_file FROM dkim_keys "
                              "WHERE domain = ?1";
    bool kept;
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL) {
        snprintf(err, errlen, "cannot read the dkim_keys table: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *sel = (const char *)sqlite3_column_text(st, 0);
        const char *alg = (const char *)sqlite3_column_text(st, 1);
        const char *f = (const char *)sqlite3_column_text(st, 2);
        rc = sel && alg && f && str_copy(selector, sel, sellen) &&
                     str_copy(algorithm, alg, alglen) && str_copy(file, f, filelen)
                 ? 1
                 : -1;
        if (rc < 0)
            snprintf(err, errlen, "%s: damaged row in the dkim_keys table", domain);
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        snprintf(err, errlen, "cannot read the dkim_keys table: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    store_stmt_done(st, kept);
    return rc;
}
