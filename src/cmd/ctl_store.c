/* cmd/ctl_store - floodctl store: check, backup, init.
 *
 * Room: cmd.  "check" asks the store for its integrity, sweeps the
 * Maildirs' tmp/ as the Maildir convention says, and compares the
 * quarantine files with the quarantine records and the kept queue counts
 * with a full count; "--repair" fixes what can be fixed without losing
 * anything: an orphan file is re-indexed or moved to lost+found, never
 * deleted, a record whose file is gone is marked, the counts are counted
 * again.
 * "backup" is SQLite's online backup (consistent while floodgated runs);
 * "init" makes a new store, with --force moving a lost or broken one aside
 * - the one way out of a refused start besides a restore. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/ctl.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "delivery/maildir.h"
#include "queue/quarantine_files.h"
#include "store/store.h"
#include "store/queue_counts.h"
#include "store/store_check.h"

#define TMP_MAX_AGE (36 * 3600) /* the Maildir convention: tmp/ files older are junk */
#define INTEGRITY_MAX 100       /* problems listed */

const char usage_store[] = "  floodctl store check [--repair] [--json]\n"
                           "  floodctl store backup FILE [--json]\n"
                           "  floodctl store init [--force] [--json]\n";

/* daemon_running - 1 when floodgated answers on its control socket, 0 when
 * nothing listens, -1 on another failure (printed). */
static int daemon_running(struct ctl *c)
{
    int not_running;
    json_t *r = ctl_call(c, json_pack("{s:s}", "cmd", "status"), &not_running);
    json_decref(r);
    return r ? 1 : not_running ? 0 : -1;
}

/* ---------------------------------------------------------------- check */

/* What one run of store check found and did. */
struct check {
    struct ctl *c;
    store_db *db;
    bool repair;
    json_t *swept;             /* paths of Maildir tmp files removed */
    json_t *orphans;           /* quarantine files without their record */
    json_t *missing;           /* quarantine records without their file */
    size_t files;              /* quarantine files seen */
    json_t *counts;            /* states whose kept queue counts differ from a count */
    const char *counts_action; /* "rebuilt", "error" or NULL */
    int errors;
};

/* swept - remember a tmp/ file the sweep removed. */
static void swept(const char *path, void *arg)
{
    struct check *k = arg;
    json_array_append_new(k->swept, json_string(path));
}

/* orphan_action - repair the orphan file QID: re-index it when its
 * message is still quarantined, else move it to lost+found.  Its action
 * word; the new place into TO. */
static const char *orphan_action(struct check *k, const char *qid, enum store_quarantine_entry e,
                                 char *to, size_t tolen)
{
    if (e == STORE_Q_UNINDEXED)
        return store_quarantine_reindex(k->db, qid) == 0 ? "reindexed" : "error";
    if (quarantine_file_set_aside(k->c->cfg->state_dir, qid, to, tolen) < 0) {
        snprintf(to, tolen, "%s", strerror(errno));
        return "error";
    }
    return "moved";
}

/* check_file - one quarantine file: is the store's record there? */
static int check_file(const char *qid, const char *path, void *arg)
{
    struct check *k = arg;
    static const char *const why[] = {"", "no quarantine record",
                                      "the message is no longer quarantined",
                                      "no such message in the store"};
    char to[4400] = "";
    k->files++;
    enum store_quarantine_entry e = store_quarantine_entry(k->db, qid);
    if (e == STORE_Q_ERROR)
        return -1;
    if (e == STORE_Q_INDEXED)
        return 0;
    const char *action = k->repair ? orphan_action(k, qid, e, to, sizeof to) : "reported";
    k->errors += strcmp(action, "error") == 0 || !k->repair;
    if (strcmp(action, "moved") == 0)
        log_info("event=store_check qid=%s file=%s action=moved to=%s", qid, log_quote(path),
                 log_quote(to));
    else if (strcmp(action, "reindexed") == 0)
        log_info("event=store_check qid=%s file=%s action=reindexed", qid, log_quote(path));
    bool moved = strcmp(action, "moved") == 0, failed = strcmp(action, "error") == 0;
    return json_array_append_new(k->orphans,
                                 json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "id", qid, "file",
                                           path, "why", why[e], "action", action, "moved_to",
                                           moved ? to : NULL, "error", failed && *to ? to : NULL));
}

/* check_missing - the quarantine records whose message has neither a body
 * in the store nor a file: reported, and marked with --repair. */
static int check_missing(struct check *k)
{
    size_t n;
    bool *marked;
    char(*ids)[17] = store_quarantined_without_body(k->db, &n, &marked);
    if (n == (size_t)-1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (quarantine_file_exists(k->c->cfg->state_dir, ids[i]))
            continue;
        const char *action = marked[i] ? "marked" : "reported";
        if (!marked[i] && k->repair) {
            action = store_quarantine_mark_missing(k->db, ids[i]) == 0 ? "marked" : "error";
            if (strcmp(action, "marked") == 0)
                log_warnx("event=store_check qid=%s action=marked error=%s", ids[i],
                          log_quote("quarantine file missing"));
        }
        k->errors += strcmp(action, "marked") != 0;
        json_array_append_new(k->missing, json_pack("{s:s, s:s}", "id", ids[i], "action", action));
    }
    free(ids);
    free(marked);
    return 0;
}

