/* store/ban_state - the bans table (room: queue, the store). */
#include "store/ban_state.h"

#include <stdio.h>

#include "store/store.h"
#include "store/store_sql.h"

#define HISTORY 86400 /* as policy/bans.c: how long an ended ban is remembered */

int ban_state_save(sqlite3 *db, const char *ip, time_t until, unsigned offenses, const char *reason,
                   const char *by)
{
    /* Each new ban also forgets the history no ban needs any more. */
    sqlite3_stmt *st = store_prepare(db, "DELETE FROM bans WHERE until < ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, time(NULL) - HISTORY);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    st = store_prepare(
        db, "INSERT INTO bans(ip, until, reason, offenses, created, created_by)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(ip) DO UPDATE SET until = ?2,"
            " reason = ?3, offenses = max(bans.offenses, ?4), created = ?5, created_by = ?6");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, until);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, (int)offenses);
    sqlite3_bind_int64(st, 5, time(NULL));
    sqlite3_bind_text(st, 6, by, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ban_state_save_job - the committer's side of a ban decided on the loop. */
int ban_state_save_job(sqlite3 *db, void *arg, char *err, size_t errlen)
{
    const struct ban_state_job *j = arg;
    if (ban_state_save(db, j->ip, j->until, j->offenses, j->reason, j->by) == 0)
        return 0;
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    return -1;
}

int ban_state_delete(sqlite3 *db, const char *ip)
{
    sqlite3_stmt *st = store_prepare(db, "DELETE FROM bans WHERE ip = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes(db) > 0 : -1;
}

json_t *ban_state_list(sqlite3 *db, time_t now, int all)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT ip, until, reason, offenses, created, created_by FROM bans"
                          " WHERE until > ?1 - CASE WHEN ?2 THEN ?3 ELSE 0 END ORDER BY until, ip");
    if (st == NULL)
        return NULL;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, all);
    sqlite3_bind_int(st, 3, HISTORY);
    return store_rows_json(db, st, NULL);
}
