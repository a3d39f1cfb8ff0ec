/* tests/unit/test_auth_results - room: tests.  cmocka tests of
 * core/auth_results: the Authentication-Results fields that claim our
 * authserv-id leave the header with their folded lines; others, the body
 * and a field cut by the end of the buffer stay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/auth_results.h"
#include "core/header_watch.h"

#define ID "mx.example.test"

/* strip - auth_results_strip on a copy of IN; the result, NUL-ended. */
static const char *strip(const char *in)
{
    static char buf[1024];
    size_t n = strlen(in);
    assert_true(n < sizeof buf);
    memcpy(buf, in, n);
    buf[auth_results_strip(buf, n, ID)] = '\0';
    return buf;
}

/* test_ours_removed_others_kept - ours (any case, folded, after a
 * comment) goes; another server's and a look-alike id stay. */
static void test_ours_removed_others_kept(void **state)
{
    (void)state;
    assert_string_equal(strip("Authentication-Results: " ID "; dmarc=pass\r\n"
                              "From: a@b.test\r\n"
                              "authentication-results :(c (nested)) MX.Example.TEST;\r\n"
                              "\tspf=pass\r\n smtp.mailfrom=b.test\r\n"
                              "Authentication-Results: other.test; spf=fail\r\n"
                              "Authentication-Results: " ID ".evil.test; none\r\n"
                              "\r\nbody\r\n"),
                        "From: a@b.test\r\n"
                        "Authentication-Results: other.test; spf=fail\r\n"
                        "Authentication-Results: " ID ".evil.test; none\r\n"
                        "\r\nbody\r\n");
}

/* test_body_untouched - after the empty line nothing is read as a field. */
static void test_body_untouched(void **state)
{
    (void)state;
    const char *msg = "Subject: x\n\nAuthentication-Results: " ID "; none\n";
    assert_string_equal(strip(msg), msg);
}

/* test_cut_field_kept - a field the buffer ends inside is left as is. */
static void test_cut_field_kept(void **state)
{
    (void)state;
    const char *msg = "Subject: x\r\nAuthentication-Results: " ID "; spf=pa";
    assert_string_equal(strip(msg), msg);
    assert_string_equal(strip(""), "");
}

/* test_quoted_id_removed - RFC 8601 2.2: the authserv-id is a "value"
 * (RFC 2045: token / quoted-string), so "mx.example.test" in quotes, with
 * a quoted-pair or not, is our id too; a quoted look-alike stays. */
static void test_quoted_id_removed(void **state)
{
    (void)state;
    assert_string_equal(strip("Authentication-Results: \"" ID "\"; dmarc=pass\r\n"
                              "Authentication-Results: (c) \"mx.exa\\mple.test\" 1; spf=pass\r\n"
                              "Authentication-Results: \"" ID " \"; none\r\n"
                              "Authentication-Results: \"" ID "; none\r\n"
                              "Subject: x\r\n\r\n"),
                        "Authentication-Results: \"" ID " \"; none\r\n"
                        "Authentication-Results: \"" ID "; none\r\n"
                        "Subject: x\r\n\r\n");
}

/* watch - MSG fed to a header watch in runs of STEP octets. */
static struct header_watch *watch(const char *msg, size_t step)
{
    static struct header_watch w;
    size_t len = strlen(msg);
    header_watch_init(&w, ID);
    for (size_t off = 0; off < len; off += step)
        header_watch_feed(&w, msg + off, len - off < step ? len - off : step);
    header_watch_finish(&w);
    return &w;
}

/* test_watch_notes_field_ends - the streaming watch finds the end of the
 * last field claiming our id and of the last From:, however the message
 * is cut into runs, and nothing in the body. */
static void test_watch_notes_field_ends(void **state)
{
    (void)state;
    const char *m = "From: a@b.test\r\n"                                /* ends at 16 */
                    "Authentication-Results: (x)\r\n \"" ID "\"; a\r\n" /* ends at 68 */
                    "Authentication-Results: other.test; b\r\n"
                    "\r\n"
                    "From: c@d.test\r\nAuthentication-Results: " ID "; c\r\n";
    for (size_t step = 1; step < 8; step++) {
        struct header_watch *w = watch(m, step);
        assert_int_equal(w->from_end, 16);
        assert_int_equal(w->forged_end, 68);
    }
    /* no empty line: the last field ends with the message */
    assert_int_equal(watch("X: y\r\nAuthentication-Results: " ID "; d", 3)->forged_end,
                     strlen("X: y\r\nAuthentication-Results: " ID "; d"));
    /* a claiming field too long to read its id counts as claiming */
    char big[HEADER_WATCH_KEEP + 200];
    int n = snprintf(big, sizeof big, "Authentication-Results: (");
    memset(big + n, 'c', sizeof big - (size_t)n - 40);
    snprintf(big + sizeof big - 40, 40, ") other.test; e\r\n\r\n");
    assert_int_equal(watch(big, 100)->forged_end, strlen(big) - 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ours_removed_others_kept), cmocka_unit_test(test_body_untouched),
        cmocka_unit_test(test_cut_field_kept),           cmocka_unit_test(test_quoted_id_removed),
        cmocka_unit_test(test_watch_notes_field_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