/* check_counts - the queue counts kept by the store against a full count
 * (they only differ after a bug or a hand-edited store); with --repair
 * they are counted again.  -1 when they cannot be read. */
static int check_counts(struct check *k)
{
    char err[512];
    k->counts = store_queue_counts_check(k->db);
    if (k->counts == NULL)
        return -1;
    if (json_array_size(k->counts) == 0)
        return 0;
    k->errors++;
    if (!k->repair)
        return 0;
    long long n = store_queue_counts_rebuild(k->db, err, sizeof err);
    k->counts_action = n < 0 ? "error" : "rebuilt";
    if (n < 0)
        log_warnx("event=store_check what=queue_counts action=error error=%s", log_quote(err));
    else
        log_info("event=store_check what=queue_counts action=rebuilt recipients=%lld", n);
    return 0;
}

/* check_print_counts - the states whose kept counts were wrong. */
static void check_print_counts(struct check *k)
{
    json_t *v;
    size_t i;
    if (json_array_size(k->counts) == 0) {
        puts("queue counts: exact");
        return;
    }
    printf("queue counts: %zu states differ from a full count%s%s\n", json_array_size(k->counts),
           k->counts_action ? ": " : "", k->counts_action ? k->counts_action : "");
    json_array_foreach(k->counts, i, v) printf(
        "  %s: %lld recipients kept, %lld counted; %lld messages kept, %lld counted\n",
        str_of(v, "state"), (long long)json_integer_value(json_object_get(v, "recipients_kept")),
        (long long)json_integer_value(json_object_get(v, "recipients_counted")),
        (long long)json_integer_value(json_object_get(v, "messages_kept")),
        (long long)json_integer_value(json_object_get(v, "messages_counted")));
}

/* check_print - the report of store check for a reader. */
static void check_print(struct check *k, json_t *integrity)
{
    json_t *v;
    size_t i;
    if (json_array_size(integrity) == 0)
        printf("store %s: integrity ok\n", k->c->store_file);
    else
        printf("store %s: %zu integrity problems:\n", k->c->store_file, json_array_size(integrity));
    json_array_foreach(integrity, i, v) printf("  %s\n", json_string_value(v));
    printf("maildir tmp: %zu files older than 36 hours removed\n", json_array_size(k->swept));
    json_array_foreach(k->swept, i, v) printf("  removed %s\n", json_string_value(v));
    printf("quarantine: %zu files, %zu without a record, %zu records without a file\n", k->files,
           json_array_size(k->orphans), json_array_size(k->missing));
    json_array_foreach(k->orphans, i, v)
    {
        const char *to = str_of(v, "moved_to"), *e = str_of(v, "error");
        printf("  %s: %s (%s): %s%s%s\n", str_of(v, "id"), str_of(v, "file"), str_of(v, "why"),
               str_of(v, "action"),
               to  ? " to "
               : e ? ": "
                   : "",
               to  ? to
               : e ? e
                   : "");
    }
    json_array_foreach(k->missing, i, v)
        printf("  %s: file missing: %s\n", str_of(v, "id"), str_of(v, "action"));
    check_print_counts(k);
    if (k->errors && !k->repair)
        puts("run 'floodctl store check --repair' to fix the quarantine and the queue counts "
             "(nothing is deleted)");
    if (json_array_size(integrity))
        puts("the store is damaged: restore a backup (docs/admin-guide.md)");
}

enum { CHECK_REPAIR };

