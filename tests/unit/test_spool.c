/* tests/unit/test_spool - the DATA spool keeps the head in memory and the
 * rest in a spill file, and reads back exactly what was written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/spool.h"

static void fill(char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (i * 7 + seed) % 26);
}

static void read_back_equals(const struct spool *sp, const char *want, size_t n)
{
    char *got = malloc(n + 1);
    size_t off = 0;
    long r;
    while ((r = spool_read(sp, off, got + off, 4096)) > 0)
        off += (size_t)r;
    assert_int_equal(r, 0);
    assert_int_equal(off, n);
    assert_memory_equal(got, want, n);
    free(got);
}

static void small_message_stays_in_memory(void **state)
{
    struct spool sp;
    spool_init(&sp, ".");
    assert_int_equal(spool_append(&sp, "Subject: hi\r\n\r\nbody\r\n", 21), 0);
    assert_int_equal(spool_size(&sp), 21);
    assert_int_equal(sp.fd, -1);
    read_back_equals(&sp, "Subject: hi\r\n\r\nbody\r\n", 21);
    spool_free(&sp);
}

static void large_message_spills_to_a_file(void **state)
{
    size_t n = SPOOL_MEM_LIMIT * 3 + 12345;
    char *data = malloc(n);
    fill(data, n, 3);
    struct spool sp;
    spool_init(&sp, ".");
    for (size_t off = 0; off < n; off += 1000)
        assert_int_equal(spool_append(&sp, data + off, n - off < 1000 ? n - off : 1000), 0);
    assert_int_equal(spool_size(&sp), n);
    assert_int_equal(sp.mem_len, SPOOL_MEM_LIMIT);
    assert_true(sp.fd >= 0);
    read_back_equals(&sp, data, n);
    spool_free(&sp);
    free(data);
}

static void reset_reuses_the_spool(void **state)
{
    size_t n = SPOOL_MEM_LIMIT + 10;
    char *data = malloc(n);
    fill(data, n, 9);
    struct spool sp;
    spool_init(&sp, ".");
    assert_int_equal(spool_append(&sp, data, n), 0);
    spool_reset(&sp);
    assert_int_equal(spool_size(&sp), 0);
    assert_int_equal(sp.fd, -1);
    assert_int_equal(spool_append(&sp, "x", 1), 0);
    read_back_equals(&sp, "x", 1);
    spool_free(&sp);
    free(data);
}

/* A copy reads the whole message (head and spill file) after the
 * original is freed: the DKIM verifier's job outlives a session that
 * ends meanwhile. */
static void copy_outlives_the_original(void **state)
{
    size_t n = SPOOL_MEM_LIMIT + 54321;
    char *data = malloc(n);
    fill(data, n, 5);
    struct spool sp, copy;
    spool_init(&sp, ".");
    assert_int_equal(spool_append(&sp, data, n), 0);
    assert_int_equal(spool_copy(&sp, &copy), 0);
    assert_true(copy.fd >= 0 && copy.fd != sp.fd);
    spool_free(&sp);
    read_back_equals(&copy, data, n);
    spool_free(&copy);
    spool_init(&sp, ".");
    assert_int_equal(spool_copy(&sp, &copy), 0); /* an empty one too */
    assert_int_equal(spool_size(&copy), 0);
    spool_free(&copy);
    spool_free(&sp);
    free(data);
}

static void unwritable_directory_marks_failure(void **state)
{
    char *data = calloc(1, SPOOL_MEM_LIMIT + 1);
    struct spool sp;
    spool_init(&sp, "/nonexistent/floodgate-spool");
    assert_int_equal(spool_append(&sp, data, SPOOL_MEM_LIMIT), 0);
    assert_int_equal(spool_append(&sp, data, 1), -1);
    assert_true(sp.failed);
    assert_int_equal(spool_append(&sp, "y", 1), -1);
    spool_free(&sp);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(small_message_stays_in_memory),
        cmocka_unit_test(large_message_spills_to_a_file),
        cmocka_unit_test(reset_reuses_the_spool),
        cmocka_unit_test(copy_outlives_the_original),
        cmocka_unit_test(unwritable_directory_marks_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
