/* store/admins - the admins table (see store/admins.h).
 *
 * Room: store.  Plain statements, prepared per call: an admin logs in a
 * few times a day, the cache of store_stmt is for the hot paths. */
#include "store/admins.h"

#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_sql.h"

/* store_admins_insert - INSERT one row; a duplicate name is -2. */
int store_admins_insert(sqlite3 *db, const char *name, const char *hash, const char *totp_hex,
                        long long now)
{
    const char *args[] = {name, hash, totp_hex};
    int n = store_exec_text(db,
                            "INSERT INTO admins(name, password, totp_secret, created)"
                            " VALUES(?1, ?2, ?3, ?4)",
                            3, args, now);
    if (n == -1)
        log_warnx("event=store_error op=admin_add error=%s", log_quote(sqlite3_errmsg(db)));
    return n < 0 ? n : 0;
}

/* store_admins_delete - DELETE the row of NAME. */
int store_admins_delete(sqlite3 *db, const char *name)
{
    const char *args[] = {name};
    int n = store_exec_text(db, "DELETE FROM admins WHERE name = ?1", 1, args, 0);
    return n < 0 ? -1 : n > 0;
}

/* store_admins_read - the secrets of NAME. */
int store_admins_read(sqlite3 *db, const char *name, char *hash, size_t hashlen, char *totp_hex,
                      size_t hexlen)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT password, totp_secret FROM admins WHERE name = ?1");
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        const char *t = (const char *)sqlite3_column_text(st, 1);
        /* a value that does not fit is corrupt: refusing is the safe answer */
        if (h == NULL || t == NULL || !str_copy(hash, h, hashlen) ||
            !str_copy(totp_hex, t, hexlen)) {
            log_warnx("event=store_error op=admin_read admin=%s error=bad_row", log_quote(name));
            found = -1;
        }
    } else if (found < 0) {
        log_warnx("event=store_error op=admin_read error=%s", log_quote(sqlite3_errmsg(db)));
    }
    sqlite3_finalize(st);
    return found;
}

/* store_admins_logged_in - last_login of NAME = WHEN. */
int store_admins_logged_in(sqlite3 *db, const char *name, long long when)
{
    const char *args[] = {name};
    return store_exec_text(db, "UPDATE admins SET last_login = ?2 WHERE name = ?1", 1, args, when) <
                   0
               ? -1
               : 0;
}

/* store_admins_list - every administrator, by name. */
json_t *store_admins_list(sqlite3 *db)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT name, created, last_login FROM admins ORDER BY name");
    return st ? store_rows_json(db, st, NULL) : NULL;
}
