/* tests/unit/test_queue_counts - store/queue_counts, the queue counted by
 * state as the store keeps it, against a real store in a temporary
 * directory: after a long random mix of the store's own queue writes
 * (acceptance, hold, release, retry, return, quarantine and restore,
 * delivery outcomes, finishing and deleting messages; some transactions
 * rolled back) the kept counts equal a full count of the recipients; a
 * store opened without them gains them; wrong counts are found and
 * counted again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/delivery.h"
#include "store/queue.h"
#include "store/queue_counts.h"
#include "store/queue_query.h"
#include "tmp_store.h"

#define MESSAGES 40 /* queue ids in play */
#define ROUNDS 1500 /* random writes */

struct fixture {
    char dir[64];
    char path[128];
    sqlite3 *db;
    unsigned seed;
    int inserted[MESSAGES]; /* times message i was made */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = tmp_store_open("test_queue_counts", f->dir, sizeof f->dir, f->path, sizeof f->path);
    assert_non_null(f->db);
    /* thousands of small commits: no fsync each (durability is not what
     * this test is about) */
    char err[128];
    assert_int_equal(store_exec(f->db, "PRAGMA synchronous=OFF", err, sizeof err), 0);
    f->seed = 20261207;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->db);
    tmp_store_remove(f->dir);
    free(f);
    return 0;
}

/* qid_of - the queue id of message I (16 hex digits). */
static void qid_of(int i, char qid[17])
{
    snprintf(qid, 17, "%016X", (unsigned)i + 0x06B00000u);
}

/* assert_exact - the kept counts are a full count's. */
static void assert_exact(sqlite3 *db)
{
    json_t *diff = store_queue_counts_check(db);
    assert_non_null(diff);
    if (json_array_size(diff) != 0) {
        char *text = json_dumps(diff, 0);
        fail_msg("kept counts differ from a full count: %s", text);
    }
    json_decref(diff);
}

/* add_message - message QID with 1 to 4 recipients (a local one, remote
 * ones in two domains), held or queued. */
static void add_message(struct fixture *f, const char *qid)
{
    char err[256];
    struct store_message m = {.id = qid,
                              .created = 1765000000,
                              .size = 10,
                              .sender = "a@example.test",
                              .client_ip = "127.0.0.1",
                              .client_port = 25,
                              .listener = "mx"};
    assert_int_equal(store_queue_insert_message(f->db, &m, err, sizeof err), 0);
    int n = 1 + (int)(rand_r(&f->seed) % 4);
    bool held = rand_r(&f->seed) % 5 == 0;
    static const char *const rcpts[] = {"u@example.test", "x@far.test", "y@far.test",
                                        "z@other.test"};
    /* a remote recipient of a suspended destination is stored deferred */
    bool deferred = rand_r(&f->seed) % 5 == 0;
    for (int i = 0; i < n; i++)
        assert_int_equal(store_queue_insert_recipient(
                             f->db, qid, rcpts[i], rcpts[i], i == 0, 1765000000, held,
                             1765000300, deferred && i > 0 ? "delivery to far.test suspended" : NULL,
                             err, sizeof err),
                         0);
}

/* some_recipient - the id of a recipient of QID, or -1 when it has none. */
static int64_t some_recipient(struct fixture *f, const char *qid)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT id FROM recipients WHERE message = ?1"
                                        " ORDER BY id LIMIT 1 OFFSET ?2",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)(rand_r(&f->seed) % 4));
    int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return id;
}

/* exists - is message QID in the store? */
static bool exists(struct fixture *f, const char *qid)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(f->db, "SELECT 1 FROM messages WHERE id = ?1", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    bool there = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return there;
}