/* opts_check - the options of store check. */
static struct opt *opts_check(void)
{
    static struct opt opts[] = {{"--repair", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* store_check_cmd - floodctl store check [--repair] */
static int store_check_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    struct check k = {.c = c,
                      .db = db,
                      .repair = o[CHECK_REPAIR].set,
                      .swept = json_array(),
                      .orphans = json_array(),
                      .missing = json_array()};
    json_t *integrity = store_integrity(db, INTEGRITY_MAX);
    const char *state_dir = c->cfg->state_dir;
    int rc = integrity && k.swept && k.orphans && k.missing ? 0 : -1;
    if (rc == 0 && maildir_sweep_tmp(state_dir, time(NULL) - TMP_MAX_AGE, swept, &k) < 0)
        rc = fail("%s/mail: cannot sweep the Maildirs' tmp/: %s", state_dir, strerror(errno));
    if (rc == 0 && quarantine_files_each(state_dir, check_file, &k) != 0)
        rc = fail("cannot check the quarantine (details in the log)");
    if (rc == 0 && check_missing(&k) < 0)
        rc = fail("cannot read the quarantine records (details in the log)");
    if (rc == 0 && check_counts(&k) < 0)
        rc = fail("cannot compare the queue counts (details in the log)");
    if (integrity == NULL && rc == 0)
        rc = fail("cannot run the integrity check (details in the log)");
    if (rc == 0) {
        bool ok = json_array_size(integrity) == 0 && k.errors == 0;
        if (c->json) {
            json_t *report = json_pack(
                "{s:s, s:O, s:O, s:{s:I, s:O, s:O}, s:{s:O, s:s?}, s:b}", "store", c->store_file,
                "integrity", integrity, "maildir_tmp_removed", k.swept, "quarantine", "files",
                (json_int_t)k.files, "orphan_files", k.orphans, "missing_files", k.missing,
                "queue_counts", "differences", k.counts, "action", k.counts_action, "ok", ok);
            rc = report ? print_json(report) : fail("out of memory");
            json_decref(report);
        } else {
            check_print(&k, integrity);
        }
        if (rc == EXIT_OK && !ok)
            rc = EXIT_FAIL;
    }
    json_decref(integrity);
    json_decref(k.swept);
    json_decref(k.orphans);
    json_decref(k.missing);
    json_decref(k.counts);
    return rc;
}

/* --------------------------------------------------------------- backup */

/* Progress of a backup on stderr: only when it lasts, once a second. */
struct progress {
    uint64_t started, shown;
};

static void backup_progress(int done, int total, void *arg)
{
    struct progress *p = arg;
    uint64_t now = now_ms();
    if (now - p->started < 1000 || now - p->shown < 1000 || total <= 0)
        return;
    p->shown = now;
    fprintf(stderr, "floodctl: backup: %d%% (%d of %d pages)\n", (int)(100LL * done / total), done,
            total);
}

/* store_backup_cmd - floodctl store backup FILE */
static int store_backup_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char err[1024];
    /* As root, stay root: FILE is the admin's, wherever the admin wants
     * it; SQLite gives any -wal/-shm it creates to the store's owner. */
    c->stay_root = true;
    if (!ctl_ready(c))
        return EXIT_FAIL;
    if (store_guard(c->cfg->state_dir, STORE_FILE, false, err, sizeof err) != STORE_OK)
        return fail("%s\n%s", *err ? err : "there is no store yet", STORE_WAY_OUT);
    struct progress p = {.started = now_ms()};
    const char *file = a->raw[0];
    if (store_backup(c->store_file, file, backup_progress, &p, err, sizeof err) < 0)
        return fail("%s", err);
    struct stat st;
    long long bytes = stat(file, &st) == 0 ? (long long)st.st_size : -1;
    if (c->json) {
        json_t *r = json_pack("{s:s, s:s, s:I}", "store", c->store_file, "file", file, "bytes",
                              (json_int_t)bytes);
        int rc = r ? print_json(r) : fail("out of memory");
        json_decref(r);
        return rc;
    }
    printf("backup of %s written to %s (%lld bytes, mode 0600)\n", c->store_file, file, bytes);
    return EXIT_OK;
}

/* ----------------------------------------------------------------- init */

enum { INIT_FORCE };

/* opts_init - the options of store init. */
static struct opt *opts_init(void)
{
    static struct opt opts[] = {{"--force", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* store_init_cmd - floodctl store init [--force]: a new, empty store; with
 * --force the old one (lost, broken or not) is moved aside first. */
static int store_init_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char err[1024], moved[4400] = "";
    if (!ctl_ready(c))
        return EXIT_FAIL;
    int running = daemon_running(c);
    if (running != 0)
        return running < 0 ? EXIT_FAIL
                           : fail("floodgated is running on this state dir: stop it first");
    const char *dir = c->cfg->state_dir;
    enum store_guard g = store_guard(dir, STORE_FILE, false, err, sizeof err);
    if (g != STORE_NEW && !o[INIT_FORCE].set)
        return fail("%s%s: not replaced without --force (which moves it aside, never deletes "
                    "it)",
                    g == STORE_REFUSED ? err : c->store_file, g == STORE_REFUSED ? "" : " exists");
    if (g != STORE_NEW &&
        store_set_aside(dir, STORE_FILE, moved, sizeof moved, err, sizeof err) < 0)
        return fail("%s", err);
    if (ctl_store(c) == NULL)
        return EXIT_FAIL;
    log_info("event=store_init admin=%s store=%s moved_to=%s", log_quote(c->admin),
             log_quote(c->store_file), *moved ? log_quote(moved) : "-");
    if (c->json) {
        json_t *r =
            json_pack("{s:s, s:s?}", "store", c->store_file, "moved_to", *moved ? moved : NULL);
        int rc = r ? print_json(r) : fail("out of memory");
        json_decref(r);
        return rc;
    }
    if (*moved)
        printf("moved the old store to %s (with its -wal and -shm, if any)\n", moved);
    printf("new empty store %s\n", c->store_file);
    return EXIT_OK;
}

/* ------------------------------------------------------------- commands */

const struct subcommand store_subs[] = {
    {"check", 0, 0, store_check_cmd, opts_check},
    {"backup", 1, 1, store_backup_cmd, NULL},
    {"init", 0, 0, store_init_cmd, opts_init},
    {NULL, 0, 0, NULL, NULL},
};
