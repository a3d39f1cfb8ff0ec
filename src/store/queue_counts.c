/* store/queue_counts - the queue counted by state, kept by triggers.
 *
 * Room: store.  Why triggers and not counters in the committer: every
 * writer of recipients keeps the counts in its own transaction - the
 * committer, floodctl acting on a stopped daemon, a test or a benchmark
 * writing rows - so no path can forget one, and what survives a crash
 * is the rows and their counts together.  Each trigger costs a few index
 * probes on recipients_message(message, state, ...) per recipient
 * changed; counting the queue on each /metrics scrape cost a full scan
 * (0.7 s at 1,000,000 messages).
 *
 * A message counts once in a state however many of its recipients are in
 * it: when a recipient enters a state, the message is new there if no
 * other recipient of it is; when one leaves, the message leaves if none
 * is left.  SQLite runs a FOR EACH ROW trigger as each row changes, so
 * an UPDATE of several recipients of one message sees the ones not yet
 * changed; a message deleted cascades to its recipients, whose DELETE
 * trigger runs for each. */
#include "store/queue_counts.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "store/store_sql.h"

/* Bump when the table or a trigger changes: an older store is recounted
 * once on open (meta key queue_counts). */
#define COUNTS_VERSION "2"

#define P STORE_PENDING_STATES
#define PENDING_NEW STORE_PENDING_EXPR("new.state")
#define PENDING_OLD STORE_PENDING_EXPR("old.state")
#define PENDING_ROW "'" STORE_COUNTS_PENDING "'"

/* The triggers read as SQL. */
/* clang-format off */

/* The recipient NEW entered its state: the message is new there unless
 * another recipient of it already is (NEW's own row is in place when an
 * AFTER trigger runs). */
#define ENTER                                                                                      \
    "INSERT INTO queue_counts(state, recipients, messages)"                                        \
    "  VALUES(new.state, 1, NOT EXISTS (SELECT 1 FROM recipients"                                  \
    "    WHERE message = new.message AND state = new.state AND id <> new.id))"                     \
    "  ON CONFLICT(state) DO UPDATE SET recipients = recipients + 1,"                              \
    "    messages = messages + excluded.messages;"

/* ... and the pending states together, when WHEN holds */
#define ENTER_PENDING(when)                                                                        \
    "UPDATE queue_counts SET recipients = recipients + 1,"                                         \
    "  messages = messages + NOT EXISTS (SELECT 1 FROM recipients"                                 \
    "    WHERE message = new.message AND id <> new.id AND " STORE_PENDING_EXPR("state") ")"                       \
    "  WHERE state = " PENDING_ROW " AND " when ";"

/* The recipient OLD left its state: so did the message if no recipient
 * of it is left there. */
#define LEAVE                                                                                      \
    "UPDATE queue_counts SET recipients = recipients - 1,"                                         \
    "  messages = messages - NOT EXISTS (SELECT 1 FROM recipients"                                 \
    "    WHERE message = old.message AND state = old.state)"                                       \
    "  WHERE state = old.state;"

#define LEAVE_PENDING(when)                                                                        \
    "UPDATE queue_counts SET recipients = recipients - 1,"                                         \
    "  messages = messages - NOT EXISTS (SELECT 1 FROM recipients"                                 \
    "    WHERE message = old.message AND " STORE_PENDING_EXPR("state") ")"                                        \
    "  WHERE state = " PENDING_ROW " AND " when ";"

/* The full count, as rows of (state, recipients, messages). */
#define FULL_COUNT                                                                                 \
    "SELECT state, count(*), count(DISTINCT message) FROM recipients"                              \
    "  GROUP BY state"                                                                             \
    " UNION ALL SELECT " PENDING_ROW ", count(*), count(DISTINCT message)"                         \
    "  FROM recipients WHERE state IN (" P ")"

static const char drop_sql[] = "DROP TRIGGER IF EXISTS queue_counts_insert;"
                               "DROP TRIGGER IF EXISTS queue_counts_update;"
                               "DROP TRIGGER IF EXISTS queue_counts_delete;"
                               "DROP TABLE IF EXISTS queue_counts;";

