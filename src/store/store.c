/* store/store - open the SQLite store and keep its schema.
 *
 * Why these pragmas: journal_mode=WAL lets floodctl read while the daemon
 * writes; synchronous=FULL makes COMMIT wait for fsync of the WAL, which is
 * what allows the SMTP server to answer 250 after a commit and mean it. */
#include "store/store.h"
#include "store/store_sql.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/queue_counts.h"
#include "store/walbuf.h"

/* The schema.  Message bodies live apart from envelopes so that listing a
 * million-message queue never touches the blobs. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS domains("
    "  name TEXT PRIMARY KEY, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users("
    "  address TEXT PRIMARY KEY," /* lowercased local@domain */
    "  domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,"
    "  password TEXT NOT NULL," /* crypto_pwhash_str (argon2id) */
    "  created INTEGER NOT NULL,"
    "  suspended INTEGER NOT NULL DEFAULT 0,"
    "  password_changed INTEGER,"                    /* when the password was last set */
    "  password_expired INTEGER NOT NULL DEFAULT 0," /* the admin forced a change */
    "  locked_until INTEGER,"                        /* lockout after password guessing */
    "  totp_secret TEXT,"                            /* 2FA: hex secret (set at enrolment) */
    "  totp_enabled INTEGER NOT NULL DEFAULT 0,"     /* 1: only app passwords log in */
    "  limit_messages INTEGER,"                      /* per-user sending_limits; NULL = config */
    "  limit_recipients INTEGER,"
    "  limit_domains INTEGER,"
    "  bulk INTEGER NOT NULL DEFAULT 0);" /* a bulk sender: the detector relaxes volume */
    "CREATE TABLE IF NOT EXISTS app_passwords("
    "  id INTEGER PRIMARY KEY,"
    "  user TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,"
    "  label TEXT NOT NULL," /* the device it was made for */
    "  hash TEXT NOT NULL,"  /* crypto_pwhash_str */
    "  created INTEGER NOT NULL,"
    "  last_used INTEGER,"
    "  last_ip TEXT,"
    "  UNIQUE(user, label));"
    /* The passwords a user had before the current one (their hashes),
     * newest first by REPLACED: a new password may not repeat the last
     * ACCOUNTS_PASSWORD_HISTORY (the current one and these). */
    "CREATE TABLE IF NOT EXISTS password_history("
    "  user TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,"
    "  hash TEXT NOT NULL," /* crypto_pwhash_str */
    "  replaced INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS password_history_user ON password_history(user, replaced);"
    /* The networks (IPv4 /24, IPv6 /64 by default: lockout.ipv4_prefix)
     * an account logs in from: where it last succeeded, and where its
     * main password is locked after guessing (accounts/lockout.h). */
    "CREATE TABLE IF NOT EXISTS login_networks("
    "  user TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,"
    "  network TEXT NOT NULL," /* '127.0.9.0/24', '2001:db8::/64' */
    "  last_ok INTEGER,"       /* last successful login from it */
    "  locked_until INTEGER,"  /* main password locked from it until */
    "  locked_at INTEGER,"
    "  failures INTEGER," /* the failures that locked it */
    "  PRIMARY KEY(user, network));"
    "CREATE TABLE IF NOT EXISTS send_as(" /* explicit grants of sender addresses */
    "  user TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,"
    "  address TEXT NOT NULL," /* lowercased address, or '@domain' for all of it */
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY(user, address));"
    "CREATE TABLE IF NOT EXISTS bans("
    "  ip TEXT PRIMARY KEY,"    /* address or CIDR network */
    "  until INTEGER NOT NULL," /* unix seconds */
    "  reason TEXT NOT NULL,"
    "  offenses INTEGER NOT NULL DEFAULT 1," /* bans so far: the next one lasts longer */
    "  created INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL);" /* 'floodgated' or the admin's name */
    "CREATE TABLE IF NOT EXISTS aliases("
    "  address TEXT NOT NULL," /* lowercased, in a local domain */
    "  target TEXT NOT NULL,"  /* local or remote address */
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY(address, target));"
    "CREATE TABLE IF NOT EXISTS messages("
    "  id TEXT PRIMARY KEY,"
    "  created INTEGER NOT NULL," /* unix seconds */
    "  size INTEGER NOT NULL,"    /* octets of the stored body */
    "  sender TEXT NOT NULL,"     /* envelope MAIL FROM, '' for <> */
    "  auth_user TEXT,"           /* NULL when not authenticated */
    "  auth_app_password TEXT,"   /* label of the app password used, if one */
    "  client_ip TEXT NOT NULL,"
    "  client_port INTEGER NOT NULL,"
    "  helo TEXT,"
    "  tls TEXT," /* 'TLSv1.3 TLS_AES_256_GCM_SHA384' or NULL */
    "  listener TEXT NOT NULL,"
    "  header_from TEXT,"
    "  subject TEXT,"
    "  message_id TEXT,"
    "  warned INTEGER NOT NULL DEFAULT 0);" /* a delay warning went out */
    /* "queue list --auth-user X" pages in arrival order */
    "CREATE INDEX IF NOT EXISTS messages_auth_user ON messages(auth_user, created);"
    "CREATE INDEX IF NOT EXISTS messages_client_ip ON messages(client_ip);"
    "CREATE INDEX IF NOT EXISTS messages_created ON messages(created);"
    "CREATE TABLE IF NOT EXISTS bodies("
    "  message TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    "  data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS recipients("
    "  id INTEGER PRIMARY KEY,"
    "  message TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"  /* where it goes (after alias expansion) */
    "  domain TEXT NOT NULL,"   /* of address, lowercased: grouping and routing */
    "  orig TEXT NOT NULL,"     /* as given in RCPT TO */
    "  local INTEGER NOT NULL," /* 1: Maildir here, 0: remote */
    "  state TEXT NOT NULL,"    /* queued deferred held quarantined returning
                                   delivered bounced */
    "  next_try INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  updated INTEGER NOT NULL);"
    /* covering the "is anything pending" checks and the per-domain counts */
    "CREATE INDEX IF NOT EXISTS recipients_message ON recipients(message, state, domain);"
    /* The scheduler's "what is due next": partial, so that it walks
     * next_try in order and stops at its LIMIT instead of sorting every
     * pending recipient on each pass.  Its order is the scheduler's whole
     * cursor (next_try, message, id: the rowid ends every index), so no
     * pass sorts even the recipients due in the same second (the index
     * on (local, next_try) alone made SQLite build a temporary B-tree for
     * the rest of the ORDER BY on every pass, about a third of a pass). */
    "DROP INDEX IF EXISTS recipients_due;"
    "DROP INDEX IF EXISTS recipients_next_try;"
    "CREATE INDEX IF NOT EXISTS recipients_due_order ON recipients(local, next_try, message)"
    "  WHERE state IN ('queued','deferred');"
    /* recipients an admin returned, waiting for their DSN (usually none) */
    "CREATE INDEX IF NOT EXISTS recipients_returning ON recipients(next_try)"
    "  WHERE state = 'returning';"
    "CREATE TABLE IF NOT EXISTS dkim_keys("
    "  domain TEXT PRIMARY KEY," /* signing domain (d=) */
    "  selector TEXT NOT NULL,"  /* s= */
    "  algorithm TEXT NOT NULL," /* 'rsa' or 'ed25519' */
    "  key_file TEXT NOT NULL,"  /* PEM, mode 0600, relative to state_dir */
    "  created INTEGER NOT NULL);"
    /* Keys a rotation replaced: no longer signing, but their records stay
     * published (mail signed before may still be verified) until
     * 'floodctl dkim retire' removes them. */
    "CREATE TABLE IF NOT EXISTS dkim_retiring("
    "  domain TEXT NOT NULL,"
    "  selector TEXT NOT NULL,"
    "  algorithm TEXT NOT NULL,"
    "  key_file TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  replaced INTEGER NOT NULL," /* when the new key took over */
    "  PRIMARY KEY(domain, selector));"
    "CREATE TABLE IF NOT EXISTS sender_stats("
    "  auth_user TEXT PRIMARY KEY," /* bounces charged to the account that sent */
    "  bounces INTEGER NOT NULL DEFAULT 0,"
    "  last_bounce INTEGER);"
    "CREATE TABLE IF NOT EXISTS quarantine("
    "  message TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    "  reason TEXT,"
    "  quarantined_at INTEGER NOT NULL,"
    "  quarantined_by TEXT,"
    "  released_at INTEGER," /* NULL while in quarantine */
    "  released_by TEXT,"
    "  file_missing INTEGER);" /* when store check found no .eml */
    /* Incidents of the outbreak detector (store/incidents.c): the
     * evidence as JSON text, written once at opening and updated as the
     * ladder climbs; each action taken is a row of its own. */
    "CREATE TABLE IF NOT EXISTS incidents("
    "  id INTEGER PRIMARY KEY,"
    "  subject TEXT NOT NULL,"   /* account, or 'ip:ADDR' */
    "  opened INTEGER NOT NULL," /* unix seconds */
    "  updated INTEGER NOT NULL,"
    "  state TEXT NOT NULL," /* open held contained released dismissed */
    "  score INTEGER NOT NULL,"
    "  app_password TEXT,"                   /* label of the app password used, if one */
    "  accepted INTEGER NOT NULL DEFAULT 0," /* messages accepted in the window */
    "  held INTEGER NOT NULL DEFAULT 0,"
    "  delivered INTEGER NOT NULL DEFAULT 0," /* recipients delivered before containment */
    "  signals TEXT NOT NULL DEFAULT '[]',"
    "  ips TEXT NOT NULL DEFAULT '[]',"
    "  samples TEXT NOT NULL DEFAULT '[]',"
    "  closed INTEGER,"
    "  closed_by TEXT);"
    "CREATE INDEX IF NOT EXISTS incidents_subject ON incidents(subject, state);"
    "CREATE TABLE IF NOT EXISTS incident_actions("
    "  incident INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
    "  at INTEGER NOT NULL,"
    "  action TEXT NOT NULL," /* alert hold suspend revoke_app_password ban kill_sessions
                                 quarantine release unsuspend unban dismiss */
    "  detail TEXT,"
    "  by TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS incident_actions_incident ON incident_actions(incident, at);"
    /* In-memory state saved now and then and at shutdown (the hourly
     * sending counters, the detector's windows and baselines), so that
     * a restart does not hand a spammer a fresh hour. */
    "CREATE TABLE IF NOT EXISTS saved_state("
    "  name TEXT PRIMARY KEY,"
    "  data BLOB NOT NULL,"
    "  saved INTEGER NOT NULL);"
    /* The web admin's administrators (control/web_admin.c): a password
     * (argon2id) and a TOTP secret (hex), both mandatory. */
    "CREATE TABLE IF NOT EXISTS admins("
    "  name TEXT PRIMARY KEY,"
    "  password TEXT NOT NULL,"
    "  totp_secret TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  last_login INTEGER);"
    /* who did what: floodctl, the web pages, the API (store/audit.h) */
    "CREATE TABLE IF NOT EXISTS audit("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL," /* unix seconds, UTC */
    "  admin TEXT NOT NULL,"
    "  action TEXT NOT NULL,"    /* "queue.hold", "ban.add", "user.suspend", ... */
    "  selection TEXT NOT NULL," /* what it was applied to */
    "  count INTEGER NOT NULL);" /* how many things it changed */
    "CREATE INDEX IF NOT EXISTS audit_at ON audit(at);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');";

/* Columns added after a table was first released: a store made by an older
 * build gains them on open (CREATE TABLE IF NOT EXISTS leaves it alone). */
static const struct {
    const char *table, *column, *decl;
} added_columns[] = {
    {"messages", "auth_app_password", "TEXT"},
    {"users", "password_changed", "INTEGER"},
    {"users", "password_expired", "INTEGER NOT NULL DEFAULT 0"},
    {"users", "locked_until", "INTEGER"},
    {"users", "totp_secret", "TEXT"},
    {"users", "totp_enabled", "INTEGER NOT NULL DEFAULT 0"},
    {"users", "limit_messages", "INTEGER"},
    {"users", "limit_recipients", "INTEGER"},
    {"users", "limit_domains", "INTEGER"},
    {"users", "bulk", "INTEGER NOT NULL DEFAULT 0"},
    {"quarantine", "file_missing", "INTEGER"},
};

/* has_column - does TABLE have COLUMN?  -1 on a store error. */
static int has_column(sqlite3 *db, const char *table, const char *column)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int add_missing_columns(sqlite3 *db, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof added_columns / sizeof added_columns[0]; i++) {
        int has = has_column(db, added_columns[i].table, added_columns[i].column);
        if (has < 0) {
            snprintf(err, errlen, "%s", sqlite3_errmsg(db));
            return -1;
        }
        char sql[256];
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", added_columns[i].table,
                 added_columns[i].column, added_columns[i].decl);
        if (!has && store_exec(db, sql, err, errlen) < 0)
            return -1;
    }
    return 0;
}

