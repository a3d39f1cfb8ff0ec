/* tests/unit/test_store_setup - store_sqlite_setup runs before SQLite's
 * first use whichever store function comes first: here the daemon's own
 * start-up order, store_guard's deep check of an existing store before
 * store_open.  SQLite then keeps no memory statistics (each allocation
 * would take its global mutex): the high-water mark of the memory it
 * counts stays 0.  One test per process: SQLite starts only once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store_check.h"
#include "tmp_store.h"

static void test_a_guarded_existing_store_starts_sqlite_without_statistics(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    snprintf(dir, sizeof dir, "/tmp/fg-setup.XXXXXX");
    assert_non_null(mkdtemp(dir));
    /* an existing store, made by another process: this one has not
     * started SQLite yet */
    store_path(dir, path, sizeof path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *made = store_open(path, err, sizeof err);
        store_close(made);
        _exit(made ? 0 : 1);
    }
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    enum store_guard g = store_guard(dir, STORE_FILE, true, err, sizeof err);
    if (g != STORE_OK)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(g, STORE_OK);
    sqlite3 *db = store_open(path, err, sizeof err);
    assert_non_null(db);
    assert_true(store_sqlite_setup()); /* it came before SQLite started */
    sqlite3_int64 now = -1, peak = -1;
    assert_int_equal(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &now, &peak, 0), SQLITE_OK);
    assert_int_equal(peak, 0);
    store_close(db);
    tmp_store_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_guarded_existing_store_starts_sqlite_without_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