static const char create_sql[] =
    "CREATE TABLE queue_counts("
    "  state TEXT PRIMARY KEY,"         /* a recipient state, or *pending */
    "  recipients INTEGER NOT NULL,"
    "  messages INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER queue_counts_insert AFTER INSERT ON recipients BEGIN "
    ENTER
    ENTER_PENDING(PENDING_NEW)
    " END;"
    "CREATE TRIGGER queue_counts_update AFTER UPDATE OF state ON recipients"
    "  WHEN old.state IS NOT new.state BEGIN "
    LEAVE
    ENTER
    LEAVE_PENDING(PENDING_OLD " AND NOT " PENDING_NEW)
    ENTER_PENDING(PENDING_NEW " AND NOT " PENDING_OLD)
    " END;"
    "CREATE TRIGGER queue_counts_delete AFTER DELETE ON recipients BEGIN "
    LEAVE
    LEAVE_PENDING(PENDING_OLD)
    " END;"
    "INSERT INTO queue_counts(state, recipients, messages) " FULL_COUNT ";"
    "INSERT OR REPLACE INTO meta(key, value) VALUES('queue_counts', '" COUNTS_VERSION "');";

/* clang-format on */

/* counts_version_current - does DB's meta say the counts are this
 * version's?  -1 on a store error. */
static int counts_version_current(sqlite3 *db)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT value = '" COUNTS_VERSION
                                         "' FROM meta WHERE key = 'queue_counts'");
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    int current = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? current : -1;
}

/* counted - the recipients the kept counts hold, all states. */
static long long counted(sqlite3 *db)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT total(recipients) FROM queue_counts"
                                         " WHERE state <> '" STORE_COUNTS_PENDING "'");
    long long n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

/* rebuild - inside BEGIN IMMEDIATE: the table and triggers made again
 * from a full count (unless ONLY_OLD and another connection made this
 * version meanwhile).  The recipients counted, or -1 with ERR. */
static long long rebuild(sqlite3 *db, bool only_old, char *err, size_t errlen)
{
    if (store_begin(db, true, err, errlen) < 0)
        return -1;
    int current = only_old ? counts_version_current(db) : 0;
    long long n = 0;
    if (current < 0)
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    else if (current == 0 && (store_exec(db, drop_sql, err, errlen) < 0 ||
                              store_exec(db, create_sql, err, errlen) < 0))
        current = -1;
    else if ((n = counted(db)) < 0) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        current = -1;
    }
    if (current < 0 || store_commit(db, err, errlen) < 0) {
        store_rollback(db);
        return -1;
    }
    return n;
}

int store_queue_counts_ready(sqlite3 *db, char *err, size_t errlen)
{
    int current = counts_version_current(db);
    if (current < 0) {
        snprintf(err, errlen, "queue counts: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (current)
        return 0;
    /* a store made before the counts (or by an older version of them):
     * one full count, once */
    char why[256];
    long long n = rebuild(db, true, why, sizeof why);
    if (n < 0) {
        snprintf(err, errlen, "queue counts: %s", why);
        return -1;
    }
    log_info("event=store_queue_counts action=made recipients=%lld", n);
    return 0;
}

long long store_queue_counts_rebuild(sqlite3 *db, char *err, size_t errlen)
{
    return rebuild(db, false, err, errlen);
}

/* Each state where the kept and the full counts differ. */
static const char check_sql[] =
    "WITH full(state, recipients, messages) AS (" FULL_COUNT ")"
    " SELECT state, sum(kr), sum(fr), sum(km), sum(fm) FROM ("
    "  SELECT state, recipients AS kr, 0 AS fr, messages AS km, 0 AS fm FROM queue_counts"
    "  UNION ALL SELECT state, 0, recipients, 0, messages FROM full)"
    " GROUP BY state HAVING sum(kr) <> sum(fr) OR sum(km) <> sum(fm) ORDER BY state";

json_t *store_queue_counts_check(sqlite3 *db)
{
    sqlite3_stmt *st = store_prepare(db, check_sql);
    json_t *out = json_array();
    int rc = st && out ? SQLITE_OK : SQLITE_NOMEM;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *d = json_pack("{s:s, s:I, s:I, s:I, s:I}", "state",
                              (const char *)sqlite3_column_text(st, 0), "recipients_kept",
                              (json_int_t)sqlite3_column_int64(st, 1), "recipients_counted",
                              (json_int_t)sqlite3_column_int64(st, 2), "messages_kept",
                              (json_int_t)sqlite3_column_int64(st, 3), "messages_counted",
                              (json_int_t)sqlite3_column_int64(st, 4));
        rc = d && json_array_append_new(out, d) == 0 ? SQLITE_OK : SQLITE_NOMEM;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_warnx("event=store_error op=queue_counts_check error=%s",
                  log_quote(rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db)));
        json_decref(out);
        return NULL;
    }
    return out;
}
