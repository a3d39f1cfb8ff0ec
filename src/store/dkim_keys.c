/* store/dkim_keys - the dkim_keys table (see dkim_keys.h). */
#include "store/dkim_keys.h"

#include <stdio.h>

#include "core/util.h"
#include "store/store_sql.h"

int store_dkim_key_put(store_db *db, const char *domain, const char *selector,
                       const char *algorithm, const char *file, time_t created, char *err,
                       size_t errlen)
{
    static const char sql[] = "INSERT OR REPLACE INTO dkim_keys(domain, selector, algorithm, "
                              "key_file, created) VALUES(?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL) {
        snprintf(err, errlen, "cannot record the key: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, selector, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, algorithm, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)created);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "cannot record the key: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
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