/* one_write - a random write of the store's queue functions on QID. */
static void one_write(struct fixture *f, const char *qid)
{
    static const char *const outcomes[] = {"delivered", "deferred", "bounced"};
    char err[256];
    bool quarantined;
    if (!exists(f, qid)) {
        add_message(f, qid);
        return;
    }
    switch (rand_r(&f->seed) % 12) {
    case 0:
        assert_true(store_queue_hold(f->db, qid) >= 0);
        break;
    case 1:
        assert_true(store_queue_release(f->db, qid) >= 0);
        break;
    case 2:
        assert_true(store_queue_retry(f->db, qid) >= 0);
        break;
    case 3:
        assert_true(store_queue_return(f->db, qid, "returned by the test") >= 0);
        break;
    case 4:
        assert_true(store_quarantine_commit(f->db, qid, "test", "counts") >= 0);
        break;
    case 5:
        assert_true(store_quarantine_restore(f->db, qid, "test") >= 0);
        break;
    case 6:
        assert_true(store_message_finish(f->db, qid, &quarantined) >= 0);
        break;
    case 7:
        assert_true(store_queue_delete(f->db, qid) >= 0);
        break;
    default: { /* deliveries are the most common write */
        int64_t id = some_recipient(f, qid);
        if (id >= 0)
            assert_int_equal(store_rcpt_record(f->db, id, outcomes[rand_r(&f->seed) % 3], 1,
                                               1765000100, "test", 1765000100, err, sizeof err),
                             0);
    }
    }
}

/* test_random_writes_keep_the_counts_exact - ROUNDS transactions of one
 * to three writes each, every seventh rolled back, the counts checked
 * after each. */
static void test_random_writes_keep_the_counts_exact(void **state)
{
    struct fixture *f = *state;
    char err[256], qid[17];
    for (int round = 0; round < ROUNDS; round++) {
        assert_int_equal(store_begin(f->db, true, err, sizeof err), 0);
        int writes = 1 + (int)(rand_r(&f->seed) % 3);
        for (int w = 0; w < writes; w++) {
            qid_of((int)(rand_r(&f->seed) % MESSAGES), qid);
            one_write(f, qid);
        }
        if (round % 7 == 6)
            store_rollback(f->db);
        else
            assert_int_equal(store_commit(f->db, err, sizeof err), 0);
        assert_exact(f->db);
    }
    /* the states the mix must have reached, or it proved little */
    json_t *counts = store_queue_counts(f->db);
    assert_non_null(counts);
    assert_true(json_integer_value(json_object_get(counts, "messages")) > 0);
    json_decref(counts);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(f->db, "SELECT count(DISTINCT state) FROM recipients", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(sqlite3_column_int(st, 0) >= 6);
    sqlite3_finalize(st);
}

/* test_a_store_without_counts_gains_them - a store as a build without the
 * counts left it (and changed it) gets them at its next open. */
static void test_a_store_without_counts_gains_them(void **state)
{
    struct fixture *f = *state;
    char err[256], qid[17];
    for (int i = 0; i < 10; i++) {
        qid_of(i, qid);
        add_message(f, qid);
    }
    assert_int_equal(
        store_exec(f->db,
                   "DROP TRIGGER queue_counts_insert; DROP TRIGGER queue_counts_update;"
                   "DROP TRIGGER queue_counts_delete; DROP TABLE queue_counts;"
                   "DELETE FROM meta WHERE key = 'queue_counts';"
                   "UPDATE recipients SET state = 'deferred' WHERE local = 0;",
                   err, sizeof err),
        0);
    store_close(f->db);
    f->db = store_open(f->path, err, sizeof err);
    assert_non_null(f->db);
    assert_exact(f->db);
    json_t *counts = store_queue_counts(f->db);
    assert_int_equal(json_integer_value(json_object_get(counts, "messages")), 10);
    json_decref(counts);
}

/* test_wrong_counts_are_found_and_rebuilt - the check names the state and
 * both figures; a rebuild makes them exact. */
static void test_wrong_counts_are_found_and_rebuilt(void **state)
{
    struct fixture *f = *state;
    char err[256], qid[17];
    for (int i = 0; i < 5; i++) {
        qid_of(i, qid);
        add_message(f, qid);
        assert_true(store_queue_hold(f->db, qid) >= 0);
    }
    assert_int_equal(store_exec(f->db, "UPDATE queue_counts SET messages = 99 WHERE state = 'held'",
                                err, sizeof err),
                     0);
    json_t *diff = store_queue_counts_check(f->db);
    assert_int_equal(json_array_size(diff), 1);
    json_t *d = json_array_get(diff, 0);
    assert_string_equal(json_string_value(json_object_get(d, "state")), "held");
    assert_int_equal(json_integer_value(json_object_get(d, "messages_kept")), 99);
    assert_int_equal(json_integer_value(json_object_get(d, "messages_counted")), 5);
    json_decref(diff);
    assert_true(store_queue_counts_rebuild(f->db, err, sizeof err) > 0);
    assert_exact(f->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_writes_keep_the_counts_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_store_without_counts_gains_them, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_counts_are_found_and_rebuilt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
