/* queue/pause_state - pauses as rows of the meta table ("pause:WHAT"). */
#include "queue/pause_state.h"

#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "store/store_sql.h"

static void key_of(const char *what, char *buf, size_t len)
{
    snprintf(buf, len, "pause:%s", what);
}

int pause_set(store_db *db, const char *what, bool on)
{
    char key[300];
    key_of(what, key, sizeof key);
    sqlite3_stmt *st =
        store_prepare(db, on ? "INSERT OR REPLACE INTO meta(key, value) VALUES(?, '1')"
                             : "DELETE FROM meta WHERE key = ?");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

bool pause_get(store_db *db, const char *what)
{
    char key[300];
    key_of(what, key, sizeof key);
    sqlite3_stmt *st = store_prepare(db, "SELECT 1 FROM meta WHERE key = ?");
    if (st == NULL)
        return false;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    bool paused = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return paused;
}

json_t *pause_list(store_db *db)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT substr(key, 7) FROM meta WHERE key LIKE 'pause:%'"
                                         " ORDER BY key");
    json_t *arr = json_array();
    if (st == NULL || arr == NULL) {
        sqlite3_finalize(st);
        json_decref(arr);
        return NULL;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    return arr;
}