char *store_path(const char *state_dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", state_dir, STORE_FILE);
    return buf;
}

int store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

int store_savepoint(sqlite3 *db, const char *name, char *err, size_t errlen)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SAVEPOINT %s", name);
    return store_exec(db, sql, err, errlen);
}

int store_savepoint_end(sqlite3 *db, const char *name, bool ok, char *err, size_t errlen)
{
    char sql[128], ignored[128];
    if (!ok) {
        snprintf(sql, sizeof sql, "ROLLBACK TO %s", name);
        store_exec(db, sql, ignored, sizeof ignored);
    }
    snprintf(sql, sizeof sql, "RELEASE %s", name);
    if (store_exec(db, sql, ok ? err : ignored, ok ? errlen : sizeof ignored) < 0)
        return -1;
    return ok ? 0 : -1;
}

int store_begin(sqlite3 *db, bool immediate, char *err, size_t errlen)
{
    return store_exec(db, immediate ? "BEGIN IMMEDIATE" : "BEGIN", err, errlen);
}

int store_commit(sqlite3 *db, char *err, size_t errlen)
{
    return store_exec(db, "COMMIT", err, errlen);
}

void store_rollback(sqlite3 *db)
{
    char ignored[128];
    store_exec(db, "ROLLBACK", ignored, sizeof ignored);
}

bool store_read_begin(sqlite3 *db)
{
    char ignored[128];
    return sqlite3_get_autocommit(db) && store_exec(db, "BEGIN", ignored, sizeof ignored) == 0;
}

sqlite3_stmt *store_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_warnx("event=store_error op=prepare error=%s", log_quote(sqlite3_errmsg(db)));
        return NULL;
    }
    return st;
}

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

static bool setup_done;

static void sqlite_setup(void)
{
    /* SQLITE_MISUSE once SQLite has started: a call of ours came first */
    setup_done = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
}

bool store_sqlite_setup(void)
{
    pthread_once(&setup_once, sqlite_setup);
    return setup_done;
}

/* Set on the event-loop thread once it serves (store_deny_thread). */
static _Thread_local bool thread_denied;

void store_deny_thread(void)
{
    thread_denied = true;
}

void store_allow_thread(void)
{
    thread_denied = false;
}

/* on_statement - SQLite's trace hook, called as each statement starts on
 * DB: one that starts on a denied thread is a design fault (the loop
 * would wait on the disk and on the committer's locks), named in the log
 * by the first words of its SQL. */
static int on_statement(unsigned what, void *ctx, void *p, void *x)
{
    if (!thread_denied || what != SQLITE_TRACE_STMT)
        return 0;
    const char *sql = x ? (const char *)x : sqlite3_sql(p);
    char head[48];
    snprintf(head, sizeof head, "%s", sql ? sql : "");
    for (char *c = head; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    log_warnx("event=store_on_loop sql=%s", log_quote(head));
#ifdef FLOODGATE_STORE_ON_LOOP_ABORT
    abort();
#endif
    return 0;
}

/* store_connect - open PATH through the SQLite VFS named VFS (NULL: the
 * default) with the pragmas every connection needs; the schema too when
 * SCHEMA (its INSERT OR IGNORE takes the write lock: a thread's reader
 * connection, opened after the daemon's own open made the schema, must not
 * wait on a writer to exist). */
static sqlite3 *store_connect(const char *path, bool schema, const char *vfs, char *err,
                              size_t errlen)
{
    sqlite3 *db = NULL;
    store_sqlite_setup();
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open store: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, on_statement, NULL);
    char why[256];
    if (store_exec(db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                   "PRAGMA foreign_keys=ON;",
                   why, sizeof why) < 0 ||
        (schema && (store_exec(db, schema_sql, why, sizeof why) < 0 ||
                    add_missing_columns(db, why, sizeof why) < 0 ||
                    store_queue_counts_ready(db, why, sizeof why) < 0))) {
        snprintf(err, errlen, "%s: cannot prepare store: %s", path, why);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

sqlite3 *store_open(const char *path, char *err, size_t errlen)
{
    return store_connect(path, true, NULL, err, errlen);
}

sqlite3 *store_open_writer(const char *path, char *err, size_t errlen)
{
    const char *vfs = walbuf_vfs();
    if (vfs == NULL)
        log_warnx("event=store_error op=walbuf error=%s",
                  log_quote("cannot register the WAL write buffer; writing unbuffered"));
    sqlite3 *db = store_connect(path, true, vfs, err, errlen);
    /* only now: the connection runs synchronous=FULL (store_connect) */
    if (db != NULL && vfs != NULL && !walbuf_arm(db))
        log_warnx("event=store_error op=walbuf error=%s",
                  log_quote("the WAL write buffer refused the connection; writing unbuffered"));
    return db;
}

/* Prepared statements kept per connection for the statements run once per
 * message (the committer's inserts, bulk actions): preparing costs more
 * than running them.  Keyed by the address of the SQL text (a string
 * literal).  A connection is used by one thread at a time, so only the
 * table itself needs the lock. */
#define STMT_CACHE_MAX 128
static struct {
    sqlite3 *db;
    const char *sql;
    sqlite3_stmt *st;
} stmt_cache[STMT_CACHE_MAX];
static pthread_mutex_t stmt_cache_lock = PTHREAD_MUTEX_INITIALIZER;

sqlite3_stmt *store_stmt(sqlite3 *db, const char *sql, bool *kept)
{
    size_t free_slot = STMT_CACHE_MAX;
    *kept = true;
    pthread_mutex_lock(&stmt_cache_lock);
    for (size_t i = 0; i < STMT_CACHE_MAX; i++) {
        if (stmt_cache[i].db == db && stmt_cache[i].sql == sql) {
            sqlite3_stmt *st = stmt_cache[i].st;
            pthread_mutex_unlock(&stmt_cache_lock);
            return st;
        }
        if (stmt_cache[i].db == NULL && free_slot == STMT_CACHE_MAX)
            free_slot = i;
    }
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st && free_slot < STMT_CACHE_MAX) {
        stmt_cache[free_slot].db = db;
        stmt_cache[free_slot].sql = sql;
        stmt_cache[free_slot].st = st;
    } else {
        *kept = false;
    }
    pthread_mutex_unlock(&stmt_cache_lock);
    return st;
}

void store_stmt_done(sqlite3_stmt *st, bool kept)
{
    if (kept) {
        sqlite3_reset(st); /* ends its read: a kept statement must not pin a snapshot */
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
}

int store_run(sqlite3 *db, const char *sql, const char *qid, const char *a, const char *b)
{
    bool kept;
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, time(NULL));
    sqlite3_bind_text(st, 3, a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    store_stmt_done(st, kept);
    return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

void store_close(sqlite3 *db)
{
    pthread_mutex_lock(&stmt_cache_lock);
    for (size_t i = 0; i < STMT_CACHE_MAX; i++)
        if (stmt_cache[i].db == db) {
            sqlite3_finalize(stmt_cache[i].st);
            stmt_cache[i].db = NULL;
            stmt_cache[i].sql = NULL;
            stmt_cache[i].st = NULL;
        }
    pthread_mutex_unlock(&stmt_cache_lock);
    sqlite3_close(db);
}

static pthread_key_t thread_db_key;
static pthread_once_t thread_db_once = PTHREAD_ONCE_INIT;

static void thread_db_close(void *db)
{
    store_close(db);
}

static void thread_db_init(void)
{
    pthread_key_create(&thread_db_key, thread_db_close);
}

sqlite3 *store_thread_db(const char *path)
{
    pthread_once(&thread_db_once, thread_db_init);
    sqlite3 *db = pthread_getspecific(thread_db_key);
    char err[256];
    if (db == NULL) {
        /* the daemon's start-up open made the schema */
        if ((db = store_connect(path, false, NULL, err, sizeof err)) == NULL)
            log_warnx("event=store_error op=open error=%s", log_quote(err));
        else
            pthread_setspecific(thread_db_key, db);
    }
    return db;
}

int store_body_open(sqlite3 *db, const char *qid, sqlite3_blob **blob)
{
    static const char sql[] = "SELECT rowid FROM bodies WHERE message = ?";
    bool kept;
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    sqlite3_int64 rowid = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        rowid = sqlite3_column_int64(st, 0);
    store_stmt_done(st, kept);
    if (rowid < 0 || sqlite3_blob_open(db, "main", "bodies", "data", rowid, 0, blob) != SQLITE_OK)
        return -1;
    return 0;
}

json_t *store_column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_NULL:
        return json_null();
    default:
        return json_string((const char *)sqlite3_column_text(st, i));
    }
}

const char *store_filename(sqlite3 *db)
{
    return sqlite3_db_filename(db, "main");
}

const char *store_errmsg(sqlite3 *db)
{
    return sqlite3_errmsg(db);
}
